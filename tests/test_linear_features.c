// The linear_features model (host/models/model_linear_features.c): the fit and the ref
// denoiser against a direct float64 transcription of the authors' code (gtv-iclr25:
// get_time_funcs' VP schedule, phi_gauss and get_phi_crossed_func_*d, train_phi_denoise
// with an explicit inverse, the denoiser W phi(x_t, t) at the t whose sigma is given,
// found by bisection), on fresh random data, queries and parameters; the fit solves the
// normal equations of the ridge-regularised weighted DSM loss at the paper's 2-D size;
// the limits ridge -> infinity (D -> A phi / ridge) and many draws (the fit approaches the
// empirical denoiser on held-out draws); the model folder round trip; bad parameters,
// folders and command lines refused with one line.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_backend.h"
#include "ds_error.h"
#include "ds_io.h"
#include "ds_philox.h"
#include "linear_features.h"
#include "testutil.h"

#define U64 0x1p-53

// ---- the transcription ----

// get_time_funcs(option='VP'): beta_min = 0.1, beta_d = 19.9.
static double vp_alpha(double t) {
    return exp(-(0.1 * t + (19.9 / 2.) * t * t));
}

// phi_gauss over centres linspace(lo, hi, F) with widths half their spacing (norm.pdf).
static void phi_gauss(double v, double lo, double hi, int64_t f, double *out) {
    double step = (hi - lo) / (double)(f - 1), s = step / 2.;
    for (int64_t k = 0; k < f; k++) {
        double mu = lo + (double)k * step, z = (v - mu) / s;
        out[k] = exp(-z * z / 2.) / (sqrt(2 * M_PI) * s);
    }
}

// get_phi_crossed_func_1d / _2d: the product with the time features last, as numpy's
// reshape of phi_x[:, :, None] * phi_t[:, None, :] (1-D) or
// phi_x[:, :, None, None] * phi_y[:, None, :, None] * phi_t[:, None, None, :] (2-D).
static void phi_crossed(const ds_model *m, const double *xt, double t, double *phi) {
    int64_t f = m->features_per_axis;
    double px[64], py[64], pt[64], r = m->feature_range;
    phi_gauss(xt[0], -r, r, f, px);
    if (m->d == 2) phi_gauss(xt[1], -r, r, f, py);
    phi_gauss(t, m->feature_cutoff, 1.0, f, pt);
    for (int64_t a = 0; a < f; a++)
        for (int64_t b = 0; b < (m->d == 2 ? f : 1); b++)
            for (int64_t c = 0; c < f; c++)
                phi[(m->d == 2 ? a * f + b : a) * f + c] = px[a] * (m->d == 2 ? py[b] : 1) * pt[c];
}

// Draw p of the model's Philox stream, as model_linear_features.c documents it: the row
// from 53 bits of raw outputs 0 and 1 of (seed, p, block 0), the time from outputs 2 and 3,
// the noise from the normals of columns 4 ...
static void draw_of(const ds_model *m, int64_t n, int64_t p, int64_t *row, double *t,
                    double *noise) {
    ds_philox_u4 r = ds_philox_block(m->feature_seed, p, 0);
    double u0 = ((double)(r.v[0] >> 5) * 67108864.0 + (double)(r.v[1] >> 6)) / 9007199254740992.0;
    double u1 = ((double)(r.v[2] >> 5) * 67108864.0 + (double)(r.v[3] >> 6)) / 9007199254740992.0;
    *row = (int64_t)(u0 * (double)n);                        // np.random.randint(0, M)
    *t = m->feature_cutoff + (1.0 - m->feature_cutoff) * u1; // np.random.uniform(eps, T)
    for (int64_t j = 0; j < m->d; j++) noise[j] = ds_philox_normal(m->feature_seed, p, 4 + j);
}

typedef struct {
    int64_t count;
    double *sigma, *a; // Sigma (count x count) and A (d x count), with the 1/P
    double trace;      // of Sigma
    double m_norm;     // |Sigma + ridge I|_F
    double a_abs_norm; // |(1/P) sum_p l_p |x0_p| phi_p^T|_F: the scale of A's rounding
} moments;

// train_phi_denoise's matrices over the model's draws of data (rows x d doubles).
static moments authors_moments(const ds_model *m, const double *data, int64_t n) {
    int64_t d = m->d, count = linear_features_count(d, m->features_per_axis), row;
    moments mo = {count,
                  calloc((size_t)(count * count), sizeof(double)),
                  calloc((size_t)(d * count), sizeof(double)),
                  0,
                  0,
                  0};
    double *phi = malloc(sizeof(double) * (size_t)count), noise[2], xt[2], t;
    double *a_abs = calloc((size_t)(d * count), sizeof(double));
    assert_true(mo.sigma && mo.a && phi && a_abs);
    for (int64_t p = 0; p < m->feature_draws; p++) {
        draw_of(m, n, p, &row, &t, noise);
        double alpha = vp_alpha(t), sig_sq = 1 - alpha * alpha;
        for (int64_t j = 0; j < d; j++) xt[j] = alpha * data[row * d + j] + sqrt(sig_sq) * noise[j];
        // linear_functions_1d.py adds eps_tol = 1e-8 to sig_sq; linear_functions_2d.py not
        double lamb = alpha * alpha / (sig_sq + (d == 1 ? 1e-8 : 0));
        phi_crossed(m, xt, t, phi);
        for (int64_t f = 0; f < count; f++) {
            for (int64_t g = 0; g < count; g++) mo.sigma[f * count + g] += lamb * phi[f] * phi[g];
            for (int64_t j = 0; j < d; j++) {
                mo.a[j * count + f] += data[row * d + j] * lamb * phi[f];
                a_abs[j * count + f] += fabs(data[row * d + j]) * lamb * phi[f];
            }
        }
    }
    for (int64_t e = 0; e < count * count; e++) mo.sigma[e] /= (double)m->feature_draws;
    for (int64_t e = 0; e < d * count; e++) mo.a[e] /= (double)m->feature_draws;
    for (int64_t f = 0; f < count; f++) mo.trace += mo.sigma[f * count + f];
    for (int64_t f = 0; f < count; f++)
        for (int64_t g = 0; g < count; g++) {
            double e = mo.sigma[f * count + g] + (f == g) * m->feature_ridge;
            mo.m_norm += e * e;
        }
    mo.m_norm = sqrt(mo.m_norm);
    for (int64_t e = 0; e < d * count; e++)
        mo.a_abs_norm += a_abs[e] * a_abs[e] / ((double)m->feature_draws * m->feature_draws);
    mo.a_abs_norm = sqrt(mo.a_abs_norm);
    free(phi), free(a_abs);
    return mo;
}

// np.linalg.inv by Gauss-Jordan elimination with partial pivoting (a is destroyed).
static void invert(double *a, int64_t n, double *inv) {
    for (int64_t i = 0; i < n * n; i++) inv[i] = i % (n + 1) == 0;
    for (int64_t c = 0; c < n; c++) {
        int64_t piv = c;
        for (int64_t r = c + 1; r < n; r++)
            if (fabs(a[r * n + c]) > fabs(a[piv * n + c])) piv = r;
        for (int64_t k = 0; k < n; k++) {
            double s = a[c * n + k];
            a[c * n + k] = a[piv * n + k], a[piv * n + k] = s;
            s = inv[c * n + k], inv[c * n + k] = inv[piv * n + k], inv[piv * n + k] = s;
        }
        double diag = a[c * n + c];
        for (int64_t k = 0; k < n; k++) a[c * n + k] /= diag, inv[c * n + k] /= diag;
        for (int64_t r = 0; r < n; r++) {
            double f = a[r * n + c];
            if (r == c || f == 0) continue;
            for (int64_t k = 0; k < n; k++)
                a[r * n + k] -= f * a[c * n + k], inv[r * n + k] -= f * inv[c * n + k];
        }
    }
}

// W = A_phi @ inv(Sig_phi + eps_reg I).
static double *authors_weights(const ds_model *m, const moments *mo) {
    int64_t n = mo->count, d = m->d;
    double *a = malloc(sizeof(double) * (size_t)(n * n)),
           *inv = malloc(sizeof(double) * (size_t)(n * n));
    double *w = calloc((size_t)(d * n), sizeof(double));
    assert_true(a && inv && w);
    memcpy(a, mo->sigma, sizeof(double) * (size_t)(n * n));
    for (int64_t f = 0; f < n; f++) a[f * n + f] += m->feature_ridge;
    invert(a, n, inv);
    for (int64_t j = 0; j < d; j++)
        for (int64_t f = 0; f < n; f++)
            for (int64_t g = 0; g < n; g++) w[j * n + g] += mo->a[j * n + f] * inv[f * n + g];
    free(a), free(inv);
    return w;
}

// The VP time of sigma by bisection on sigma(t) = sqrt(1 - alpha^2) / alpha.
static double time_of_sigma(double sigma) {
    double lo = 0, hi = 2;
    for (int it = 0; it < 200; it++) {
        double mid = (lo + hi) / 2, a = vp_alpha(mid);
        if (sqrt(1 - a * a) / a < sigma)
            lo = mid;
        else
            hi = mid;
    }
    return (lo + hi) / 2;
}

// The authors' denoiser mu_est = W phi(x_t, t) at x_t = alpha(t) x; |phi| into *phi_norm.
static void authors_denoise(const ds_model *m, const double *w, const double *x, double sigma,
                            double *out, double *phi_norm) {
    int64_t count = linear_features_count(m->d, m->features_per_axis);
    double t = time_of_sigma(sigma), alpha = vp_alpha(t), xt[2], sq = 0;
    double *phi = malloc(sizeof(double) * (size_t)count);
    for (int64_t j = 0; j < m->d; j++) xt[j] = alpha * x[j];
    phi_crossed(m, xt, t, phi);
    for (int64_t j = 0; j < m->d; j++) {
        out[j] = 0;
        for (int64_t f = 0; f < count; f++) out[j] += w[j * count + f] * phi[f];
    }
    for (int64_t f = 0; f < count; f++) sq += phi[f] * phi[f];
    *phi_norm = sqrt(sq);
    free(phi);
}

// ---- helpers ----

// n rows of d around the unit circle (2-D) or on [-1, 1] (1-D), fresh doubles.
static ds_data make_data(int64_t n, int64_t d, uint64_t seed, const char *dir) {
    ds_data data = {.n = n, .d = d, .dtype = DS_F64};
    double *x = malloc(sizeof(double) * (size_t)(n * d)), u[64];
    assert_true(x && n <= 64);
    tu_fill_uniform(u, n, seed, 0, 2 * M_PI);
    for (int64_t i = 0; i < n; i++) {
        if (d == 1) x[i] = cos(u[i]);
        if (d == 2) x[2 * i] = cos(u[i]) * 0.9, x[2 * i + 1] = sin(u[i]) * 1.05;
        if (d > 2)
            for (int64_t j = 0; j < d; j++) x[i * d + j] = cos(u[i] + (double)j);
    }
    data.values = x;
    if (dir) {
        int64_t shape[2] = {n, d};
        snprintf(data.path, sizeof data.path, "%s/data.npy", dir);
        assert_int_equal(ds_npy_write_f64(data.path, x, 2, shape, DS_F64), 0);
    }
    return data;
}

static int fit(const ds_data *data, int64_t per_axis, int64_t draws, double cutoff, double ridge,
               uint64_t seed, ds_model *m) {
    ds_fit_opts o;
    ds_fit_opts_default(&o);
    o.features_per_axis = per_axis, o.feature_draws = draws, o.feature_cutoff = cutoff;
    o.feature_ridge = ridge, o.seed = seed;
    return ds_model_fit(data, DS_MODEL_LINEAR_FEATURES, &o, m);
}

static void denoise(const char *backend, const ds_model *m, const double *x, int64_t rows,
                    const double *sigma, double *out) {
    ds_backend *b = ds_backend_new(backend);
    ds_bound_model *bm = b->bind(b, m);
    if (!bm) fail_msg("%s bind: %s", backend, ds_error());
    ds_batch *xb = b->batch_new(b, rows, m->d), *ob = b->batch_new(b, rows, m->d);
    assert_int_equal(b->upload(b, xb, x), 0);
    assert_int_equal(b->denoise(b, bm, xb, sigma, rows, ob, NULL), 0);
    assert_int_equal(b->download(b, ob, out), 0);
    b->batch_free(b, xb), b->batch_free(b, ob);
    b->unbind(b, bm);
    ds_backend_free(b);
}

enum { ROWS = 16 };

// Queries in the data's range and sigmas log-spread over 0.005 .. 20 (VP times from
// 6e-6 to 0.55: below the cutoff, inside the time grid, past half of it).
static void queries(uint64_t seed, int64_t d, double *x, double *sigmas) {
    double u[ROWS];
    tu_fill_uniform(x, ROWS * d, seed, -1.4, 1.4);
    tu_fill_uniform(u, ROWS, seed + 1, log(0.005), log(20.0));
    for (int i = 0; i < ROWS; i++) sigmas[i] = exp(u[i]);
}

// ---- tests ----

// The fit and ref's D against the transcription, for 1-D and 2-D data and fresh
// parameters (u = 2^-53). Each side sums the P terms of an entry in its own order: Sigma's
// are positive (error <= P u |M|, M = Sigma + ridge I), A's signed (error <= P u |A_abs|,
// A_abs the sum of |terms|). Solving (M + E) W = A with a backward error |E| <= 4 F u |M|
// (Cholesky; Gauss-Jordan's inverse on this positive definite M alike), and
// |M^-1|_2 <= 1 / ridge, each W is within (P u |A_abs| + (P + 4 F) u |M| |W|) / ridge of
// the exact one (Frobenius norms bound the 2-norms): twice that between the two.
// D = W phi differs by |dW_j| |phi| per coordinate (Cauchy-Schwarz), plus the dot
// product's rounding (<= F u |W| |phi|) and the ~1e-16 relative difference of the
// bisected t and alpha from the closed form, which moves phi by < 1e-12 relative
// (|x - mu| |x| / s^2 <= 1e3 here).
static void test_ref_matches_the_authors_formulas(void **state) {
    (void)state;
    for (int64_t d = 1; d <= 2; d++) {
        uint64_t seed = tu_seed() + 10 * (uint64_t)d;
        double par[3];
        tu_fill_uniform(par, 3, seed, 0, 1);
        int64_t per_axis = d == 1 ? 5 + (int64_t)(4 * par[0]) : 3 + (int64_t)(2 * par[0]);
        int64_t draws = 100 + (int64_t)(400 * par[1]);
        double cutoff = exp(log(1e-3) + par[2] * (log(0.1) - log(1e-3)));
        ds_data data = make_data(3 + (int64_t)(5 * par[0]), d, seed + 1, NULL);
        ds_model m;
        assert_int_equal(fit(&data, per_axis, draws, cutoff, 0.1, seed % 100003, &m), 0);
        moments mo = authors_moments(&m, data.values, data.n);
        double *w = authors_weights(&m, &mo);
        int64_t count = mo.count;
        double w_norm = 0, err_w = 0;
        for (int64_t e = 0; e < d * count; e++) {
            w_norm += w[e] * w[e];
            err_w += (m.feature_weights[e] - w[e]) * (m.feature_weights[e] - w[e]);
        }
        w_norm = sqrt(w_norm), err_w = sqrt(err_w);
        double tol_w = 2 *
                       ((double)draws * U64 * mo.a_abs_norm +
                        (double)(draws + 4 * count) * U64 * mo.m_norm * w_norm) /
                       m.feature_ridge;
        printf("d = %lld, F = %lld per axis, P = %lld, eps = %.3g: |dW| %.2e (tol %.2e, |W| "
               "%.3g)\n",
               (long long)d, (long long)per_axis, (long long)draws, cutoff, err_w, tol_w, w_norm);
        assert_true(err_w <= tol_w);
        double x[ROWS * 2], sig[ROWS], got[ROWS * 2], want[2], phi_norm, worst = 0;
        queries(seed + 3, d, x, sig);
        denoise("ref", &m, x, ROWS, sig, got);
        for (int i = 0; i < ROWS; i++) {
            authors_denoise(&m, w, x + i * d, sig[i], want, &phi_norm);
            double tol = (tol_w + ((double)count * U64 + 1e-12) * w_norm) * phi_norm;
            for (int64_t j = 0; j < d; j++) {
                worst = fmax(worst, fabs(got[i * d + j] - want[j]) / (tol + 1e-300));
                if (!(fabs(got[i * d + j] - want[j]) <= tol))
                    fail_msg("row %d sigma %g: D %.17g vs the authors' %.17g (tol %.3g)", i, sig[i],
                             got[i * d + j], want[j], tol);
            }
        }
        printf("  D: worst error / tol %.2e over %d queries\n", worst, ROWS);
        free(mo.sigma), free(mo.a), free(w);
        ds_model_free(&m);
        ds_data_free(&data);
    }
}

// At the paper's 2-D size (10 x 10 x 10 = 1,000 features, P = 500, eps = 0.01) the fitted
// W solves the normal equations W (Sigma + ridge I) = A of the ridge-regularised weighted
// DSM loss (1/P) sum_p l_p |W phi_p - x0_p|^2 + ridge |W|^2, Sigma and A from the
// transcription: a backward-stable solve leaves a residual of ~F u |W| |Sigma + ridge I|
// (plus the P u of the two summation orders, times |W| |Sigma|): at most (2 P + 4 F) u
// |W|_F |Sigma + ridge I|_F, and P u |A_abs|_F for A's summation order (see above), times
// 2 for the transcription's own rounding.
static void test_fit_solves_the_normal_equations(void **state) {
    (void)state;
    ds_data data = make_data(4 + (int64_t)(tu_seed() % 5), 2, tu_seed() + 20, NULL);
    ds_model m;
    assert_int_equal(fit(&data, 0, 500, 0.01, 0.1, tu_seed() % 1000, &m), 0);
    assert_int_equal(m.features_per_axis, 10);
    moments mo = authors_moments(&m, data.values, data.n);
    int64_t n = mo.count;
    assert_int_equal(n, 1000);
    double res = 0, w_sq = 0;
    for (int64_t j = 0; j < 2; j++)
        for (int64_t g = 0; g < n; g++) {
            double r = -mo.a[j * n + g];
            for (int64_t f = 0; f < n; f++)
                r += m.feature_weights[j * n + f] *
                     (mo.sigma[f * n + g] + (f == g) * m.feature_ridge);
            res += r * r;
            w_sq += m.feature_weights[j * n + g] * m.feature_weights[j * n + g];
        }
    double tol =
        2 * ((double)(500 + 4 * n) * U64 * sqrt(w_sq) * mo.m_norm + 500 * U64 * mo.a_abs_norm);
    printf("normal equations: |W (Sigma + ridge I) - A| = %.3e (tol %.3e)\n", sqrt(res), tol);
    assert_true(sqrt(res) <= tol);
    free(mo.sigma), free(mo.a);
    ds_model_free(&m);
    ds_data_free(&data);
}

// ridge -> infinity: W = (A / r)(I + Sigma / r)^-1, so |r W - A| <= |A| q / (1 - q) with
// q = |Sigma|_2 / r <= trace Sigma / r; at r = 1e6 trace Sigma, within 2e-6 |A| (and the
// rounding, far below).
static void test_large_ridge_gives_a_phi_over_ridge(void **state) {
    (void)state;
    for (int64_t d = 1; d <= 2; d++) {
        ds_data data = make_data(5, d, tu_seed() + 30 + (uint64_t)d, NULL);
        ds_model probe, m;
        assert_int_equal(fit(&data, d == 1 ? 8 : 4, 300, 0.02, 0.1, 3, &probe), 0);
        moments mo = authors_moments(&probe, data.values, data.n);
        double ridge = 1e6 * mo.trace;
        assert_int_equal(fit(&data, d == 1 ? 8 : 4, 300, 0.02, ridge, 3, &m), 0);
        double *scaled = malloc(sizeof(double) * (size_t)(d * mo.count));
        for (int64_t e = 0; e < d * mo.count; e++) scaled[e] = ridge * m.feature_weights[e];
        double err = tu_rel_l2(scaled, mo.a, d * mo.count);
        printf("d = %lld, ridge %.3g: |ridge W - A| / |A| = %.3e (tol 2e-6)\n", (long long)d, ridge,
               err);
        assert_true(err <= 2e-6);
        free(scaled), free(mo.sigma), free(mo.a);
        ds_model_free(&probe), ds_model_free(&m);
        ds_data_free(&data);
    }
}

// Many draws: with P = 40 F the fit is close to the population fit, and with 1-D features
// 16 x 16 (the paper's) and a small ridge that is close to the empirical denoiser (the exact
// minimiser of the weighted DSM loss). Measured on 2,000 held-out draws of another seed (rows,
// times in [eps, 1], noise), the weighted squared gap (1/Q) sum_q l_q |D - D_empirical|^2 at P = 40
// F is below a fifth of the gap at P = F / 4 (an overfitted fit; measured ratios 0.001 .. 0.1 over
// 20 seeds) and below a tenth of the gap of D = 0.
static void test_many_draws_approach_the_empirical_denoiser(void **state) {
    (void)state;
    ds_data data = make_data(3, 1, tu_seed() + 40, NULL);
    ds_model emp, few, many;
    tu_empirical_model(&emp, data.values, data.n, 1);
    assert_int_equal(fit(&data, 16, 64, 0.01, 1e-3, tu_seed() % 1000, &few), 0);
    assert_int_equal(fit(&data, 16, 10240, 0.01, 1e-3, tu_seed() % 1000 + 1, &many), 0);
    enum { Q = 2000 };
    double *x = malloc(sizeof(double) * Q), *sig = malloc(sizeof(double) * Q);
    double *l = malloc(sizeof(double) * Q), *de = malloc(sizeof(double) * Q);
    double *df = malloc(sizeof(double) * Q), *dm = malloc(sizeof(double) * Q);
    ds_model held = many;
    held.feature_seed = tu_seed() + 999983;
    for (int64_t q = 0; q < Q; q++) {
        int64_t row;
        double t, noise;
        draw_of(&held, data.n, q, &row, &t, &noise);
        double alpha = vp_alpha(t), sig_sq = 1 - alpha * alpha;
        sig[q] = sqrt(sig_sq) / alpha;
        x[q] = ((const double *)data.values)[row] + sig[q] * noise; // x_t / alpha
        l[q] = alpha * alpha / sig_sq;
    }
    denoise("ref", &emp, x, Q, sig, de);
    denoise("ref", &few, x, Q, sig, df);
    denoise("ref", &many, x, Q, sig, dm);
    double gap_few = 0, gap_many = 0, gap_zero = 0;
    for (int64_t q = 0; q < Q; q++) {
        gap_few += l[q] * (df[q] - de[q]) * (df[q] - de[q]) / Q;
        gap_many += l[q] * (dm[q] - de[q]) * (dm[q] - de[q]) / Q;
        gap_zero += l[q] * de[q] * de[q] / Q;
    }
    printf("weighted gap to the empirical denoiser: P = 64: %.3e, P = 10240: %.3e, D = 0: "
           "%.3e\n",
           gap_few, gap_many, gap_zero);
    assert_true(gap_many < gap_few / 5);
    assert_true(gap_many < gap_zero / 10);
    free(x), free(sig), free(l), free(de), free(df), free(dm);
    ds_model_free(&emp), ds_model_free(&few), ds_model_free(&many);
    ds_data_free(&data);
}

static void test_folder_round_trip(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    ds_data data = make_data(6, 2, tu_seed() + 50, dir);
    ds_model m, back;
    assert_int_equal(fit(&data, 6, 200, 0.005, 0.3, 77, &m), 0);
    char folder[DS_PATH_MAX + 32], path[DS_PATH_MAX + 64];
    snprintf(folder, sizeof folder, "%s/lf", dir);
    assert_int_equal(ds_model_save(&m, folder), 0);
    assert_int_equal(ds_model_load(folder, &back), 0);
    assert_int_equal(back.kind, DS_MODEL_LINEAR_FEATURES);
    assert_true(back.features_per_axis == 6 && back.feature_draws == 200 &&
                back.feature_cutoff == 0.005 && back.feature_ridge == 0.3 &&
                back.feature_range == 1.5 && back.feature_seed == 77);
    assert_true(tu_max_abs_diff(m.feature_weights, back.feature_weights, 2 * 216) == 0);
    assert_true(tu_max_abs_diff(m.mean, back.mean, 2) == 0);
    double x[ROWS * 2], sig[ROWS], a[ROWS * 2], b[ROWS * 2];
    queries(tu_seed() + 51, 2, x, sig);
    denoise("ref", &m, x, ROWS, sig, a);
    denoise("cpu", &back, x, ROWS, sig, b);
    // cpu: the float-rounded queries (u = 2^-24 relative) move D by at most |grad D| u |x|;
    // this is only a loose sanity bound (the conformance suite judges cpu on exact queries).
    assert_true(tu_rel_l2(b, a, ROWS * 2) < 1e-4);
    denoise("ref", &back, x, ROWS, sig, b);
    assert_true(tu_max_abs_diff(a, b, ROWS * 2) == 0);
    ds_model_free(&back);
    // A folder without W, or with W of the wrong shape, or a missing parameter, is refused.
    snprintf(path, sizeof path, "%s/linear_weights.npy", folder);
    int64_t shape[2] = {2, 215};
    assert_int_equal(ds_npy_write_f64(path, m.feature_weights, 2, shape, DS_F64), 0);
    assert_int_equal(ds_model_load(folder, &back), -1);
    printf("refused: %s\n", ds_error());
    assert_non_null(strstr(ds_error(), "linear_weights.npy: shape (2, 215)"));
    assert_int_equal(ds_model_save(&m, folder), 0);
    snprintf(path, sizeof path, "%s/model.txt", folder);
    assert_int_equal(tu_system("sed -i '/^feature_ridge/d' '%s'", path), 0);
    assert_int_equal(ds_model_load(folder, &back), -1);
    printf("refused: %s\n", ds_error());
    assert_non_null(strstr(ds_error(), "needs features_per_axis, feature_draws"));
    assert_int_equal(tu_system("sed -i 's/^features_per_axis = 6/features_per_axis = 1/' '%s' && "
                               "echo 'feature_ridge = 0.3' >> '%s'",
                               path, path),
                     0);
    assert_int_equal(ds_model_load(folder, &back), -1);
    printf("refused: %s\n", ds_error());
    assert_non_null(strstr(ds_error(), "1 features per axis"));
    ds_model_free(&m);
    ds_data_free(&data);
}

// Each bad parameter refused with one line naming it; d > 2 refused.
static void test_bad_parameters_refused(void **state) {
    (void)state;
    ds_data d1 = make_data(5, 1, tu_seed() + 60, NULL), d2 = make_data(5, 2, tu_seed() + 61, NULL);
    ds_data d3 = make_data(5, 3, tu_seed() + 62, NULL);
    ds_model m;
    struct {
        const ds_data *data;
        int64_t per_axis, draws;
        double cutoff, ridge;
        const char *says;
    } bad[] = {
        {&d3, 0, 500, 0.01, 0.1, "data of d = 3 (expected d = 1 or 2"},
        {&d1, 1, 500, 0.01, 0.1, "1 features per axis (expected 2 .. 64"},
        {&d1, 65, 500, 0.01, 0.1, "65 features per axis"},
        {&d2, 17, 500, 0.01, 0.1, "17 features per axis (expected 2 .. 64, and F^2 x F <= 4096"},
        {&d2, 0, 0, 0.01, 0.1, "0 draws (expected 1 .. 100000000)"},
        {&d2, 0, 500, 0, 0.1, "time cutoff 0 (expected 0 < eps < T = 1)"},
        {&d2, 0, 500, 1, 0.1, "time cutoff 1 (expected"},
        {&d1, 0, 500, 0.01, 0, "ridge 0 (expected a finite value > 0)"},
        {&d1, 0, 500, 0.01, NAN, "ridge nan"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(
            fit(bad[i].data, bad[i].per_axis, bad[i].draws, bad[i].cutoff, bad[i].ridge, 0, &m),
            -1);
        printf("refused: %s\n", ds_error());
        if (!strstr(ds_error(), bad[i].says) || strchr(ds_error(), '\n'))
            fail_msg("case %zu: '%s' lacks '%s'", i, ds_error(), bad[i].says);
    }
    ds_fit_opts o;
    ds_fit_opts_default(&o);
    o.feature_range = -1;
    assert_int_equal(ds_model_fit(&d1, DS_MODEL_LINEAR_FEATURES, &o, &m), -1);
    assert_non_null(strstr(ds_error(), "feature range -1"));
    ds_data_free(&d1), ds_data_free(&d2), ds_data_free(&d3);
}

// The command line: prepare refuses a bad option (exit 2) and 3-D data (exit 1), and
// writes no folder either way; a good one writes the folder and samples from it.
static void test_prepare_command(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    ds_data d2 = make_data(4, 2, tu_seed() + 70, NULL), d3 = make_data(4, 3, tu_seed() + 71, NULL);
    char p2[DS_PATH_MAX + 16], p3[DS_PATH_MAX + 16];
    snprintf(p2, sizeof p2, "%s/d2.npy", dir), snprintf(p3, sizeof p3, "%s/d3.npy", dir);
    int64_t s2[2] = {4, 2}, s3[2] = {4, 3};
    assert_int_equal(ds_npy_write_f64(p2, d2.values, 2, s2, DS_F64), 0);
    assert_int_equal(ds_npy_write_f64(p3, d3.values, 2, s3, DS_F64), 0);
    const char *bad_opts[] = {"--ridge 0", "--draws 0", "--time-cutoff 1.5",
                              "--features-per-axis 1", "--feature-range 0"};
    for (size_t i = 0; i < sizeof bad_opts / sizeof bad_opts[0]; i++) {
        int rc = tu_system("'%s' prepare --data '%s' --model linear_features %s --out '%s/no' "
                           "2>/dev/null",
                           tu_bin(), p2, bad_opts[i], dir);
        assert_int_equal(rc, 2);
        char no[DS_PATH_MAX + 16];
        snprintf(no, sizeof no, "%s/no", dir);
        assert_false(tu_file_exists(no));
    }
    assert_int_equal(tu_system("'%s' prepare --data '%s' --model linear_features --out '%s/no3' "
                               "2>/dev/null",
                               tu_bin(), p3, dir),
                     1);
    char path[DS_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/no3", dir);
    assert_false(tu_file_exists(path));
    assert_int_equal(tu_system("'%s' prepare --data '%s' --model linear_features --draws 200 "
                               "--features-per-axis 5 --time-cutoff 0.02 --seed 4 --out '%s/lf' "
                               ">/dev/null && '%s' sample --model-dir '%s/lf' --n 64 --backend "
                               "cpu --quiet --out '%s/run' >/dev/null",
                               tu_bin(), p2, dir, tu_bin(), dir, dir),
                     0);
    snprintf(path, sizeof path, "%s/run/samples.npy", dir);
    ds_array a;
    assert_int_equal(ds_npy_read(path, &a), 0);
    assert_true(a.ndim == 2 && a.shape[0] == 64 && a.shape[1] == 2);
    for (int64_t e = 0; e < 128; e++)
        assert_true(isfinite(a.dtype == DS_F64 ? ((double *)a.data)[e] : ((float *)a.data)[e]));
    ds_array_free(&a);
    ds_data_free(&d2), ds_data_free(&d3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_matches_the_authors_formulas),
        cmocka_unit_test(test_fit_solves_the_normal_equations),
        cmocka_unit_test(test_large_ridge_gives_a_phi_over_ridge),
        cmocka_unit_test(test_many_draws_approach_the_empirical_denoiser),
        cmocka_unit_test(test_folder_round_trip),
        cmocka_unit_test(test_bad_parameters_refused),
        cmocka_unit_test(test_prepare_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
