// The cpu backend (float32, SGEMM) against the float64 ref backend on fresh random
// models and queries: every model at sigma from 0.002 to 80, per-row sigmas, the
// empirical diagnostics, chunking, the Gaussian flow, lincomb and randn, and a
// Fashion-MNIST subset.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_backend.h"
#include "ds_error.h"
#include "testutil.h"

static const double sigmas[] = {0.002, 0.01, 0.1, 0.5, 1, 2, 5, 20, 80};
#define N_SIGMAS ((int)(sizeof sigmas / sizeof sigmas[0]))

// Tolerances (relative L2 error of D against ref). float32 rounds the stored rows,
// the queries and the output by u = 6e-8 relative each, so a few u (~2e-7) is the
// floor. The SGEMM products x.y carry an absolute error up to ~16 u |x||y| (measured
// <= 8 u on Fashion-MNIST), i.e. up to that over sigma^2 in a logit: 25 at sigma =
// 0.002. The cpu backend recomputes in double the logits within 12 of each row's
// maximum, so what is left is the float logits of rows that are either negligible
// (weight < 6e-6) or part of a broad softmax (> 1/32 of a chunk within 12 logits),
// where each error is below ~1e-5 and independent errors average out. Measured over
// repeated runs: <= 1.1e-6 on the random models below, <= 5e-7 on Fashion-MNIST, so
// 5e-6 for the empirical model. Gaussian: a linear map, measured <= 2e-7: 2e-6.
// Mixture: the component posterior turns the float32 error of the quadratic forms
// (~u d at sigma = 80) into weight errors, measured <= 9e-7: 5e-6.
#define TOL_EMPIRICAL 5e-6
#define TOL_GAUSSIAN 2e-6
#define TOL_GMM 5e-6

static uint64_t seed_for(uint64_t salt) {
    return tu_seed() * 0x9E3779B97F4A7C15ull + salt;
}

static double *random_matrix(int64_t n, int64_t d, uint64_t salt) {
    double *x = malloc(sizeof(double) * (size_t)(n * d));
    tu_fill_normal(x, n * d, seed_for(salt));
    return x;
}

// An empirical model on n random rows: a few clusters with per-row jitter, so that
// training rows have close neighbours and the softmax is spread at moderate sigma.
static void make_empirical(ds_model *m, int64_t n, int64_t d, uint64_t salt) {
    double *centres = random_matrix(8, d, salt), *x = random_matrix(n, d, salt + 1);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++)
            x[i * d + j] = 0.5 + 0.8 * centres[(i % 8) * d + j] + 0.3 * x[i * d + j];
    tu_empirical_model(m, x, n, d);
    free(centres);
    free(x);
}

// A mixture of k components of rank r in dimension d with random means, bases,
// log-uniform spectra in [1e-3, 4] and weights; residual in [1e-3, 0.1] when r < d.
static void make_gmm(ds_model *m, int64_t k, int64_t d, int64_t r, uint64_t salt) {
    memset(m, 0, sizeof *m);
    m->kind = k == 1 ? DS_MODEL_GAUSSIAN : DS_MODEL_GMM;
    m->d = d, m->k = k, m->r = r;
    m->weights = malloc(sizeof(double) * (size_t)k);
    m->means = random_matrix(k, d, salt);
    m->eigvals = malloc(sizeof(double) * (size_t)(k * r));
    m->eigvecs = malloc(sizeof(double) * (size_t)(k * d * r));
    m->residual = malloc(sizeof(double) * (size_t)k);
    m->mean = calloc((size_t)d, sizeof(double));
    double u[3];
    double total = 0;
    for (int64_t c = 0; c < k; c++) {
        tu_orthonormal_columns(m->eigvecs + c * d * r, d, r, seed_for(salt + 10 + (uint64_t)c));
        tu_fill_uniform(m->eigvals + c * r, r, seed_for(salt + 100 + (uint64_t)c), log(1e-3),
                        log(4.0));
        for (int64_t j = 0; j < r; j++) m->eigvals[c * r + j] = exp(m->eigvals[c * r + j]);
        tu_fill_uniform(u, 3, seed_for(salt + 200 + (uint64_t)c), 0, 1);
        m->weights[c] = 0.2 + u[0];
        m->residual[c] = r < d ? 1e-3 + 0.1 * u[1] : 0.0;
        total += m->weights[c];
    }
    for (int64_t c = 0; c < k; c++) m->weights[c] /= total;
    for (int64_t c = 0; c < k; c++)
        for (int64_t j = 0; j < d; j++) m->mean[j] += m->weights[c] * m->means[c * d + j];
}

// Queries x = a reference point + sigma n: for the empirical model the reference points
// are fresh points near the data (not training rows), for mixtures the component means
// plus a draw of unit scale.
static double *make_queries(const ds_model *m, int64_t b, double sigma_noise, uint64_t salt) {
    int64_t d = m->d;
    double *x = random_matrix(b, d, salt), *base = random_matrix(b, d, salt + 1);
    for (int64_t i = 0; i < b; i++)
        for (int64_t j = 0; j < d; j++) {
            double centre = m->kind == DS_MODEL_EMPIRICAL
                                ? ds_data_value(&m->data, i % m->data.n, j) + 0.3 * base[i * d + j]
                                : m->means[(i % m->k) * d + j] + base[i * d + j];
            x[i * d + j] = centre + sigma_noise * x[i * d + j];
        }
    free(base);
    return x;
}

typedef struct {
    ds_backend *be;
    ds_bound_model *bm;
    ds_batch *x, *out;
} runner;

static void runner_open(runner *r, const char *backend, const ds_model *m, int64_t rows) {
    r->be = ds_backend_new(backend);
    assert_non_null(r->be);
    r->bm = r->be->bind(r->be, m);
    if (!r->bm) fprintf(stderr, "bind: %s\n", ds_error());
    assert_non_null(r->bm);
    r->x = r->be->batch_new(r->be, rows, m->d);
    r->out = r->be->batch_new(r->be, rows, m->d);
}

static void runner_close(runner *r) {
    r->be->batch_free(r->be, r->x);
    r->be->batch_free(r->be, r->out);
    r->be->unbind(r->be, r->bm);
    ds_backend_free(r->be);
}

static void denoise(runner *r, const double *x, const double *sigma, int64_t n_sigma, double *out,
                    ds_diag *diag) {
    r->be->upload(r->be, r->x, x);
    int rc = r->be->denoise(r->be, r->bm, r->x, sigma, n_sigma, r->out, diag);
    if (rc) fprintf(stderr, "denoise: %s\n", ds_error());
    assert_int_equal(rc, 0);
    r->be->download(r->be, r->out, out);
}

// Relative L2 error of cpu against ref on b queries at each sigma of the list.
static void compare_at_sigmas(const ds_model *m, int64_t b, double tol, const char *what) {
    runner cpu, ref;
    runner_open(&cpu, "cpu", m, b);
    runner_open(&ref, "ref", m, b);
    int64_t count = b * m->d;
    double *got = malloc(sizeof(double) * (size_t)count);
    double *want = malloc(sizeof(double) * (size_t)count);
    for (int s = 0; s < N_SIGMAS; s++) {
        double *x = make_queries(m, b, sigmas[s], 1000 + (uint64_t)s);
        denoise(&cpu, x, &sigmas[s], 1, got, NULL);
        denoise(&ref, x, &sigmas[s], 1, want, NULL);
        double err = tu_rel_l2(got, want, count);
        printf("%s sigma %-6g rel L2 error %.2e (tol %.0e)\n", what, sigmas[s], err, tol);
        assert_true(err < tol);
        free(x);
    }
    free(got);
    free(want);
    runner_close(&cpu);
    runner_close(&ref);
}

static void test_empirical_vs_ref(void **state) {
    (void)state;
    ds_model m;
    make_empirical(&m, 1000, 96, 1);
    // Default chunking (N < chunk), then chunks that do not divide N, then tiny ones.
    const char *chunks[] = {NULL, "300", "7"};
    for (int c = 0; c < 3; c++) {
        if (chunks[c])
            setenv("DIFFSAMP_CPU_CHUNK", chunks[c], 1);
        else
            unsetenv("DIFFSAMP_CPU_CHUNK");
        char what[64];
        snprintf(what, sizeof what, "empirical chunk %s", chunks[c] ? chunks[c] : "default");
        compare_at_sigmas(&m, 40, TOL_EMPIRICAL, what);
    }
    unsetenv("DIFFSAMP_CPU_CHUNK");
    ds_model_free(&m);
}

// Per-row sigmas log-uniform in [0.002, 80], diagnostics included.
static void check_empirical_per_row(const ds_model *m, int64_t b, const char *what) {
    runner cpu, ref;
    runner_open(&cpu, "cpu", m, b);
    runner_open(&ref, "ref", m, b);
    int64_t count = b * m->d;
    double *sigma = malloc(sizeof(double) * (size_t)b);
    tu_fill_uniform(sigma, b, seed_for(77), log(0.002), log(80.0));
    for (int64_t i = 0; i < b; i++) sigma[i] = exp(sigma[i]);
    double *x = make_queries(m, b, 0.0, 78), *noise = random_matrix(b, m->d, 79);
    for (int64_t i = 0; i < b; i++)
        for (int64_t j = 0; j < m->d; j++) x[i * m->d + j] += sigma[i] * noise[i * m->d + j];
    free(noise);
    double *got = malloc(sizeof(double) * (size_t)count),
           *want = malloc(sizeof(double) * (size_t)count);
    int64_t top[2][512];
    double weight[2][512], entropy[2][512];
    assert_true(b <= 512);
    ds_diag dg = {top[0], weight[0], entropy[0]}, dr = {top[1], weight[1], entropy[1]};
    denoise(&cpu, x, sigma, b, got, &dg);
    denoise(&ref, x, sigma, b, want, &dr);
    double err = tu_rel_l2(got, want, count);
    printf("%s per-row sigma rel L2 error %.2e (tol %.0e)\n", what, err, TOL_EMPIRICAL);
    assert_true(err < TOL_EMPIRICAL);
    // The diagnostics are functions of the weights, whose relative error is bounded by
    // the logit error (<= 1e-5 at the sigmas where the softmax is spread).
    double max_w = 0, max_h = 0;
    for (int64_t i = 0; i < b; i++) {
        assert_true(top[0][i] == top[1][i] || fabs(weight[1][i] - 0.5) < 0.01);
        max_w = fmax(max_w, fabs(weight[0][i] - weight[1][i]));
        max_h = fmax(max_h, fabs(entropy[0][i] - entropy[1][i]));
    }
    printf("%s diagnostics: max |top weight diff| %.2e, max |entropy diff| %.2e nats\n", what,
           max_w, max_h);
    assert_true(max_w < 1e-4);
    assert_true(max_h < 1e-4);
    free(sigma);
    free(x);
    free(got);
    free(want);
    runner_close(&cpu);
    runner_close(&ref);
}

static void test_empirical_per_row_sigma_and_diag(void **state) {
    (void)state;
    ds_model m;
    make_empirical(&m, 700, 64, 2);
    setenv("DIFFSAMP_CPU_CHUNK", "128", 1);
    check_empirical_per_row(&m, 64, "empirical");
    unsetenv("DIFFSAMP_CPU_CHUNK");
    ds_model_free(&m);
}

// At sigma = 0.002 the softmax is one-hot: cpu must pick ref's nearest training row
// wherever the two nearest squared distances differ by more than 1e-3 relative.
static void check_nearest_rows(const ds_model *m, const double *x, int64_t b, const char *what) {
    runner cpu, ref;
    runner_open(&cpu, "cpu", m, b);
    runner_open(&ref, "ref", m, b);
    int64_t d = m->d;
    double *got = malloc(sizeof(double) * (size_t)(b * d)),
           *want = malloc(sizeof(double) * (size_t)(b * d));
    int64_t *top_c = malloc(sizeof(int64_t) * (size_t)b),
            *top_r = malloc(sizeof(int64_t) * (size_t)b);
    ds_diag dc = {top_c, NULL, NULL}, dr = {top_r, NULL, NULL};
    const double s = 0.002;
    denoise(&cpu, x, &s, 1, got, &dc);
    denoise(&ref, x, &s, 1, want, &dr);
    int64_t eligible = 0, same = 0;
    for (int64_t i = 0; i < b; i++) {
        double best, second;
        tu_nearest_row(&m->data, x + i * d, &best, &second);
        if (second - best <= 1e-3 * best) continue;
        eligible++;
        same += top_c[i] == top_r[i];
    }
    printf("%s sigma 0.002: same nearest row on %lld of %lld eligible rows\n", what,
           (long long)same, (long long)eligible);
    assert_true(eligible > 0);
    assert_true((double)same >= 0.999 * (double)eligible);
    free(got);
    free(want);
    free(top_c);
    free(top_r);
    runner_close(&cpu);
    runner_close(&ref);
}

static void test_empirical_nearest_row(void **state) {
    (void)state;
    ds_model m;
    make_empirical(&m, 900, 128, 3);
    double *x = make_queries(&m, 200, 0.0, 31);
    check_nearest_rows(&m, x, 200, "empirical");
    free(x);
    ds_model_free(&m);
}

// Below sigma_min = 0.002 the SGEMM error bound over sigma^2 exceeds the float range of
// exp, so refined rows may see positive float logits; the output must still be ref's
// (the nearest row, finite), not a NaN.
static void test_empirical_tiny_sigma(void **state) {
    (void)state;
    ds_model m;
    make_empirical(&m, 300, 16, 5);
    const int64_t b = 32;
    runner cpu, ref;
    runner_open(&cpu, "cpu", &m, b);
    runner_open(&ref, "ref", &m, b);
    double *x = make_queries(&m, b, 0.0, 51), *got = malloc(sizeof(double) * (size_t)(b * m.d)),
           *want = malloc(sizeof(double) * (size_t)(b * m.d));
    const double tiny[] = {1e-4, 1e-6, 1e-9};
    for (int s = 0; s < 3; s++) {
        denoise(&cpu, x, &tiny[s], 1, got, NULL);
        denoise(&ref, x, &tiny[s], 1, want, NULL);
        double err = tu_rel_l2(got, want, b * m.d);
        printf("empirical sigma %g rel L2 error %.2e (tol %.0e)\n", tiny[s], err, TOL_EMPIRICAL);
        assert_true(err < TOL_EMPIRICAL);
    }
    free(x);
    free(got);
    free(want);
    runner_close(&cpu);
    runner_close(&ref);
    ds_model_free(&m);
}

static void test_gaussian_full_rank_vs_ref(void **state) {
    (void)state;
    ds_model m;
    make_gmm(&m, 1, 48, 48, 4);
    compare_at_sigmas(&m, 50, TOL_GAUSSIAN, "gaussian full rank");
    ds_model_free(&m);
}

static void test_gaussian_truncated_vs_ref(void **state) {
    (void)state;
    ds_model m;
    make_gmm(&m, 1, 64, 12, 5);
    compare_at_sigmas(&m, 50, TOL_GAUSSIAN, "gaussian rank 12 of 64");
    ds_model_free(&m);
}

static void test_gmm_vs_ref(void **state) {
    (void)state;
    for (int64_t k = 3; k <= 5; k++) {
        ds_model m;
        int64_t r = k == 4 ? 40 : 16; // K = 4 full rank, else truncated
        make_gmm(&m, k, 40, r, 6 + (uint64_t)k);
        char what[64];
        snprintf(what, sizeof what, "gmm K = %lld rank %lld", (long long)k, (long long)r);
        compare_at_sigmas(&m, 60, TOL_GMM, what);
        ds_model_free(&m);
    }
}

static void test_gmm_per_row_sigma(void **state) {
    (void)state;
    ds_model m;
    make_gmm(&m, 4, 32, 10, 11);
    const int64_t b = 80;
    double sigma[80];
    tu_fill_uniform(sigma, b, seed_for(12), log(0.002), log(80.0));
    for (int64_t i = 0; i < b; i++) sigma[i] = exp(sigma[i]);
    double *x = make_queries(&m, b, 1.0, 13);
    runner cpu, ref;
    runner_open(&cpu, "cpu", &m, b);
    runner_open(&ref, "ref", &m, b);
    double *got = malloc(sizeof(double) * (size_t)(b * m.d)),
           *want = malloc(sizeof(double) * (size_t)(b * m.d));
    denoise(&cpu, x, sigma, b, got, NULL);
    denoise(&ref, x, sigma, b, want, NULL);
    double err = tu_rel_l2(got, want, b * m.d);
    printf("gmm per-row sigma rel L2 error %.2e (tol %.0e)\n", err, TOL_GMM);
    assert_true(err < TOL_GMM);
    free(x);
    free(got);
    free(want);
    runner_close(&cpu);
    runner_close(&ref);
    ds_model_free(&m);
}

// The flow is a linear map with factors in [sqrt(lam/(lam+80^2)), ...]; float32 gives
// a few u relative to |x - mu|, and |out| is of the same order, so 2e-6.
static void test_flow_vs_ref(void **state) {
    (void)state;
    const double pairs[][2] = {{80, 0.002}, {80, 20}, {0.5, 20}, {2, 1}};
    for (int t = 0; t < 2; t++) {
        ds_model m;
        make_gmm(&m, 1, 50, t ? 50 : 9, 14 + (uint64_t)t);
        const int64_t b = 30;
        runner cpu, ref;
        runner_open(&cpu, "cpu", &m, b);
        runner_open(&ref, "ref", &m, b);
        double *got = malloc(sizeof(double) * (size_t)(b * m.d)),
               *want = malloc(sizeof(double) * (size_t)(b * m.d));
        for (int p = 0; p < 4; p++) {
            double *x = make_queries(&m, b, pairs[p][0], 15 + (uint64_t)p);
            runner *rs[2] = {&cpu, &ref};
            double *outs[2] = {got, want};
            for (int k = 0; k < 2; k++) {
                rs[k]->be->upload(rs[k]->be, rs[k]->x, x);
                // In place, as samplers call it.
                assert_int_equal(rs[k]->be->gaussian_flow(rs[k]->be, rs[k]->bm, rs[k]->x,
                                                          pairs[p][0], pairs[p][1], rs[k]->x),
                                 0);
                rs[k]->be->download(rs[k]->be, rs[k]->x, outs[k]);
            }
            double err = tu_rel_l2(got, want, b * m.d);
            printf("flow rank %lld %g -> %g rel L2 error %.2e\n", (long long)m.r, pairs[p][0],
                   pairs[p][1], err);
            assert_true(err < 2e-6);
            free(x);
        }
        free(got);
        free(want);
        runner_close(&cpu);
        runner_close(&ref);
        ds_model_free(&m);
    }
}

// Batches longer than the backend's row block (1,024 rows) are cut into blocks: every
// block, its per-row sigmas and its diagnostics must land on the right rows.
static void test_batches_over_a_row_block(void **state) {
    (void)state;
    const int64_t b = 1030;
    ds_model models[2];
    make_empirical(&models[0], 150, 12, 50);
    make_gmm(&models[1], 2, 12, 5, 51);
    double *sigma = malloc(sizeof(double) * (size_t)b);
    tu_fill_uniform(sigma, b, seed_for(52), 0.05, 3.0);
    for (int k = 0; k < 2; k++) {
        const ds_model *m = &models[k];
        runner cpu, ref;
        runner_open(&cpu, "cpu", m, b);
        runner_open(&ref, "ref", m, b);
        double *x = make_queries(m, b, 0.5, 53);
        double *got = malloc(sizeof(double) * (size_t)(b * m->d));
        double *want = malloc(sizeof(double) * (size_t)(b * m->d));
        int64_t *top_c = malloc(sizeof(int64_t) * (size_t)b),
                *top_r = malloc(sizeof(int64_t) * (size_t)b);
        ds_diag dc = {top_c, NULL, NULL}, dr = {top_r, NULL, NULL};
        denoise(&cpu, x, sigma, b, got, k ? NULL : &dc);
        denoise(&ref, x, sigma, b, want, k ? NULL : &dr);
        double err = tu_rel_l2(got, want, b * m->d);
        printf("%s, %lld rows, per-row sigma: rel L2 error %.2e\n", k ? "gmm" : "empirical",
               (long long)b, err);
        assert_true(err < (k ? TOL_GMM : TOL_EMPIRICAL));
        int64_t same = 0;
        for (int64_t i = 0; !k && i < b; i++) same += top_c[i] == top_r[i];
        if (!k) assert_true(same >= b - 2); // a tie within float rounding may differ
        free(x);
        free(got);
        free(want);
        free(top_c);
        free(top_r);
        runner_close(&cpu);
        runner_close(&ref);
        ds_model_free(&models[k]);
    }
    free(sigma);
}

// randn: the same Philox normal rounded to float. lincomb: float inputs, a double sum;
// each element within 2u of sum_k |c_k v_k| plus the input rounding (u per input).
static void test_lincomb_and_randn(void **state) {
    (void)state;
    ds_backend *cpu = ds_backend_new("cpu"), *ref = ds_backend_new("ref");
    const int64_t rows = 37, cols = 301, count = rows * cols;
    const uint64_t seed = seed_for(20);
    ds_batch *a = cpu->batch_new(cpu, rows, cols), *ra = ref->batch_new(ref, rows, cols);
    cpu->randn(cpu, a, seed, 1000);
    ref->randn(ref, ra, seed, 1000);
    double *got = malloc(sizeof(double) * (size_t)count),
           *want = malloc(sizeof(double) * (size_t)count);
    cpu->download(cpu, a, got);
    ref->download(ref, ra, want);
    for (int64_t e = 0; e < count; e++) assert_true(got[e] == (double)(float)want[e]);

    const int n = 6;
    double coef[6], *in[6];
    ds_batch *cv[6], *rv[6];
    tu_fill_uniform(coef, n, seed_for(21), -2, 2);
    for (int k = 0; k < n; k++) {
        in[k] = random_matrix(rows, cols, 22 + (uint64_t)k);
        cv[k] = cpu->batch_new(cpu, rows, cols);
        rv[k] = ref->batch_new(ref, rows, cols);
        cpu->upload(cpu, cv[k], in[k]);
        ref->upload(ref, rv[k], in[k]);
    }
    // out aliases v[2].
    cpu->lincomb(cpu, cv[2], n, coef, (const ds_batch *const *)cv);
    ref->lincomb(ref, rv[2], n, coef, (const ds_batch *const *)rv);
    cpu->download(cpu, cv[2], got);
    ref->download(ref, rv[2], want);
    for (int64_t e = 0; e < count; e++) {
        double mag = 0;
        for (int k = 0; k < n; k++) mag += fabs(coef[k] * in[k][e]);
        assert_true(fabs(got[e] - want[e]) <= 1.2e-7 * (mag + fabs(want[e])) + 1e-30);
    }
    for (int k = 0; k < n; k++) {
        free(in[k]);
        cpu->batch_free(cpu, cv[k]);
        ref->batch_free(ref, rv[k]);
    }
    cpu->batch_free(cpu, a);
    ref->batch_free(ref, ra);
    free(got);
    free(want);
    ds_backend_free(cpu);
    ds_backend_free(ref);
}

static void test_move_rows(void **state) {
    (void)state;
    static const char *const names[] = {"ref", "cpu"};
    for (int k = 0; k < 2; k++) {
        ds_backend *b = ds_backend_new(names[k]);
        tu_check_move_rows(b, seed_for(30 + (uint64_t)k));
        ds_backend_free(b);
    }
}

// Both host backends refuse bad arguments with a message naming the backend: sigma 0,
// negative, NaN or infinite; a sigma count that is neither 1 nor the rows; a batch of
// another width; the flow with negative sigma or on an empirical model.
static void test_refusals(void **state) {
    (void)state;
    static const char *const names[] = {"ref", "cpu"};
    const double bad[] = {0, -1, NAN, INFINITY};
    ds_model emp, gauss;
    make_empirical(&emp, 40, 6, 7);
    make_gmm(&gauss, 1, 6, 6, 8);
    for (int i = 0; i < 2; i++) {
        runner e, g;
        runner_open(&e, names[i], &emp, 3);
        runner_open(&g, names[i], &gauss, 3);
        double two[2] = {1, 1};
        for (int j = 0; j < 4; j++) {
            assert_int_equal(e.be->denoise(e.be, e.bm, e.x, &bad[j], 1, e.out, NULL), -1);
            assert_non_null(strstr(ds_error(), "expected a finite value > 0"));
            assert_non_null(strstr(ds_error(), names[i]));
            assert_int_equal(g.be->denoise(g.be, g.bm, g.x, &bad[j], 1, g.out, NULL), -1);
        }
        assert_int_equal(e.be->denoise(e.be, e.bm, e.x, two, 2, e.out, NULL), -1);
        assert_non_null(strstr(ds_error(), "expected 1 or one per row"));
        ds_batch *wide = e.be->batch_new(e.be, 3, 7);
        assert_int_equal(e.be->denoise(e.be, e.bm, wide, two, 1, e.out, NULL), -1);
        assert_non_null(strstr(ds_error(), "d = 6"));
        e.be->batch_free(e.be, wide);
        assert_int_equal(g.be->gaussian_flow(g.be, g.bm, g.x, 80, -1, g.out), -1);
        assert_non_null(strstr(ds_error(), "expected finite values >= 0"));
        assert_int_equal(e.be->gaussian_flow(e.be, e.bm, e.x, 80, 1, e.out), -1);
        assert_non_null(strstr(ds_error(), "needs a Gaussian model"));
        runner_close(&e);
        runner_close(&g);
    }
    ds_model_free(&emp);
    ds_model_free(&gauss);
}

// Rows [0, count) of a random permutation of a data set's rows, as float rows.
// Fashion-MNIST: 2,000 training rows, 32 test images plus noise at each sigma (d = 784,
// |y|^2 up to ~800, the shape where the SGEMM products are least exact).
static void test_fashion_mnist_subset(void **state) {
    (void)state;
    const char *test_path = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
    ds_model m;
    memset(&m, 0, sizeof m);
    ds_data queries;
    if (!tu_file_exists(DS_DEFAULT_DATA) || !tu_file_exists(test_path)) {
        printf("test_fashion_mnist_subset: skipped: %s not found\n", DS_DEFAULT_DATA);
        skip();
    }
    assert_int_equal(tu_load_subset(DS_DEFAULT_DATA, 2000, seed_for(40), &m.data), 0);
    assert_int_equal(tu_load_subset(test_path, 32, seed_for(41), &queries), 0);
    m.kind = DS_MODEL_EMPIRICAL;
    m.d = m.data.d;
    m.mean = calloc((size_t)m.d, sizeof(double));
    for (int64_t i = 0; i < m.data.n; i++)
        for (int64_t j = 0; j < m.d; j++)
            m.mean[j] += ds_data_value(&m.data, i, j) / (double)m.data.n;
    const int64_t b = queries.n, d = m.d;
    runner cpu, ref;
    runner_open(&cpu, "cpu", &m, b);
    runner_open(&ref, "ref", &m, b);
    double *x = malloc(sizeof(double) * (size_t)(b * d)), *noise = random_matrix(b, d, 42);
    double *q = malloc(sizeof(double) * (size_t)(b * d));
    ds_data_rows_f64(&queries, 0, b, q);
    double *got = malloc(sizeof(double) * (size_t)(b * d)),
           *want = malloc(sizeof(double) * (size_t)(b * d));
    for (int s = 0; s < N_SIGMAS; s++) {
        for (int64_t e = 0; e < b * d; e++) x[e] = q[e] + sigmas[s] * noise[e];
        denoise(&cpu, x, &sigmas[s], 1, got, NULL);
        denoise(&ref, x, &sigmas[s], 1, want, NULL);
        double err = tu_rel_l2(got, want, b * d);
        printf("fashion-mnist sigma %-6g rel L2 error %.2e (tol %.0e)\n", sigmas[s], err,
               TOL_EMPIRICAL);
        assert_true(err < TOL_EMPIRICAL);
    }
    for (int64_t e = 0; e < b * d; e++) x[e] = q[e] + 0.002 * noise[e];
    check_nearest_rows(&m, x, b, "fashion-mnist");
    runner_close(&cpu);
    runner_close(&ref);
    free(x);
    free(noise);
    free(got);
    free(want);
    ds_data_free(&queries);
    free(q);
    ds_model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empirical_vs_ref),
        cmocka_unit_test(test_empirical_per_row_sigma_and_diag),
        cmocka_unit_test(test_empirical_nearest_row),
        cmocka_unit_test(test_empirical_tiny_sigma),
        cmocka_unit_test(test_gaussian_full_rank_vs_ref),
        cmocka_unit_test(test_gaussian_truncated_vs_ref),
        cmocka_unit_test(test_gmm_vs_ref),
        cmocka_unit_test(test_gmm_per_row_sigma),
        cmocka_unit_test(test_flow_vs_ref),
        cmocka_unit_test(test_batches_over_a_row_block),
        cmocka_unit_test(test_lincomb_and_randn),
        cmocka_unit_test(test_move_rows),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_fashion_mnist_subset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
