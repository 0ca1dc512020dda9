// The cuda backend against the float64 ref backend: every primitive on fresh random
// inputs at sigma from 0.002 to 80, chunked training sets and query blocks, poisoned
// outputs (NaN before every kernel, via DIFFSAMP_CUDA_POISON and NaN uploads; NaN and
// -1 in the diagnostics arrays), in-place outputs (denoise, flow, lincomb over its first
// and last input), per-row sigmas, diagnostics at every sigma, mixtures in query blocks
// and with more components than a grid's y dimension, refusals of bad arguments, the
// Philox noise bit for bit, and an end-to-end Heun run. Every test skips visibly without
// a CUDA device.
//
// Tolerances. cuda computes in float32 (cuBLAS SGEMM, no TF32); ref in float64.
// - lincomb: inputs are rounded to float for both backends and cuda sums in double, so
//   the only error is the final rounding to float: 2^-24 relative; bound 1e-6.
// - empirical denoiser: the SGEMM product x.y carries an absolute error up to ~16 u |x||y|
//   (u = 2^-24), i.e. up to that over sigma^2 in a logit. t = x.y - |y|^2/2 and the
//   logits relative to the maximum are formed in double, and the GEMM path recomputes in
//   double the products whose logits may lie within 12 of a row's maximum (the fused
//   path sums every product in double), as the cpu backend does; what is left is the
//   float rounding of rows, queries, weights and output (a few u) and the float logits
//   of negligible rows or of a broad softmax, where each error is below ~1e-5 and
//   independent errors average out. The cpu backend, with the same numerics, measures
//   <= 1.1e-6 on random models and <= 5e-7 on Fashion-MNIST; on the CPU emulator (OpenBLAS
//   SGEMM) this code measures <= 4e-7 at noisy training rows and <= 1e-6 between two rows;
//   bound 5e-6, as for cpu (1e-5 and 1e-4 for the top weight and entropy).
// - Gaussian / mixture map and flow: two SGEMMs over d and k r terms plus double
//   factors; the float32 emulation gives <= 2e-7 (Gaussian, flow) and <= 1.1e-6
//   (mixture at sigma = 80, where the component weights mix); bound 1e-5.
// - randn: both sides evaluate the same double Box-Muller; CUDA's double log / sin /
//   cos are within 2 ulp (double) of glibc's, so after rounding to float the values are
//   equal except when the double lands within 2 double-ulp of a float rounding
//   boundary (probability ~2^-28 per value): asserted within 1 float ulp, counted.
// - end-to-end Heun (6 steps, 12 NFE, sigma 80 -> 0.5): each NFE adds ~1e-6 relative,
//   compounded over 12 evaluations with step coefficients bounded by 2; bound 1e-4.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_backend.h"
#include "ds_error.h"
#include "ds_philox.h"
#include "ds_solver.h"
#include "testutil.h"
#ifdef DIFFSAMP_HAVE_CUDA
#include "../cuda/ds_cuda_debug.h"
#include "../kernels/ds_kernels.h"
#endif

static const double test_sigmas[] = {0.002, 0.01, 0.1, 1, 5, 20, 80};
#define TOL_EMPIRICAL 5e-6
#define N_TEST_SIGMAS 7

static ds_backend *backend(const char *name) {
    ds_backend *b = ds_backend_new(name);
    if (!b) fail_msg("backend %s: %s", name, ds_error());
    return b;
}

static double *new_doubles(int64_t n) {
    double *x = calloc((size_t)n, sizeof(double));
    assert_non_null(x);
    return x;
}

static void round_to_float(double *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)x[i];
}

static void assert_all_finite(const double *x, int64_t n, const char *what) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            fail_msg("%s: element %lld not written (%g)", what, (long long)i, x[i]);
}

// A batch holding x, and one filled with NaN that the primitive under test must overwrite.
static ds_batch *batch_from(ds_backend *b, const double *x, int64_t rows, int64_t cols) {
    ds_batch *v = b->batch_new(b, rows, cols);
    b->upload(b, v, x);
    return v;
}

static ds_batch *poisoned_batch(ds_backend *b, int64_t rows, int64_t cols) {
    double *nan = new_doubles(rows * cols);
    for (int64_t i = 0; i < rows * cols; i++) nan[i] = NAN;
    ds_batch *v = batch_from(b, nan, rows, cols);
    free(nan);
    return v;
}

static void denoise_on(ds_backend *b, ds_bound_model *bm, const double *x, int64_t rows, int64_t d,
                       const double *sigma, int64_t n_sigma, double *out, ds_diag *diag) {
    ds_batch *bx = batch_from(b, x, rows, d), *bo = poisoned_batch(b, rows, d);
    if (b->denoise(b, bm, bx, sigma, n_sigma, bo, diag))
        fail_msg("%s denoise: %s", b->name, ds_error());
    b->download(b, bo, out);
    b->batch_free(b, bx);
    b->batch_free(b, bo);
    assert_all_finite(out, rows * d, b->name);
}

// ---- models ----

static void round_to_grid(double *x, int64_t n, double step) {
    for (int64_t i = 0; i < n; i++) x[i] = step * nearbyint(x[i] / step);
}

// n rows uniform in [-0.7, 1.3]^d (a non-zero mean, so centring matters), on a grid of
// 2^-12 with the mean on it too, and queries on a grid of 2^-20 (noisy_queries): the
// centred rows and queries are then exact in float, so that the tests measure the
// kernels' arithmetic. (Rounding the centred inputs to float perturbs the data by ~u,
// which a query balanced between two rows at small sigma amplifies by up to
// |x - y||y_a - y_b| / sigma^2, for every float32 backend: see README, CUDA backend.)
static void make_empirical(ds_model *m, int64_t n, int64_t d, uint64_t seed) {
    double *x = new_doubles(n * d);
    tu_fill_uniform(x, n * d, seed, -0.7, 1.3);
    round_to_grid(x, n * d, 0x1p-12);
    tu_empirical_model(m, x, n, d);
    round_to_grid(m->mean, d, 0x1p-12);
    free(x);
}

static int descending(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

// k components of rank r in R^d: eigenvalues in [0.05, 2], residual variance in
// [0.1, 0.3] when r < d, means ~ N(0, I), weights in [0.5, 1.5] normalised.
static void make_mixture(ds_model *m, int64_t k, int64_t d, int64_t r, uint64_t seed) {
    memset(m, 0, sizeof *m);
    m->kind = k == 1 ? DS_MODEL_GAUSSIAN : DS_MODEL_GMM;
    m->d = d, m->k = k, m->r = r;
    m->weights = new_doubles(k);
    m->means = new_doubles(k * d);
    m->eigvals = new_doubles(k * r);
    m->eigvecs = new_doubles(k * d * r);
    m->residual = new_doubles(k);
    m->mean = new_doubles(d);
    tu_fill_uniform(m->weights, k, seed + 1, 0.5, 1.5);
    tu_fill_normal(m->means, k * d, seed + 2);
    tu_fill_uniform(m->eigvals, k * r, seed + 3, 0.05, 2.0);
    tu_fill_uniform(m->residual, k, seed + 4, 0.1, 0.3);
    double total = 0;
    for (int64_t c = 0; c < k; c++) total += m->weights[c];
    for (int64_t c = 0; c < k; c++) {
        m->weights[c] /= total;
        qsort(m->eigvals + c * r, (size_t)r, sizeof(double), descending);
        tu_orthonormal_columns(m->eigvecs + c * d * r, d, r, seed + 5 + (uint64_t)c);
        if (r == d) m->residual[c] = 0;
        for (int64_t j = 0; j < d; j++) m->mean[j] += m->weights[c] * m->means[c * d + j];
    }
}

// rows queries y_a + sigma n at random training rows a (float-representable).
// rows queries p + sigma n around points p: random training rows, or (between) the
// midpoints of two random training rows, where several rows share the weight and the
// logits near the maximum must be exact (on a grid exact in float, see make_empirical).
static void noisy_queries(const ds_model *m, double *x, int64_t rows, double sigma, int between,
                          uint64_t seed) {
    int64_t d = m->d;
    double *pick = new_doubles(2 * rows);
    tu_fill_uniform(pick, 2 * rows, seed, 0, (double)m->data.n);
    tu_fill_normal(x, rows * d, seed + 1);
    for (int64_t i = 0; i < rows; i++) {
        int64_t a = (int64_t)pick[i], b = between ? (int64_t)pick[rows + i] : a;
        for (int64_t j = 0; j < d; j++)
            x[i * d + j] = 0.5 * (ds_data_value(&m->data, a, j) + ds_data_value(&m->data, b, j)) +
                           sigma * x[i * d + j];
    }
    round_to_grid(x, rows * d, 0x1p-20);
    free(pick);
}

// rows queries mu_c + N(0, I) + sigma n around random components c.
static void mixture_queries(const ds_model *m, double *x, int64_t rows, double sigma,
                            uint64_t seed) {
    int64_t d = m->d;
    double *pick = new_doubles(rows), *z = new_doubles(rows * d);
    tu_fill_uniform(pick, rows, seed, 0, (double)m->k);
    tu_fill_normal(x, rows * d, seed + 1);
    tu_fill_normal(z, rows * d, seed + 2);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < d; j++)
            x[i * d + j] += m->means[(int64_t)pick[i] * d + j] + sigma * z[i * d + j];
    round_to_float(x, rows * d);
    free(pick);
    free(z);
}

// ---- denoiser comparisons ----

typedef struct {
    ds_backend *cuda, *ref;
    ds_bound_model *cuda_bm, *ref_bm;
    int64_t n; // training rows (empirical models)
} pair;

static pair bind_pair(const ds_model *m) {
    pair p = {backend("cuda"), backend("ref"), NULL, NULL, m->data.n};
    p.cuda_bm = p.cuda->bind(p.cuda, m);
    if (!p.cuda_bm) fail_msg("cuda bind: %s", ds_error());
    p.ref_bm = p.ref->bind(p.ref, m);
    assert_non_null(p.ref_bm);
    return p;
}

static void unbind_pair(pair *p) {
    p->cuda->unbind(p->cuda, p->cuda_bm);
    p->ref->unbind(p->ref, p->ref_bm);
    ds_backend_free(p->cuda);
    ds_backend_free(p->ref);
}

// Diagnostics arrays filled with values no backend writes (NaN, index -1), so that an
// entry the backend leaves alone fails the comparison.
static ds_diag poisoned_diag(int64_t rows) {
    ds_diag g = {calloc((size_t)rows, sizeof(int64_t)), new_doubles(rows), new_doubles(rows)};
    assert_non_null(g.top_index);
    for (int64_t i = 0; i < rows; i++) g.top_index[i] = -1, g.top_weight[i] = g.entropy[i] = NAN;
    return g;
}

static void free_diag(ds_diag *g) {
    free(g->top_index), free(g->top_weight), free(g->entropy);
}

// cuda's diagnostics against ref's. The weights and entropy carry the logit error
// (float32 emulation: <= 3e-6 in the top weight, 4e-6 in the entropy, at every test
// sigma and per-row sigmas); the top row must agree where ref's top weight marks a clear
// winner (> 0.6: the runner-up is at least 0.4 logits behind, 1e5 times the error).
static void compare_diag(const ds_diag *a, const ds_diag *r, int64_t rows, int64_t n) {
    for (int64_t i = 0; i < rows; i++) {
        if (a->top_index[i] < 0 || a->top_index[i] >= n)
            fail_msg("row %lld: top index %lld not in [0, %lld)", (long long)i,
                     (long long)a->top_index[i], (long long)n);
        if (r->top_weight[i] > 0.6) assert_int_equal(a->top_index[i], r->top_index[i]);
        // Written as !(err <= tol) so that a NaN (unwritten) entry fails.
        if (!(fabs(a->top_weight[i] - r->top_weight[i]) <= 1e-5) ||
            !(fabs(a->entropy[i] - r->entropy[i]) <= 1e-4 * fmax(1.0, r->entropy[i])))
            fail_msg("row %lld: top weight %g vs %g, entropy %g vs %g", (long long)i,
                     a->top_weight[i], r->top_weight[i], a->entropy[i], r->entropy[i]);
    }
}

// Denoises x on both backends (one sigma, or one per row) and returns the relative
// error; with check_diag (empirical models) the diagnostics are compared too. cuda
// writes in place (out = x) when in_place is set, into a poisoned batch otherwise.
static double compare_denoise(pair *p, const double *x, int64_t rows, int64_t d,
                              const double *sigma, int64_t n_sigma, int check_diag, int in_place) {
    double *a = new_doubles(rows * d), *r = new_doubles(rows * d);
    ds_diag da = poisoned_diag(rows), dr = poisoned_diag(rows);
    ds_diag *pa = check_diag ? &da : NULL, *pr = check_diag ? &dr : NULL;
    if (in_place) {
        ds_batch *bx = batch_from(p->cuda, x, rows, d);
        if (p->cuda->denoise(p->cuda, p->cuda_bm, bx, sigma, n_sigma, bx, pa))
            fail_msg("cuda denoise in place: %s", ds_error());
        p->cuda->download(p->cuda, bx, a);
        p->cuda->batch_free(p->cuda, bx);
        assert_all_finite(a, rows * d, "cuda in place");
    } else {
        denoise_on(p->cuda, p->cuda_bm, x, rows, d, sigma, n_sigma, a, pa);
    }
    denoise_on(p->ref, p->ref_bm, x, rows, d, sigma, n_sigma, r, pr);
    double err = tu_rel_l2(a, r, rows * d);
    if (check_diag) compare_diag(&da, &dr, rows, p->n);
    free(a), free(r);
    free_diag(&da), free_diag(&dr);
    return err;
}

// Every test sigma, one per call and all of them per row in one call (in place), with
// queries at noisy training rows and between two.
static void check_empirical(const ds_model *m, int64_t rows, uint64_t seed, const char *label) {
    pair p = bind_pair(m);
    int64_t d = m->d;
    double *x = new_doubles(rows * d), *row_sigma = new_doubles(rows);
    for (int between = 0; between < 2; between++) {
        const char *where = between ? "between rows" : "at rows";
        for (int s = 0; s < N_TEST_SIGMAS; s++) {
            noisy_queries(m, x, rows, test_sigmas[s], between, seed + (uint64_t)(s + 10 * between));
            double err = compare_denoise(&p, x, rows, d, &test_sigmas[s], 1, 1, 0);
            printf("%s %s: sigma %g: relative error %.2e\n", label, where, test_sigmas[s], err);
            assert_true(err < TOL_EMPIRICAL);
        }
        for (int64_t i = 0; i < rows; i++) row_sigma[i] = test_sigmas[i % N_TEST_SIGMAS];
        noisy_queries(m, x, rows, 1.0, between, seed + 100 + (uint64_t)between);
        double err = compare_denoise(&p, x, rows, d, row_sigma, rows, 1, 1);
        printf("%s %s: per-row sigmas, in place: relative error %.2e\n", label, where, err);
        assert_true(err < TOL_EMPIRICAL);
    }
    free(x);
    free(row_sigma);
    unbind_pair(&p);
}

static void with_env(const char *name, const char *value) {
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
}

static void test_empirical_gemm_path(void **state) {
    (void)state;
    TU_SKIP_WITHOUT_CUDA();
    ds_model m;
    make_empirical(&m, 1500, 200, tu_seed());
    check_empirical(&m, 48, tu_seed() + 1, "gemm d=200");
    ds_model_free(&m);
    make_empirical(&m, 1500, 64, tu_seed() + 2);
    with_env("DIFFSAMP_CUDA_FUSED", "0");
    check_empirical(&m, 48, tu_seed() + 3, "gemm d=64");
    with_env("DIFFSAMP_CUDA_FUSED", NULL);
    ds_model_free(&m);
}

static void test_empirical_fused_path(void **state) {
    (void)state;
    TU_SKIP_WITHOUT_CUDA();
    ds_model m;
    make_empirical(&m, 1500, 64, tu_seed() + 10);
    with_env("DIFFSAMP_CUDA_FUSED", "1");
    check_empirical(&m, 45, tu_seed() + 11, "fused d=64");
    ds_model_free(&m);
    make_empirical(&m, 1000, 128, tu_seed() + 12);
    check_empirical(&m, 17, tu_seed() + 13, "fused d=128");
    with_env("DIFFSAMP_CUDA_FUSED", NULL);
    ds_model_free(&m);
    // The automatic choice (timed at bind) must give the same results.
    make_empirical(&m, 1200, 33, tu_seed() + 14);
    check_empirical(&m, 20, tu_seed() + 15, "auto d=33");
    ds_model_free(&m);
}

// Training pieces of 700 rows (the last one 100) and query blocks of 13 rows force the
// online merge across chunks and the blocked loop over the batch, on both paths.
static void test_chunked_training_set(void **state) {
    (void)state;
    TU_SKIP_WITHOUT_CUDA();
    ds_model m;
    make_empirical(&m, 5000, 96, tu_seed() + 20);
    with_env("DIFFSAMP_CUDA_CHUNK", "700");
    with_env("DIFFSAMP_CUDA_ROWS", "13");
    with_env("DIFFSAMP_CUDA_FUSED", "0");
    check_empirical(&m, 40, tu_seed() + 21, "chunked gemm");
    with_env("DIFFSAMP_CUDA_FUSED", "1");
    check_empirical(&m, 40, tu_seed() + 22, "chunked fused");
    with_env("DIFFSAMP_CUDA_FUSED", NULL);
    with_env("DIFFSAMP_CUDA_CHUNK", NULL);
    with_env("DIFFSAMP_CUDA_ROWS", NULL);
    ds_model_free(&m);
}

// At sigma = 0.002 the denoiser returns the nearest training row. Random queries (not
// at training points): cuda's top row must be the true nearest row (float64 distances)
// for >= 99.9% of queries whose two nearest squared distances differ by > 1e-3
// relative (a gap >= 40 / (2 sigma^2) in the logit, far above the float32 error).
static void check_nearest(const ds_model *m, int64_t rows, uint64_t seed) {
    int64_t d = m->d, clear = 0, agree = 0;
    double *x = new_doubles(rows * d), *out = new_doubles(rows * d), sigma = 0.002;
    int64_t *top = calloc((size_t)rows, sizeof(int64_t));
    tu_fill_uniform(x, rows * d, seed, -0.7, 1.3);
    round_to_float(x, rows * d);
    ds_backend *b = backend("cuda");
    ds_bound_model *bm = b->bind(b, m);
    if (!bm) fail_msg("cuda bind: %s", ds_error());
    ds_diag diag = {top, NULL, NULL};
    denoise_on(b, bm, x, rows, d, &sigma, 1, out, &diag);
    for (int64_t i = 0; i < rows; i++) {
        double best, second;
        int64_t arg = tu_nearest_row(&m->data, x + i * d, &best, &second);
        if ((second - best) / best <= 1e-3) continue;
        clear++;
        agree += top[i] == arg;
    }
    printf("nearest row: %lld of %lld clear queries agree\n", (long long)agree, (long long)clear);
    assert_true(clear > rows / 2);
    assert_true((double)agree >= 0.999 * (double)clear);
    b->unbind(b, bm);
    ds_backend_free(b);
    free(x), free(out), free(top);
}

static void test_nearest_row_small_sigma(void **state) {
    (void)state;
    TU_SKIP_WITHOUT_CUDA();
    ds_model m;
    make_empirical(&m, 3000, 64, tu_seed() + 30);
    with_env("DIFFSAMP_CUDA_FUSED", "0");
    check_nearest(&m, 1000, tu_seed() + 31);
    with_env("DIFFSAMP_CUDA_FUSED", "1");
    check_nearest(&m, 1000, tu_seed() + 32);
    with_env("DIFFSAMP_CUDA_FUSED", NULL);
    ds_model_free(&m);
    make_empirical(&m, 3000, 300, tu_seed() + 33);
    check_nearest(&m, 500, tu_seed() + 34);
    ds_model_free(&m);
}

// Fashion-MNIST: 2,000 training rows and 32 test images plus noise at each sigma (d =
// 784, |y|^2 up to ~800: the shape where the SGEMM products are least exact), on the
// path that bind chooses (GEMM: d > 128).
static void test_fashion_mnist_subset(void **state) {
    (void)state;
    TU_SKIP_WITHOUT_CUDA();
    const char *test_path = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
    if (!tu_file_exists(DS_DEFAULT_DATA) || !tu_file_exists(test_path)) {
        printf("test_fashion_mnist_subset: skipped: %s not found\n", DS_DEFAULT_DATA);
        skip();
    }
    ds_model m;
    ds_data queries;
    memset(&m, 0, sizeof m);
    assert_int_equal(tu_load_subset(DS_DEFAULT_DATA, 2000, tu_seed() + 80, &m.data), 0);
    assert_int_equal(tu_load_subset(test_path, 32, tu_seed() + 81, &queries), 0);
    m.kind = DS_MODEL_EMPIRICAL;
    m.d = m.data.d;
    m.mean = new_doubles(m.d);
    for (int64_t i = 0; i < m.data.n; i++)
        for (int64_t j = 0; j < m.d; j++)
            m.mean[j] += ds_data_value(&m.data, i, j) / (double)m.data.n;
    int64_t rows = queries.n, d = m.d;
    pair p = bind_pair(&m);
    double *x = new_doubles(rows * d), *noise = new_doubles(rows * d), *q = new_doubles(rows * d);
    tu_fill_normal(noise, rows * d, tu_seed() + 82);
    ds_data_rows_f64(&queries, 0, rows, q);
    for (int s = 0; s < N_TEST_SIGMAS; s++) {
        for (int64_t e = 0; e < rows * d; e++) x[e] = q[e] + test_sigmas[s] * noise[e];
        round_to_float(x, rows * d);
        double err = compare_denoise(&p, x, rows, d, &test_sigmas[s], 1, 1, 0);
        printf("fashion-mnist: sigma %g: relative error %.2e\n", test_sigmas[s], err);
        assert_true(err < TOL_EMPIRICAL);
    }
    free(x), free(noise);
    unbind_pair(&p);
    ds_data_free(&queries);
    free(q);
    ds_model_free(&m);
}

static void check_mixture(int64_t k, int64_t d, int64_t r, int64_t rows, double tol,
                          uint64_t seed) {
    ds_model m;
    make_mixture(&m, k, d, r, seed);
    pair p = bind_pair(&m);
    double *x = new_doubles(rows * d), *row_sigma = new_doubles(rows);
    for (int s = 0; s < N_TEST_SIGMAS; s++) {
        mixture_queries(&m, x, rows, test_sigmas[s], seed + 10 + (uint64_t)s);
        double err = compare_denoise(&p, x, rows, d, &test_sigmas[s], 1, 0, 0);
        printf("k=%lld d=%lld r=%lld: sigma %g: relative error %.2e\n", (long long)k, (long long)d,
               (long long)r, test_sigmas[s], err);
        assert_true(err < tol);
    }
    for (int64_t i = 0; i < rows; i++) row_sigma[i] = test_sigmas[(i * 3) % N_TEST_SIGMAS];
    mixture_queries(&m, x, rows, 1.0, seed + 50);
    double err = compare_denoise(&p, x, rows, d, row_sigma, rows, 0, 1);
    printf("k=%lld: per-row sigmas, in place: relative error %.2e\n", (long long)k, err);
    assert_true(err < tol);
    free(x);
    free(row_sigma);
    unbind_pair(&p);
    ds_model_free(&m);
}

static void test_gaussian_denoiser(void **state) {
    (void)state;
    TU_SKIP_WITHOUT_CUDA();
    check_mixture(1, 48, 48, 37, 1e-5, tu_seed() + 40); // full rank
    check_mixture(1, 70, 9, 37, 1e-5, tu_seed() + 41);  // truncated, with residual
}

static void test_mixture_denoiser(void **state) {
    (void)state;
    TU_SKIP_WITHOUT_CUDA();
    check_mixture(5, 40, 40, 37, 1e-5, tu_seed() + 42);
    check_mixture(7, 65, 12, 37, 1e-5, tu_seed() + 43);
}

// The exact Gaussian flow for the teleport jumps and a jump upwards, written in place
// (out aliases x) on cuda.
static void check_flows(void) {
    const double jumps[][2] = {{80, 40.8}, {80, 8.4}, {5, 0.002}, {0.5, 20}};
    for (int rank = 0; rank < 2; rank++) {
        ds_model m;
        int64_t d = 50, r = rank ? 11 : d, rows = 29;
        make_mixture(&m, 1, d, r, tu_seed() + 60 + (uint64_t)rank);
        pair p = bind_pair(&m);
        double *x = new_doubles(rows * d), *a = new_doubles(rows * d), *ref = new_doubles(rows * d);
        for (int t = 0; t < 4; t++) {
            mixture_queries(&m, x, rows, jumps[t][0], tu_seed() + 70 + (uint64_t)t);
            ds_batch *cx = batch_from(p.cuda, x, rows, d), *rx = batch_from(p.ref, x, rows, d);
            ds_batch *rout = poisoned_batch(p.ref, rows, d);
            assert_int_equal(
                p.cuda->gaussian_flow(p.cuda, p.cuda_bm, cx, jumps[t][0], jumps[t][1], cx), 0);
            assert_int_equal(
                p.ref->gaussian_flow(p.ref, p.ref_bm, rx, jumps[t][0], jumps[t][1], rout), 0);
            p.cuda->download(p.cuda, cx, a);
            p.ref->download(p.ref, rout, ref);
            assert_all_finite(a, rows * d, "flow");
            double err = tu_rel_l2(a, ref, rows * d);
            printf("flow r=%lld %g -> %g: relative error %.2e\n", (long long)r, jumps[t][0],
                   jumps[t][1], err);
            assert_true(err < 1e-5);
            p.cuda->batch_free(p.cuda, cx);
            p.ref->batch_free(p.ref, rx);
            p.ref->batch_free(p.ref, rout);
        }
        free(x), free(a), free(ref);
        unbind_pair(&p);
        ds_model_free(&m);
    }
}

static void test_gaussian_flow(void **state) {
    (void)state;
    TU_SKIP_WITHOUT_CUDA();
    check_flows();
}

// Query blocks of 5 rows (37 = 7 x 5 + 2) through the mixture denoiser (per-row sigmas
// included) and the flow.
static void test_mixture_query_blocks(void **state) {
    (void)state;
    TU_SKIP_WITHOUT_CUDA();
    with_env("DIFFSAMP_CUDA_ROWS", "5");
    check_mixture(7, 65, 12, 37, 1e-5, tu_seed() + 44);
    check_flows();
    with_env("DIFFSAMP_CUDA_ROWS", NULL);
}

// More components (66,000) than a grid's y dimension holds.
static void test_many_components(void **state) {
    (void)state;
    TU_SKIP_WITHOUT_CUDA();
    // A float32 emulation gives <= 1.4e-7 (the SGEMM over k r = 132,000 terms included).
    // 8 rows: the density kernel runs one block per (row, component), slow under memcheck.
    check_mixture(66000, 3, 2, 8, 1e-5, tu_seed() + 45);
}

// Certified landing on cuda (compaction with move_rows on the device) against the dense
// ref run: float32 rounding as for cpu (2e-6 relative after 18 steps) plus the bound of
// host/solvers/landing.c.
static void test_landing_vs_dense_ref(void **state) {
    (void)state;
    TU_SKIP_WITHOUT_CUDA();
    tu_check_landing("cuda", "heun", 1, 2e-6);
    tu_check_landing("cuda", "dpmpp2m", 0, 2e-6);
}

static void test_move_rows(void **state) {
    (void)state;
    TU_SKIP_WITHOUT_CUDA();
    ds_backend *c = backend("cuda");
    tu_check_move_rows(c, tu_seed() + 90);
    ds_backend_free(c);
}

// n = 1 .. DS_LINCOMB_MAX inputs, into a fresh (poisoned) output and in place over the
// first and over the last input.
static void test_lincomb(void **state) {
    (void)state;
    TU_SKIP_WITHOUT_CUDA();
    ds_backend *c = backend("cuda"), *r = backend("ref");
    int64_t rows = 33, cols = 77, count = rows * cols;
    double *v = new_doubles(DS_LINCOMB_MAX * count), coef[DS_LINCOMB_MAX];
    double *a = new_doubles(count), *ref = new_doubles(count);
    tu_fill_normal(v, DS_LINCOMB_MAX * count, tu_seed() + 80);
    round_to_float(v, DS_LINCOMB_MAX * count);
    for (int n = 1; n <= DS_LINCOMB_MAX; n++) {
        tu_fill_normal(coef, n, tu_seed() + 81 + (uint64_t)n);
        for (int in_place = 0; in_place < 3; in_place++) {
            ds_batch *cv[DS_LINCOMB_MAX], *rv[DS_LINCOMB_MAX];
            for (int i = 0; i < n; i++) {
                cv[i] = batch_from(c, v + i * count, rows, cols);
                rv[i] = batch_from(r, v + i * count, rows, cols);
            }
            ds_batch *cout = in_place == 1   ? cv[0]
                             : in_place == 2 ? cv[n - 1]
                                             : poisoned_batch(c, rows, cols);
            ds_batch *rout = r->batch_new(r, rows, cols);
            c->lincomb(c, cout, n, coef, (const ds_batch *const *)cv);
            r->lincomb(r, rout, n, coef, (const ds_batch *const *)rv);
            c->download(c, cout, a);
            r->download(r, rout, ref);
            assert_all_finite(a, count, "lincomb");
            double err = tu_rel_l2(a, ref, count);
            if (err >= 1e-6)
                fail_msg("lincomb n=%d in_place=%d: relative error %.2e", n, in_place, err);
            if (!in_place) c->batch_free(c, cout);
            r->batch_free(r, rout);
            for (int i = 0; i < n; i++) c->batch_free(c, cv[i]), r->batch_free(r, rv[i]);
        }
    }
    free(v), free(a), free(ref);
    ds_backend_free(c);
    ds_backend_free(r);
}

static void test_copy(void **state) {
    (void)state;
    TU_SKIP_WITHOUT_CUDA();
    ds_backend *c = backend("cuda");
    int64_t rows = 19, cols = 53;
    double *x = new_doubles(rows * cols), *y = new_doubles(rows * cols);
    tu_fill_normal(x, rows * cols, tu_seed() + 90);
    round_to_float(x, rows * cols);
    ds_batch *src = batch_from(c, x, rows, cols), *dst = poisoned_batch(c, rows, cols);
    c->copy(c, dst, src);
    c->download(c, dst, y);
    assert_memory_equal(x, y, sizeof(double) * (size_t)(rows * cols));
    c->batch_free(c, src), c->batch_free(c, dst);
    free(x), free(y);
    ds_backend_free(c);
}

// Rows far from 0 (high counter words) and widths that are not multiples of 4.
static void test_randn_matches_ref(void **state) {
    (void)state;
    TU_SKIP_WITHOUT_CUDA();
#ifdef DIFFSAMP_HAVE_CUDA
    ds_backend *c = backend("cuda"), *r = backend("ref");
    uint64_t seed = tu_seed() * 0x9E3779B97F4A7C15ull;
    int64_t rows = 37, cols = 1001, first = ((int64_t)1 << 33) + 5, count = rows * cols;
    double *a = new_doubles(count), *ref = new_doubles(count);
    ds_batch *cb = poisoned_batch(c, rows, cols), *rb = r->batch_new(r, rows, cols);
    c->randn(c, cb, seed, first);
    r->randn(r, rb, seed, first);
    c->download(c, cb, a);
    r->download(r, rb, ref);
    int64_t one_ulp = 0;
    for (int64_t e = 0; e < count; e++) {
        float want = (float)ref[e], got = (float)a[e];
        if (got == want) continue;
        if (got != nextafterf(want, INFINITY) && got != nextafterf(want, -INFINITY))
            fail_msg("randn element %lld: %.9g vs ref %.9g (more than 1 ulp)", (long long)e, got,
                     want);
        one_ulp++;
    }
    printf("randn: %lld of %lld values differ by 1 ulp, the rest are equal\n", (long long)one_ulp,
           (long long)count);
    uint32_t *raw = calloc((size_t)count, sizeof(uint32_t));
    assert_int_equal(ds_cuda_philox_uniforms(seed, first, rows, cols, raw), 0);
    for (int64_t e = 0; e < count; e++) {
        int64_t i = e / cols, j = e % cols;
        assert_int_equal(raw[e], ds_philox_block(seed, first + i, j).v[j & 3]);
    }
    free(raw), free(a), free(ref);
    c->batch_free(c, cb), r->batch_free(r, rb);
    ds_backend_free(c);
    ds_backend_free(r);
#endif
}

// The call must refuse (return -1, or NULL for a bind) with a message rather than
// compute garbage; the recorded error is cleared first, so the message is the call's.
static void check_refusal(int rc, const char *what) {
    if (rc != -1) fail_msg("%s: returned %d, expected a refusal", what, rc);
    if (!ds_error()[0]) fail_msg("%s: refused without a message", what);
    printf("%s: refused: %s\n", what, ds_error());
}

#define EXPECT_REFUSAL(call, what)                                                                 \
    do {                                                                                           \
        ds_fail("%s", "");                                                                         \
        check_refusal(call, what);                                                                 \
    } while (0)

static void test_refusals(void **state) {
    (void)state;
    TU_SKIP_WITHOUT_CUDA();
    ds_model m;
    int64_t rows = 6, d = 20;
    make_empirical(&m, 100, d, tu_seed() + 110);
    ds_backend *c = backend("cuda");
    ds_bound_model *bm = c->bind(c, &m);
    if (!bm) fail_msg("cuda bind: %s", ds_error());
    double *x = new_doubles(rows * d);
    tu_fill_normal(x, rows * d, tu_seed() + 111);
    ds_batch *bx = batch_from(c, x, rows, d), *out = c->batch_new(c, rows, d);
    ds_batch *narrow = c->batch_new(c, rows, d - 1);
    const double bad[] = {0.0, -1.0, NAN, INFINITY};
    for (int i = 0; i < 4; i++)
        EXPECT_REFUSAL(c->denoise(c, bm, bx, &bad[i], 1, out, NULL), "denoise at a bad sigma");
    double one[6] = {1, 1, 1, 1, 1, 1};
    EXPECT_REFUSAL(c->denoise(c, bm, bx, one, 2, out, NULL), "denoise with 2 sigmas for 6 rows");
    EXPECT_REFUSAL(c->denoise(c, bm, bx, one, 1, narrow, NULL), "denoise into a narrower batch");
    EXPECT_REFUSAL(c->gaussian_flow(c, bm, bx, 1.0, 0.5, out),
                   "gaussian flow of an empirical model");
    c->batch_free(c, bx), c->batch_free(c, out), c->batch_free(c, narrow);
    c->unbind(c, bm);
    // A forced path that cannot hold d fails after the training set is uploaded: the
    // partial binding is released (compute-sanitizer and the leak check see the rest).
#ifdef DIFFSAMP_HAVE_CUDA
    ds_model wide;
    make_empirical(&wide, 50, DS_FUSED_MAX_D + 1, tu_seed() + 112);
    with_env("DIFFSAMP_CUDA_FUSED", "1");
    EXPECT_REFUSAL(c->bind(c, &wide) ? 0 : -1, "fused path forced above its largest d");
    with_env("DIFFSAMP_CUDA_FUSED", NULL);
    ds_model_free(&wide);
#endif
    ds_model gauss;
    make_mixture(&gauss, 1, d, d, tu_seed() + 113);
    free(gauss.eigvecs);
    gauss.eigvecs = NULL;
    EXPECT_REFUSAL(c->bind(c, &gauss) ? 0 : -1, "Gaussian model without eigenvectors");
    ds_model_free(&gauss);
    free(x);
    ds_backend_free(c);
    ds_model_free(&m);
}

// Heun over an EDM-like schedule 80 -> 0.5 (6 steps, 12 NFE) from the same Philox noise,
// on cuda and on ref (and cpu when that backend is built).
static void heun_run(const char *name, const ds_model *m, int64_t rows, uint64_t seed,
                     double *out) {
    const double sigmas[] = {80, 31.4, 11.0, 3.3, 1.5, 0.8, 0.5};
    ds_backend *b = backend(name);
    ds_bound_model *bm = b->bind(b, m);
    if (!bm) fail_msg("%s bind: %s", name, ds_error());
    ds_batch *noise = b->batch_new(b, rows, m->d), *x = poisoned_batch(b, rows, m->d);
    b->randn(b, noise, seed, 0);
    const double coef[1] = {sigmas[0]};
    const ds_batch *in[1] = {noise};
    b->lincomb(b, x, 1, coef, in);
    ds_solver_opts o;
    ds_solver_opts_default(&o);
    o.solver = "heun";
    ds_solver_ctx ctx = {.b = b, .model = bm};
    if (ds_solve(&ctx, &o, sigmas, 7, x)) fail_msg("%s heun: %s", name, ds_error());
    assert_int_equal(ctx.nfe, 12);
    b->download(b, x, out);
    b->batch_free(b, noise), b->batch_free(b, x);
    b->unbind(b, bm);
    ds_backend_free(b);
}

static void test_end_to_end_heun(void **state) {
    (void)state;
    TU_SKIP_WITHOUT_CUDA();
    ds_model m;
    int64_t rows = 16, d = 64;
    make_empirical(&m, 800, d, tu_seed() + 100);
    double *a = new_doubles(rows * d), *ref = new_doubles(rows * d);
    heun_run("cuda", &m, rows, tu_seed() + 101, a);
    heun_run("ref", &m, rows, tu_seed() + 101, ref);
    double err = tu_rel_l2(a, ref, rows * d);
    printf("heun cuda vs ref: relative error %.2e\n", err);
    assert_true(err < 1e-4);
    ds_backend *cpu = ds_backend_new("cpu");
    if (cpu) {
        ds_backend_free(cpu);
        heun_run("cpu", &m, rows, tu_seed() + 101, ref);
        err = tu_rel_l2(a, ref, rows * d);
        printf("heun cuda vs cpu: relative error %.2e\n", err);
        assert_true(err < 1e-4);
    } else {
        printf("heun cuda vs cpu: skipped (%s)\n", ds_error());
    }
    free(a), free(ref);
    ds_model_free(&m);
}

int main(void) {
    // Every kernel output and workspace buffer is filled with NaN before it is written.
    setenv("DIFFSAMP_CUDA_POISON", "1", 1);
    // DIFFSAMP_TEST_FILTER=pattern (* wildcards) runs only the matching tests (the
    // sanitizer stages of tools/bench_gpu.sh).
    const char *filter = getenv("DIFFSAMP_TEST_FILTER");
    if (filter) cmocka_set_test_filter(filter);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lincomb),
        cmocka_unit_test(test_move_rows),
        cmocka_unit_test(test_landing_vs_dense_ref),
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_randn_matches_ref),
        cmocka_unit_test(test_empirical_gemm_path),
        cmocka_unit_test(test_empirical_fused_path),
        cmocka_unit_test(test_chunked_training_set),
        cmocka_unit_test(test_nearest_row_small_sigma),
        cmocka_unit_test(test_fashion_mnist_subset),
        cmocka_unit_test(test_gaussian_denoiser),
        cmocka_unit_test(test_mixture_denoiser),
        cmocka_unit_test(test_gaussian_flow),
        cmocka_unit_test(test_mixture_query_blocks),
        cmocka_unit_test(test_many_components),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_end_to_end_heun),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
