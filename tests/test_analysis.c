// Analysis on cases with known answers: straight trajectories of a one-point data set, a
// right-angle path, memorisation of a two-point set, denoiser differences between
// equal models, Frechet distances of shifted and scaled sets, the GEMM nearest-row path
// against brute force.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ds_analysis.h"
#include "ds_backend.h"
#include "ds_error.h"
#include "ds_solver.h"
#include "testutil.h"

// ---- helpers ----

// A Gaussian (kind GAUSSIAN, or GMM with one component) with full-rank random covariance.
static void gaussian_model(ds_model *m, ds_model_kind kind, const double *mean, int64_t d,
                           uint64_t seed) {
    memset(m, 0, sizeof *m);
    m->kind = kind;
    m->d = d;
    m->k = 1;
    m->r = d;
    m->mean = malloc(sizeof(double) * (size_t)d);
    m->means = malloc(sizeof(double) * (size_t)d);
    memcpy(m->mean, mean, sizeof(double) * (size_t)d);
    memcpy(m->means, mean, sizeof(double) * (size_t)d);
    m->weights = malloc(sizeof(double));
    m->weights[0] = 1.0;
    m->residual = calloc(1, sizeof(double));
    m->eigvals = malloc(sizeof(double) * (size_t)d);
    tu_fill_uniform(m->eigvals, d, seed, 0.2, 2.0);
    m->eigvecs = malloc(sizeof(double) * (size_t)(d * d));
    tu_orthonormal_columns(m->eigvecs, d, d, seed + 1);
}

typedef struct {
    ds_backend *b;
    int64_t rows, d, n_points, n_denoised;
    double *x, *denoised;
} recorder;

static int record_step(void *user, int i, double sigma, const ds_batch *x,
                       const ds_batch *denoised) {
    (void)sigma;
    recorder *r = user;
    DS_TRY(r->b->download(r->b, x, r->x + (int64_t)i * r->rows * r->d));
    if (denoised) DS_TRY(r->b->download(r->b, denoised, r->denoised + (int64_t)i * r->rows * r->d));
    if (i + 1 > r->n_points) r->n_points = i + 1;
    if (denoised && i + 1 > r->n_denoised) r->n_denoised = i + 1;
    return 0;
}

// Sigmas 80 .. 0.002 geometric (n - 1 points), then 0.
static void schedule_to_zero(double *sigmas, int n) {
    ds_log_grid(0.002, 80.0, n - 1, sigmas);
    for (int i = 0; i < (n - 1) / 2; i++) {
        double t = sigmas[i];
        sigmas[i] = sigmas[n - 2 - i];
        sigmas[n - 2 - i] = t;
    }
    sigmas[n - 1] = 0.0;
}

// Runs a solver on the model from sigma_max * noise (rows x d) on the ref backend,
// recording the trajectory.
static void run_recorded(const ds_model *m, const char *solver, int64_t rows, const double *sigmas,
                         int n_sigmas, uint64_t seed, recorder *r) {
    int64_t d = m->d;
    ds_backend *b = ds_backend_ref_new();
    ds_bound_model *bm = b->bind(b, m);
    *r = (recorder){b,
                    rows,
                    d,
                    0,
                    0,
                    malloc(sizeof(double) * n_sigmas * rows * d),
                    malloc(sizeof(double) * n_sigmas * rows * d)};
    ds_batch *x = b->batch_new(b, rows, d);
    assert_int_equal(b->randn(b, x, seed, 0), 0);
    const double coef[1] = {sigmas[0]};
    const ds_batch *in[1] = {x};
    assert_int_equal(b->lincomb(b, x, 1, coef, in), 0);
    ds_solver_opts o;
    ds_solver_opts_default(&o);
    o.solver = solver;
    ds_solver_ctx ctx = {.b = b, .model = bm, .on_step = record_step, .user = r};
    assert_int_equal(ds_solve(&ctx, &o, sigmas, n_sigmas, x), 0);
    assert_int_equal(r->n_points, n_sigmas);
    b->batch_free(b, x);
    b->unbind(b, bm);
    ds_backend_free(b);
}

// ---- trajectory geometry ----

// One training point y: D(x; sigma) = y for every x and sigma, so every trajectory is
// the straight line x(sigma) = y + sigma / sigma_max (x_0 - y). Tolerances: the points
// are float64 linear combinations, exact to ~1e-16 relative to |x_0| ~ 80 sqrt(d).
static void test_one_point_straight(void **state) {
    (void)state;
    uint64_t seed = tu_seed();
    const int64_t d = 12, rows = 5;
    const int n = 19;
    double y[12], sigmas[19];
    tu_fill_normal(y, d, seed);
    ds_model m;
    tu_empirical_model(&m, y, 1, d);
    schedule_to_zero(sigmas, n);
    recorder r;
    run_recorded(&m, "heun", rows, sigmas, n, seed + 7, &r);
    assert_int_equal(r.n_denoised, n - 1);
    ds_traj_view t = {n, rows, d, r.n_denoised, r.x, r.denoised};
    ds_traj_geometry g;
    assert_int_equal(ds_traj_geometry_compute(&t, &g), 0);
    for (int64_t i = 0; i < rows; i++) {
        for (int s = 0; s < n; s++) {
            assert_true(g.deviation[i * n + s] < 1e-12);
            // |x_s - y| = sigma_s / sigma_0 |x_0 - y|.
            double want = sigmas[s] / sigmas[0] * g.dist_x[i * n];
            assert_true(fabs(g.dist_x[i * n + s] - want) <= 1e-12 * g.dist_x[i * n]);
        }
        for (int s = 0; s < n - 1; s++) assert_true(g.dist_denoised[i * (n - 1) + s] < 1e-6);
        for (int s = 0; s < n - 2; s++) assert_true(g.angle[i * (n - 2) + s] < 1e-8);
        assert_true(g.pca_frac[i * 3] > 1.0 - 1e-12);
        assert_true(fabs(g.pca_frac[i * 3 + 2] - 1.0) < 1e-12);
    }
    ds_traj_geometry_free(&g);
    free(r.x);
    free(r.denoised);
    ds_model_free(&m);
}

// The path (0,0) -> (1,0) -> (1,1), scaled, rotated into R^7 and shifted: deviation of
// the corner 1/2, a 90-degree angle, and variance fractions 3/4 and 1 (the centred
// points have Gram eigenvalues 1 and 1/3 times the squared scale).
static void test_right_angle_path(void **state) {
    (void)state;
    uint64_t seed = tu_seed() + 11;
    const int64_t d = 7;
    double u[7 * 2], shift[7], scale = 3.5, x[3 * 7];
    const double path[3][2] = {{0, 0}, {1, 0}, {1, 1}};
    tu_orthonormal_columns(u, d, 2, seed);
    tu_fill_normal(shift, d, seed + 1);
    for (int s = 0; s < 3; s++)
        for (int64_t j = 0; j < d; j++)
            x[s * d + j] = shift[j] + scale * (path[s][0] * u[j * 2] + path[s][1] * u[j * 2 + 1]);
    ds_traj_view t = {3, 1, d, 3, x, x};
    ds_traj_geometry g;
    assert_int_equal(ds_traj_geometry_compute(&t, &g), 0);
    assert_true(fabs(g.deviation[0]) < 1e-12 && fabs(g.deviation[2]) < 1e-12);
    assert_true(fabs(g.deviation[1] - 0.5) < 1e-12);
    assert_true(fabs(g.angle[0] - 90.0) < 1e-10);
    assert_true(fabs(g.pca_frac[0] - 0.75) < 1e-12);
    assert_true(fabs(g.pca_frac[1] - 1.0) < 1e-12);
    assert_true(fabs(g.dist_x[1] - scale) < 1e-12 * scale);
    assert_true(fabs(g.dist_x[0] - scale * sqrt(2.0)) < 1e-12 * scale);
    ds_traj_geometry_free(&g);
    // Bad shapes are refused with a message.
    ds_traj_view bad = {3, 1, d, 1, x, x};
    assert_int_equal(ds_traj_geometry_compute(&bad, &g), -1);
    assert_non_null(strstr(ds_error(), "denoised points"));
}

// A sample that never moves (the same random point, far from 0, at all 9 points) has
// no chord and no variance: deviation and PCA fractions NaN, not "straight" (0) and
// "one-dimensional" (1). The point's 9-fold mean is not exact in floating point, so
// this also checks that the rounding left by centring is not taken for variance.
static void test_still_sample(void **state) {
    (void)state;
    enum { S = 9, d = 5 };
    double x[S * d];
    tu_fill_normal(x, d, tu_seed() + 13);
    for (int j = 0; j < d; j++) x[j] = 1e3 * x[j] + 0.1;
    for (int s = 1; s < S; s++) memcpy(x + s * d, x, sizeof(double) * d);
    ds_traj_view t = {S, 1, d, S, x, x};
    ds_traj_geometry g;
    assert_int_equal(ds_traj_geometry_compute(&t, &g), 0);
    for (int s = 0; s < S; s++) assert_true(isnan(g.deviation[s]) && g.dist_x[s] == 0);
    for (int s = 0; s < S - 2; s++) assert_true(isnan(g.angle[s]));
    for (int k = 0; k < 3; k++) assert_true(isnan(g.pca_frac[k]));
    ds_traj_geometry_free(&g);
}

// ---- memorisation ----

// Two training points far apart; at the end of a run to sigma = 0 the empirical
// denoiser returns one of them (the other's weight is exp(-|y1 - y2|^2 / 8e-6) ~ 0), so
// every sample is memorised: d1 ~ 0 and the fraction is exactly 1.
static void test_two_point_memorized(void **state) {
    (void)state;
    uint64_t seed = tu_seed() + 21;
    const int64_t d = 6, rows = 16;
    const int n = 19;
    double y[12], sigmas[19];
    tu_fill_normal(y, 2 * d, seed);
    for (int64_t j = 0; j < d; j++) y[d + j] += 3.0; // |y1 - y2| >= ~6
    ds_model m;
    tu_empirical_model(&m, y, 2, d);
    schedule_to_zero(sigmas, n);
    recorder r;
    run_recorded(&m, "euler", rows, sigmas, n, seed + 3, &r);
    const double *final = r.x + (int64_t)(n - 1) * rows * d;
    ds_memorization mem;
    assert_int_equal(ds_memorization_compute(&m.data, final, rows, &mem), 0);
    assert_true(mem.fraction == 1.0);
    for (int64_t i = 0; i < rows; i++) {
        assert_true(mem.d1[i] < 1e-6); // the float32 copy of the row vs the double sample
        assert_true(mem.ratio[i] < 1e-5);
    }
    ds_memorization_free(&mem);
    free(r.x);
    free(r.denoised);
    ds_model_free(&m);
}

// The chunked GEMM path against brute force on random data, with more training rows
// than one chunk and more queries than one block. Half of the queries lie near a
// training row. Distances are recomputed directly, so they agree to rounding (1e-12).
static void test_nearest2_vs_brute_force(void **state) {
    (void)state;
    uint64_t seed = tu_seed() + 31;
    const int64_t n = 5000, d = 20, b = 300;
    double *y = malloc(sizeof(double) * n * d), *x = malloc(sizeof(double) * b * d);
    tu_fill_normal(y, n * d, seed);
    tu_fill_normal(x, b * d, seed + 1);
    ds_model m;
    tu_empirical_model(&m, y, n, d);
    for (int64_t q = 0; q < b; q += 2)
        for (int64_t j = 0; j < d; j++)
            x[q * d + j] = ds_data_value(&m.data, q * 13, j) + 1e-3 * x[q * d + j];
    int64_t *idx = malloc(sizeof(int64_t) * b);
    double *d1 = malloc(sizeof(double) * b), *d2 = malloc(sizeof(double) * b);
    assert_int_equal(ds_nearest2(&m.data, x, b, idx, d1, d2), 0);
    double keep = x[7 * d + 3];
    x[7 * d + 3] = INFINITY;
    assert_int_equal(ds_nearest2(&m.data, x, b, idx, d1, d2), -1);
    assert_non_null(strstr(ds_error(), "sample 7 holds NaN or Inf"));
    x[7 * d + 3] = keep;
    assert_int_equal(ds_nearest2(&m.data, x, b, idx, d1, d2), 0);
    for (int64_t q = 0; q < b; q++) {
        double best = INFINITY, second = INFINITY;
        int64_t arg = -1;
        for (int64_t i = 0; i < n; i++) {
            double s = 0;
            for (int64_t j = 0; j < d; j++) {
                double e = ds_data_value(&m.data, i, j) - x[q * d + j];
                s += e * e;
            }
            s = sqrt(s);
            if (s < best)
                second = best, best = s, arg = i;
            else if (s < second)
                second = s;
        }
        assert_int_equal(idx[q], arg);
        assert_true(fabs(d1[q] - best) <= 1e-12 * best);
        assert_true(fabs(d2[q] - second) <= 1e-12 * second);
        if (q % 2 == 0) assert_int_equal(idx[q], q * 13);
    }
    free(idx);
    free(d1);
    free(d2);
    free(x);
    free(y);
    ds_model_free(&m);
}

// ---- denoiser comparison ----

// A Gaussian against itself and against a GMM with K = 1 holding the same component:
// the ref backend computes the same numbers, so the difference is exactly 0 and the
// explained variance exactly 1. A Gaussian with its mean moved by delta differs by
// (I - A) delta, A = Sigma (Sigma + sigma^2 I)^-1: at sigma = 1e8 that is delta to ~1e-16
// and D -> mu to ~lam sqrt(d) / sigma ~ 1e-8, so rel_diff = |delta| / |mu| within 1e-6.
static void test_denoiser_diff_gaussian(void **state) {
    (void)state;
    uint64_t seed = tu_seed() + 41;
    const int64_t d = 9, n = 40;
    const int ns = 6;
    double mean[9], moved[9], delta[9], sigmas[6], y[40 * 9];
    tu_fill_normal(mean, d, seed);
    tu_fill_normal(delta, d, seed + 1);
    for (int64_t j = 0; j < d; j++) moved[j] = mean[j] + 0.3 * delta[j];
    tu_fill_normal(y, n * d, seed + 2);
    ds_log_grid(0.002, 80.0, ns, sigmas);
    ds_model g, gmm, far;
    gaussian_model(&g, DS_MODEL_GAUSSIAN, mean, d, seed + 3);
    gaussian_model(&gmm, DS_MODEL_GMM, mean, d, seed + 3);
    gaussian_model(&far, DS_MODEL_GAUSSIAN, moved, d, seed + 3);
    ds_backend *b = ds_backend_ref_new();
    ds_bound_model *bg = b->bind(b, &g), *bgmm = b->bind(b, &gmm), *bfar = b->bind(b, &far);
    ds_bound_model *models[4] = {bg, bg, bgmm, bfar};
    double diff[3 * 6], ev[3 * 6];
    assert_int_equal(ds_denoiser_diff(b, models, 4, y, n, d, sigmas, ns, seed, diff, ev), 0);
    for (int s = 0; s < 2 * ns; s++) assert_true(diff[s] == 0.0 && ev[s] == 1.0);
    // The moved Gaussian differs at every sigma (the measure is not stuck at 0).
    for (int s = 2 * ns; s < 3 * ns; s++) assert_true(diff[s] > 0 && ev[s] < 1);
    double huge = 1e8, mu2 = 0, dl2 = 0;
    ds_bound_model *pair[2] = {bg, bfar};
    assert_int_equal(ds_denoiser_diff(b, pair, 2, y, n, d, &huge, 1, seed, diff, NULL), 0);
    for (int64_t j = 0; j < d; j++) mu2 += mean[j] * mean[j], dl2 += 0.09 * delta[j] * delta[j];
    assert_true(fabs(diff[0] - sqrt(dl2 / mu2)) <= 1e-6 * sqrt(dl2 / mu2));
    b->unbind(b, bg);
    b->unbind(b, bgmm);
    b->unbind(b, bfar);
    ds_backend_free(b);
    ds_model_free(&g);
    ds_model_free(&gmm);
    ds_model_free(&far);
}

// rel_diff = c / sigma^2 is a straight line in log-log, so the interpolated crossover is
// exactly sqrt(c / threshold).
static void test_crossover(void **state) {
    (void)state;
    double u, sigmas[25], rel[25];
    tu_fill_uniform(&u, 1, tu_seed() + 51, 0.01, 10.0);
    ds_log_grid(0.002, 80.0, 25, sigmas);
    for (int i = 0; i < 25; i++) rel[i] = u / (sigmas[i] * sigmas[i]);
    double want = sqrt(u / 0.1), got = ds_crossover_sigma(sigmas, rel, 25, 0.1);
    assert_true(fabs(got - want) <= 1e-12 * want);
    assert_true(isnan(ds_crossover_sigma(sigmas, rel, 25, 1e12)));
    assert_true(ds_crossover_sigma(sigmas, rel, 25, 1e-12) == 80.0);
}

// ---- PCA-Frechet distance ----

// A set against itself: 0 to rounding (1e-10 of the trace). Shifted by s inside the
// PCA space: |s|^2. Shifted orthogonally to it: 0. Scaled by c about its mean, with
// covariance S: (1 - c)^2 tr S exactly.
static void test_frechet_closed_forms(void **state) {
    (void)state;
    uint64_t seed = tu_seed() + 61;
    const int64_t n = 600, d = 8, k = 3, m = 400;
    double *train = malloc(sizeof(double) * n * d), *a = malloc(sizeof(double) * m * d);
    double *b = malloc(sizeof(double) * m * d), lam[8];
    tu_fill_normal(train, n * d, seed);
    for (int64_t j = 0; j < d; j++) lam[j] = j < k ? 10.0 + 3.0 * (double)(k - j) : 0.5;
    for (int64_t i = 0; i < n * d; i++) train[i] *= sqrt(lam[i % d]);
    ds_model tm;
    tu_empirical_model(&tm, train, n, d);
    ds_pca p;
    assert_int_equal(ds_pca_fit(&tm.data, k, &p), 0);
    tu_fill_normal(a, m * d, seed + 1);
    for (int64_t i = 0; i < m * d; i++) a[i] = a[i] * sqrt(lam[i % d]) + 0.1;
    double *z = malloc(sizeof(double) * m * k), zmean[3] = {0}, trace = 0, fd;
    assert_int_equal(ds_pca_project(&p, a, m, z), 0);
    for (int64_t i = 0; i < m; i++)
        for (int64_t c = 0; c < k; c++) zmean[c] += z[i * k + c] / (double)m;
    for (int64_t i = 0; i < m; i++)
        for (int64_t c = 0; c < k; c++)
            trace += (z[i * k + c] - zmean[c]) * (z[i * k + c] - zmean[c]) / (double)(m - 1);
    assert_int_equal(ds_pca_frechet(&p, a, m, a, m, &fd), 0);
    assert_true(fabs(fd) <= 1e-10 * trace);
    double shift[3];
    tu_fill_normal(shift, k, seed + 2);
    double prev = 0;
    for (int step = 1; step <= 3; step++) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < d; j++) {
                b[i * d + j] = a[i * d + j];
                for (int64_t c = 0; c < k; c++)
                    b[i * d + j] += step * shift[c] * p.basis[j * k + c];
            }
        double s2 = 0;
        for (int64_t c = 0; c < k; c++) s2 += step * step * shift[c] * shift[c];
        assert_int_equal(ds_pca_frechet(&p, a, m, b, m, &fd), 0);
        assert_true(fabs(fd - s2) <= 1e-9 * (s2 + trace));
        assert_true(fd > prev);
        prev = fd;
    }
    // A shift orthogonal to the top-k space: project it out of a random vector.
    double v[8];
    tu_fill_normal(v, d, seed + 3);
    for (int64_t c = 0; c < k; c++) {
        double dot = 0;
        for (int64_t j = 0; j < d; j++) dot += v[j] * p.basis[j * k + c];
        for (int64_t j = 0; j < d; j++) v[j] -= dot * p.basis[j * k + c];
    }
    for (int64_t i = 0; i < m * d; i++) b[i] = a[i] + 5.0 * v[i % d];
    assert_int_equal(ds_pca_frechet(&p, a, m, b, m, &fd), 0);
    assert_true(fabs(fd) <= 1e-9 * trace);
    // Scaled by c about its mean (in the projected space).
    const double c = 1.7;
    double *zb = malloc(sizeof(double) * m * k);
    for (int64_t i = 0; i < m * k; i++) zb[i] = zmean[i % k] + c * (z[i] - zmean[i % k]);
    assert_int_equal(ds_frechet(z, m, zb, m, k, &fd), 0);
    assert_true(fabs(fd - (1 - c) * (1 - c) * trace) <= 1e-9 * trace);
    // A diverged sample is refused with a message, not folded into the distance.
    a[5 * d + 2] = NAN;
    assert_int_equal(ds_pca_frechet(&p, b, m, a, m, &fd), -1);
    assert_non_null(strstr(ds_error(), "row 5 holds NaN"));
    ds_pca_free(&p);
    ds_model_free(&tm);
    // Training rows that are all equal have no principal directions: refused.
    for (int64_t i = 1; i < n; i++) memcpy(train + i * d, train, sizeof(double) * d);
    tu_empirical_model(&tm, train, n, d);
    assert_int_equal(ds_pca_fit(&tm.data, k, &p), -1);
    assert_non_null(strstr(ds_error(), "rows are equal"));
    ds_model_free(&tm);
    free(z);
    free(zb);
    free(train);
    free(a);
    free(b);
}

// ---- statistics ----

static void test_stats(void **state) {
    (void)state;
    double v[103];
    uint64_t s = tu_seed() + 71;
    for (int i = 0; i <= 100; i++) v[i] = i;
    for (int i = 100; i > 0; i--) { // Fisher-Yates with the test seed
        double u;
        tu_fill_uniform(&u, 1, s + (uint64_t)i, 0, 1);
        int j = (int)(u * (i + 1));
        double t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
    v[101] = NAN;
    v[102] = NAN;
    ds_stats st;
    assert_int_equal(ds_stats_of(v, 103, &st), 0);
    assert_int_equal(st.n, 101);
    assert_int_equal(st.n_nan, 2);
    assert_true(st.mean == 50 && st.min == 0 && st.max == 100);
    assert_true(st.q05 == 5 && st.q25 == 25 && st.q50 == 50 && st.q75 == 75 && st.q95 == 95);
    double ref[4] = {1, 2, 3, 4}, x[4] = {1, 2, 3, 5}, err[2];
    ds_rel_error_rows(x, ref, 2, 2, err);
    assert_true(err[0] == 0 && fabs(err[1] - 1.0 / 5.0) < 1e-15);
}

// Class histograms of a 6-row labelled set, worked by hand: classes 0, 2, 2, 1, 0, 2
// (frequencies 2/6, 1/6, 3/6); samples nearest to rows 2, 2, 5, 0 give counts 1, 0, 3,
// and TV = (|1/4 - 1/3| + |0 - 1/6| + |3/4 - 1/2|) / 2 = (1/12 + 2/12 + 3/12) / 2 = 1/4.
// Then random labels and rows against the direct sum, and the refusals.
static void test_class_histogram(void **state) {
    (void)state;
    int32_t labels[6] = {0, 2, 2, 1, 0, 2};
    ds_data train = {.n = 6, .d = 1, .labels = labels};
    int64_t k, train_counts[3], counts[3], nearest[4] = {2, 2, 5, 0};
    assert_int_equal(ds_class_count(&train, &k), 0);
    assert_int_equal(k, 3);
    ds_class_histogram(&train, NULL, 6, k, train_counts);
    assert_true(train_counts[0] == 2 && train_counts[1] == 1 && train_counts[2] == 3);
    ds_class_histogram(&train, nearest, 4, k, counts);
    assert_true(counts[0] == 1 && counts[1] == 0 && counts[2] == 3);
    assert_true(fabs(ds_histogram_tv(counts, train_counts, k) - 0.25) < 1e-15);
    assert_true(ds_histogram_tv(counts, counts, k) == 0);
    int64_t empty[3] = {0, 0, 0};
    assert_true(isnan(ds_histogram_tv(empty, counts, k)));

    enum { N = 200, M = 57, K = 7 };
    int32_t rl[N];
    int64_t rows[M], a[K], b[K];
    double u[N + M];
    tu_fill_uniform(u, N + M, tu_seed() + 13, 0, 1);
    for (int i = 0; i < N; i++) rl[i] = (int32_t)(u[i] * K);
    for (int i = 0; i < M; i++) rows[i] = (int64_t)(u[N + i] * N);
    ds_data rt = {.n = N, .d = 1, .labels = rl};
    int64_t rk;
    assert_int_equal(ds_class_count(&rt, &rk), 0);
    ds_class_histogram(&rt, NULL, N, rk, a);
    ds_class_histogram(&rt, rows, M, rk, b);
    double tv = 0;
    for (int c = 0; c < rk; c++) {
        int64_t na = 0, nb = 0;
        for (int i = 0; i < N; i++) na += rl[i] == c;
        for (int i = 0; i < M; i++) nb += rl[rows[i]] == c;
        assert_true(a[c] == na && b[c] == nb);
        tv += fabs((double)nb / M - (double)na / N);
    }
    // Sums of at most 2 K terms of size <= 1: the two orders differ by a few ulp.
    assert_true(fabs(ds_histogram_tv(b, a, rk) - 0.5 * tv) < 1e-14);

    labels[3] = -1;
    assert_int_equal(ds_class_count(&train, &k), -1);
    train.labels = NULL;
    assert_int_equal(ds_class_count(&train, &k), -1);
    assert_non_null(strstr(ds_error(), "no class labels"));
}

// A table written as CSV: plain cells as they are, cells with commas or quotes quoted.
static void test_table_csv(void **state) {
    (void)state;
    char path[600], text[256] = {0};
    snprintf(path, sizeof path, "%s/t.csv", tu_tmpdir());
    ds_table t;
    ds_table_init(&t, "name,value");
    ds_table_add(&t, "%s", "a,b");
    ds_table_add(&t, "%.3g", 1.5);
    ds_table_add(&t, "%s", "say \"hi\"");
    ds_table_add(&t, "%d", 7);
    assert_int_equal(ds_table_write_csv(&t, path), 0);
    ds_table_free(&t);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t got = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    assert_true(got > 0);
    assert_string_equal(text, "name,value\n\"a,b\",1.5\n\"say \"\"hi\"\"\",7\n");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_point_straight),
        cmocka_unit_test(test_right_angle_path),
        cmocka_unit_test(test_still_sample),
        cmocka_unit_test(test_two_point_memorized),
        cmocka_unit_test(test_nearest2_vs_brute_force),
        cmocka_unit_test(test_denoiser_diff_gaussian),
        cmocka_unit_test(test_crossover),
        cmocka_unit_test(test_frechet_closed_forms),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_class_histogram),
        cmocka_unit_test(test_table_csv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
