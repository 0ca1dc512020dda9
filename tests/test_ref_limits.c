// Limits and closed forms of the float64 ref backend on fitted models: sigma -> 0 gives
// the nearest training row, sigma -> infinity the data mean; a mixture with K = 1 is the
// Gaussian model; the Gaussian denoiser is mu + C (C + sigma^2 I)^-1 (x - mu); the exact
// Gaussian flow agrees with the probability-flow ODE integrated numerically.
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_backend.h"
#include "ds_error.h"
#include "testutil.h"

// n rows of dimension d: normal, mixed by a random matrix, with a non-zero mean.
static ds_data make_data(int64_t n, int64_t d, uint64_t seed) {
    ds_data data = {.n = n, .d = d, .dtype = DS_F64};
    double *z = malloc(sizeof(double) * (size_t)(n * d)), *a = malloc(sizeof(double) * d * d);
    tu_fill_normal(z, n * d, seed);
    tu_fill_uniform(a, d * d, seed + 1, -1, 1);
    double *x = malloc(sizeof(double) * (size_t)(n * d));
    data.values = x;
    for (int64_t s = 0; s < n; s++)
        for (int64_t i = 0; i < d; i++) {
            double v = 1 + 0.3 * (double)i;
            for (int64_t j = 0; j < d; j++) v += z[s * d + j] * a[j * d + i];
            x[s * d + i] = v;
        }
    free(z);
    free(a);
    return data;
}

static void fit(const ds_data *data, ds_model_kind kind, int64_t k, int64_t rank, ds_model *m) {
    ds_fit_opts o;
    ds_fit_opts_default(&o);
    o.k = k;
    o.rank = rank;
    o.seed = tu_seed();
    assert_int_equal(ds_model_fit(data, kind, &o, m), 0);
}

// D(x; sigma) on the ref backend for rows x (one sigma, or one per row).
static void denoise(const ds_model *m, const double *x, int64_t rows, const double *sigma,
                    int64_t n_sigma, double *out, ds_diag *diag) {
    ds_backend *b = ds_backend_new("ref");
    ds_bound_model *bm = b->bind(b, m);
    ds_batch *xb = b->batch_new(b, rows, m->d), *ob = b->batch_new(b, rows, m->d);
    assert_int_equal(b->upload(b, xb, x), 0);
    assert_int_equal(b->denoise(b, bm, xb, sigma, n_sigma, ob, diag), 0);
    assert_int_equal(b->download(b, ob, out), 0);
    b->batch_free(b, xb);
    b->batch_free(b, ob);
    b->unbind(b, bm);
    ds_backend_free(b);
}

static double sq_dist(const double *y, const double *x, int64_t d) {
    double s = 0;
    for (int64_t j = 0; j < d; j++) s += (x[j] - y[j]) * (x[j] - y[j]);
    return s;
}

// sigma = 1e-4: queries near training rows and random queries. Where the two smallest
// squared distances differ by more than 1e-6, the runner-up's softmax weight is below
// exp(-1e-6 / (2 * 1e-8)) = exp(-50), so D is the nearest row to float64 rounding
// (1e-12 relative), and the diagnostics name it with weight 1.
static void test_small_sigma_returns_nearest_row(void **state) {
    (void)state;
    const int64_t n = 64, d = 8, rows = 32;
    ds_data data = make_data(n, d, tu_seed());
    const double *y = data.values;
    ds_model m;
    fit(&data, DS_MODEL_EMPIRICAL, 0, 0, &m);
    double x[256], out[256], noise[256], top_weight[32], sigma = 1e-4;
    int64_t top[32];
    tu_fill_normal(noise, rows * d, tu_seed() + 1);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < d; j++)
            x[i * d + j] =
                i % 2 ? y[(i * 7 % n) * d + j] + 0.05 * noise[i * d + j] : 1 + 2 * noise[i * d + j];
    ds_diag diag = {.top_index = top, .top_weight = top_weight};
    denoise(&m, x, rows, &sigma, 1, out, &diag);
    int checked = 0;
    for (int64_t i = 0; i < rows; i++) {
        int64_t best = 0;
        double first = INFINITY, second = INFINITY;
        for (int64_t s = 0; s < n; s++) {
            double q = sq_dist(y + s * d, x + i * d, d);
            if (q < first)
                second = first, first = q, best = s;
            else if (q < second)
                second = q;
        }
        if (second - first <= 1e-6) continue;
        checked++;
        assert_int_equal(top[i], best);
        assert_true(top_weight[i] > 1 - 1e-12);
        for (int64_t j = 0; j < d; j++)
            assert_true(fabs(out[i * d + j] - y[best * d + j]) <=
                        1e-12 * (1 + fabs(y[best * d + j])));
    }
    assert_true(checked >= rows / 2);
    ds_model_free(&m);
    ds_data_free(&data);
}

// sigma = 1e6: every kind returns the data mean. The deviation is of order
// |x - y|^2 / sigma^2 ~ 1e-10 times the data scale (empirical: softmax weights
// 1/N (1 + O(l)), l ~ 100 / 1e12; Gaussian: lam / (lam + sigma^2); mixture: rho_k = pi_k
// (1 + O(1e-10)), and sum pi_k mu_k is the data mean to rounding). Tolerance 1e-8.
static void test_large_sigma_returns_mean(void **state) {
    (void)state;
    const int64_t n = 200, d = 8, rows = 16;
    ds_data data = make_data(n, d, tu_seed() + 10);
    const double *y = data.values;
    double mean[8] = {0}, x[128], out[128], sigma = 1e6;
    for (int64_t s = 0; s < n; s++)
        for (int64_t j = 0; j < d; j++) mean[j] += y[s * d + j] / (double)n;
    tu_fill_normal(x, rows * d, tu_seed() + 11);
    for (int64_t i = 0; i < rows * d; i++) x[i] = mean[i % d] + 3 * x[i];
    for (int kind = 0; kind < 3; kind++) {
        ds_model m;
        fit(&data, (ds_model_kind)kind, 3, 0, &m);
        denoise(&m, x, rows, &sigma, 1, out, NULL);
        for (int64_t i = 0; i < rows * d; i++) assert_true(fabs(out[i] - mean[i % d]) <= 1e-8);
        ds_model_free(&m);
    }
    ds_data_free(&data);
}

// Per-row sigmas from 0.002 to 80, log-spaced.
static void sigma_ladder(double *sigma, int64_t rows) {
    for (int64_t i = 0; i < rows; i++)
        sigma[i] = 0.002 * pow(80 / 0.002, (double)i / (double)(rows - 1));
}

// A mixture fitted with K = 1 is the Gaussian model: same parameters, so the denoisers
// agree to 1e-12 (relative to max |D|) at every sigma, full rank and rank 4.
static void test_gmm_k1_equals_gaussian(void **state) {
    (void)state;
    const int64_t n = 300, d = 10, rows = 16;
    ds_data data = make_data(n, d, tu_seed() + 20);
    double x[160], a[160], b[160], sigma[16];
    tu_fill_normal(x, rows * d, tu_seed() + 21);
    for (int64_t i = 0; i < rows * d; i++) x[i] = 1 + 2 * x[i];
    sigma_ladder(sigma, rows);
    for (int64_t rank = 0; rank <= 4; rank += 4) {
        ds_model g, mix;
        fit(&data, DS_MODEL_GAUSSIAN, 1, rank, &g);
        fit(&data, DS_MODEL_GMM, 1, rank, &mix);
        assert_int_equal(mix.k, 1);
        denoise(&g, x, rows, sigma, rows, a, NULL);
        denoise(&mix, x, rows, sigma, rows, b, NULL);
        double scale = 0;
        for (int64_t i = 0; i < rows * d; i++) scale = fmax(scale, fabs(a[i]));
        assert_true(tu_max_abs_diff(a, b, rows * d) <= 1e-12 * scale);
        ds_model_free(&g);
        ds_model_free(&mix);
    }
    ds_data_free(&data);
}

// The full-rank Gaussian denoiser against its definition, with the covariance computed
// here by plain loops and one Cholesky solve per row (LAPACKE_dposv): relative L2 error
// below 1e-10. The conditioning of C + sigma^2 I is at most ~1e4 here (smallest
// eigenvalue ~1e-3 of a 10 x 10 random mixing), so float64 leaves ~1e-12.
static void test_gaussian_denoiser_closed_form(void **state) {
    (void)state;
    const int64_t n = 300, d = 10, rows = 16;
    ds_data data = make_data(n, d, tu_seed() + 30);
    const double *y = data.values;
    double x[160], out[160], want[160], sigma[16], mu[10] = {0}, cov[100] = {0};
    for (int64_t s = 0; s < n; s++)
        for (int64_t j = 0; j < d; j++) mu[j] += y[s * d + j] / (double)n;
    for (int64_t s = 0; s < n; s++)
        for (int64_t i = 0; i < d; i++)
            for (int64_t j = 0; j < d; j++)
                cov[i * d + j] += (y[s * d + i] - mu[i]) * (y[s * d + j] - mu[j]) / n;
    tu_fill_normal(x, rows * d, tu_seed() + 31);
    for (int64_t i = 0; i < rows * d; i++) x[i] = mu[i % d] + 2 * x[i];
    sigma_ladder(sigma, rows);
    ds_model g;
    fit(&data, DS_MODEL_GAUSSIAN, 1, 0, &g);
    denoise(&g, x, rows, sigma, rows, out, NULL);
    for (int64_t i = 0; i < rows; i++) {
        double sys[100], rhs[10];
        for (int64_t p = 0; p < d * d; p++)
            sys[p] = cov[p] + (p % (d + 1) == 0) * sigma[i] * sigma[i];
        for (int64_t j = 0; j < d; j++) rhs[j] = x[i * d + j] - mu[j];
        assert_int_equal(
            LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', (lapack_int)d, 1, sys, (lapack_int)d, rhs, 1), 0);
        for (int64_t p = 0; p < d; p++) {
            want[i * d + p] = mu[p];
            for (int64_t j = 0; j < d; j++) want[i * d + p] += cov[p * d + j] * rhs[j];
        }
    }
    assert_true(tu_rel_l2(out, want, rows * d) <= 1e-10);
    ds_model_free(&g);
    ds_data_free(&data);
}

// dx/dsigma = (x - D(x; sigma)) / sigma from sigma_a to sigma_b by classical RK4 on a
// grid of `steps` points geometric in sigma, D from the ref backend.
static void integrate_ode(ds_backend *b, ds_bound_model *bm, double *x, int64_t rows, int64_t d,
                          double sigma_a, double sigma_b, int steps) {
    int64_t count = rows * d;
    ds_batch *xb = b->batch_new(b, rows, d), *db = b->batch_new(b, rows, d);
    double *k[4], *stage = malloc(sizeof(double) * (size_t)count);
    for (int s = 0; s < 4; s++) k[s] = malloc(sizeof(double) * (size_t)count);
    double ratio = pow(sigma_b / sigma_a, 1.0 / steps), s0 = sigma_a;
    for (int step = 0; step < steps; step++) {
        double s1 = s0 * ratio, h = s1 - s0;
        const double at[4] = {s0, s0 + h / 2, s0 + h / 2, s1}, from[4] = {0, h / 2, h / 2, h};
        for (int s = 0; s < 4; s++) {
            for (int64_t e = 0; e < count; e++) stage[e] = x[e] + (s ? from[s] * k[s - 1][e] : 0);
            assert_int_equal(b->upload(b, xb, stage), 0);
            assert_int_equal(b->denoise(b, bm, xb, &at[s], 1, db, NULL), 0);
            assert_int_equal(b->download(b, db, k[s]), 0);
            for (int64_t e = 0; e < count; e++) k[s][e] = (stage[e] - k[s][e]) / at[s];
        }
        for (int64_t e = 0; e < count; e++)
            x[e] += h / 6 * (k[0][e] + 2 * k[1][e] + 2 * k[2][e] + k[3][e]);
        s0 = s1;
    }
    for (int s = 0; s < 4; s++) free(k[s]);
    free(stage);
    b->batch_free(b, xb);
    b->batch_free(b, db);
}

// The exact Gaussian flow from sigma 80 to 0.05 (full rank, and rank 4 with residual)
// against RK4 on 1,000 geometric steps. Measured: relative error 1.4e-11 with 1,000
// steps and 8.6e-13 with 2,000 (the factor 16 of a fourth-order method), so the
// tolerance 1e-9 leaves a margin of ~70 over the integration error.
static void test_gaussian_flow_matches_ode(void **state) {
    (void)state;
    const int64_t n = 300, d = 10, rows = 6;
    const double sigma_a = 80, sigma_b = 0.05;
    ds_data data = make_data(n, d, tu_seed() + 40);
    double x0[60], ode[60], flow[60];
    tu_fill_normal(x0, rows * d, tu_seed() + 41);
    for (int64_t rank = 0; rank <= 4; rank += 4) {
        ds_model g;
        fit(&data, DS_MODEL_GAUSSIAN, 1, rank, &g);
        for (int64_t i = 0; i < rows * d; i++) ode[i] = g.mean[i % d] + sigma_a * x0[i];
        ds_backend *b = ds_backend_new("ref");
        ds_bound_model *bm = b->bind(b, &g);
        ds_batch *xb = b->batch_new(b, rows, d), *fb = b->batch_new(b, rows, d);
        assert_int_equal(b->upload(b, xb, ode), 0);
        assert_int_equal(b->gaussian_flow(b, bm, xb, sigma_a, sigma_b, fb), 0);
        assert_int_equal(b->download(b, fb, flow), 0);
        integrate_ode(b, bm, ode, rows, d, sigma_a, sigma_b, 1000);
        double err = tu_rel_l2(ode, flow, rows * d);
        printf("rank %lld: flow vs RK4 relative L2 error %.2e\n", (long long)rank, err);
        assert_true(err <= 1e-9);
        b->batch_free(b, xb);
        b->batch_free(b, fb);
        b->unbind(b, bm);
        ds_backend_free(b);
        ds_model_free(&g);
    }
    ds_data_free(&data);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_sigma_returns_nearest_row),
        cmocka_unit_test(test_large_sigma_returns_mean),
        cmocka_unit_test(test_gmm_k1_equals_gaussian),
        cmocka_unit_test(test_gaussian_denoiser_closed_form),
        cmocka_unit_test(test_gaussian_flow_matches_ode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
