// The variance model (generalisation through variance, host/models/model_variance.c): the
// ref backend against a direct float64 transcription of its formula (distances, not the
// centred dot products; the Philox normals and their bins written out again); cpu against
// ref; kappa -> 0 gives the empirical model, and the change grows as sqrt(kappa); over many
// seeds the fluctuation's covariance is kappa times the posterior covariance (the DSM
// proxy variance); the model folder round trip; bad kappa refused.
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_backend.h"
#include "ds_error.h"
#include "ds_io.h"
#include "ds_philox.h"
#include "testutil.h"

static ds_data make_data(int64_t n, int64_t d, uint64_t seed, const char *dir) {
    ds_data data = {.n = n, .d = d, .dtype = DS_F64};
    double *x = malloc(sizeof(double) * (size_t)(n * d));
    tu_fill_normal(x, n * d, seed);
    for (int64_t e = 0; e < n * d; e++) x[e] = (double)(float)(0.2 + 0.9 * x[e]);
    data.values = x;
    if (dir) {
        int64_t shape[2] = {n, d};
        snprintf(data.path, sizeof data.path, "%s/data.npy", dir);
        assert_int_equal(ds_npy_write_f64(data.path, x, 2, shape, DS_F64), 0);
    }
    return data;
}

static int fit(const ds_data *data, ds_model_kind kind, double kappa, uint64_t seed, ds_model *m) {
    ds_fit_opts o;
    ds_fit_opts_default(&o);
    o.variance = kappa;
    o.seed = seed;
    return ds_model_fit(data, kind, &o, m);
}

static void denoise(const char *backend, const ds_model *m, const double *x, int64_t rows,
                    const double *sigma, double *out) {
    ds_backend *b = ds_backend_new(backend);
    ds_bound_model *bm = b->bind(b, m);
    assert_non_null(bm);
    ds_batch *xb = b->batch_new(b, rows, m->d), *ob = b->batch_new(b, rows, m->d);
    assert_int_equal(b->upload(b, xb, x), 0);
    assert_int_equal(b->denoise(b, bm, xb, sigma, rows, ob, NULL), 0);
    assert_int_equal(b->download(b, ob, out), 0);
    b->batch_free(b, xb);
    b->batch_free(b, ob);
    b->unbind(b, bm);
    ds_backend_free(b);
}

// The formula of model_variance.c written out: w from squared distances, z_i(sigma) from
// the bins of width ln(80 / 0.002) / 16 in log sigma, shifted by 2048.
static void direct(const ds_model *m, const double *x, double sigma, double *out) {
    int64_t n = m->data.n, d = m->d;
    double *l = malloc(sizeof(double) * (size_t)n), max = -DBL_MAX, total = 0;
    for (int64_t i = 0; i < n; i++) {
        double sq = 0;
        for (int64_t j = 0; j < d; j++) {
            double diff = x[j] - ((const double *)m->data.values)[i * d + j];
            sq += diff * diff;
        }
        l[i] = -sq / (2 * sigma * sigma);
        max = fmax(max, l[i]);
    }
    for (int64_t i = 0; i < n; i++) total += exp(l[i] - max);
    double dn[16] = {0};
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++)
            dn[j] += exp(l[i] - max) / total * ((const double *)m->data.values)[i * d + j];
    double u = log(sigma) / (log(40000.0) / 16), b = floor(u), f = u - b;
    for (int64_t j = 0; j < d; j++) out[j] = dn[j];
    for (int64_t i = 0; i < n; i++) {
        double z = cos(M_PI / 2 * f) * ds_philox_normal(m->variance_seed, i, (int64_t)b + 2048) +
                   sin(M_PI / 2 * f) * ds_philox_normal(m->variance_seed, i, (int64_t)b + 2049);
        double a = sqrt(m->variance * exp(l[i] - max) / total) * z;
        for (int64_t j = 0; j < d; j++)
            out[j] += a * (((const double *)m->data.values)[i * d + j] - dn[j]);
    }
    free(l);
}

enum { N = 40, D = 6, ROWS = 8 };

// Queries near the data (float-exact, so cpu and ref see the same batch), sigmas from
// 0.05 to 8 (log-spread, so several bins and their interpolation are crossed).
static void queries(uint64_t seed, double *x, double *sigmas) {
    tu_fill_normal(x, ROWS * D, seed);
    for (int64_t e = 0; e < ROWS * D; e++) x[e] = (double)(float)(0.2 + 1.1 * x[e]);
    double u[ROWS];
    tu_fill_uniform(u, ROWS, seed + 7, log(0.05), log(8.0));
    for (int i = 0; i < ROWS; i++) sigmas[i] = exp(u[i]);
}

// Both in float64, the same terms summed in another order and the weights from distances
// instead of dot products: logits up to |x - y|^2 / sigma^2 ~ 1e4 carry ~1e-12 absolute
// error, so 1e-10 relative.
static void test_ref_matches_the_formula(void **state) {
    (void)state;
    uint64_t seed = tu_seed();
    ds_data data = make_data(N, D, seed, NULL);
    double kappa[1];
    tu_fill_uniform(kappa, 1, seed + 1, 0.1, 2.0);
    ds_model m;
    assert_int_equal(fit(&data, DS_MODEL_VARIANCE, kappa[0], seed % 100003, &m), 0);
    double x[ROWS * D], sig[ROWS], out[ROWS * D], want[ROWS * D];
    queries(seed + 2, x, sig);
    denoise("ref", &m, x, ROWS, sig, out);
    for (int i = 0; i < ROWS; i++) direct(&m, x + i * D, sig[i], want + i * D);
    double err = tu_rel_l2(out, want, ROWS * D);
    printf("variance ref vs the formula (kappa %.3f): %.2e\n", kappa[0], err);
    assert_true(err < 1e-10);
    ds_model_free(&m);
    ds_data_free(&data);
}

// cpu: float32 batches, everything else in double (DGEMM): the output rounding (2^-24
// relative per entry) dominates; 1e-6 leaves a margin for the summation order.
static void test_cpu_matches_ref(void **state) {
    (void)state;
    uint64_t seed = tu_seed() + 11;
    ds_data data = make_data(N, D, seed, NULL);
    ds_model m;
    assert_int_equal(fit(&data, DS_MODEL_VARIANCE, 0.7, seed % 100003, &m), 0);
    double x[ROWS * D], sig[ROWS], out[ROWS * D], want[ROWS * D];
    queries(seed + 2, x, sig);
    sig[1] = sig[0]; // rows sharing a sigma share their normals
    denoise("ref", &m, x, ROWS, sig, want);
    denoise("cpu", &m, x, ROWS, sig, out);
    double err = tu_rel_l2(out, want, ROWS * D);
    printf("variance cpu vs ref: %.2e\n", err);
    assert_true(err < 1e-6);
    ds_model_free(&m);
    ds_data_free(&data);
}

// kappa = 0 is the empirical model (the same weights and sums: 1e-14); the fluctuation is
// sqrt(kappa) times a fixed vector, so the difference to the empirical denoiser scales by
// exactly 10 from kappa 1e-6 to 1e-4 (to the float64 rounding of the small difference).
static void test_kappa_to_zero_is_empirical(void **state) {
    (void)state;
    uint64_t seed = tu_seed() + 23;
    ds_data data = make_data(N, D, seed, NULL);
    ds_model emp, v0, v1, v2;
    assert_int_equal(fit(&data, DS_MODEL_EMPIRICAL, 0, 0, &emp), 0);
    assert_int_equal(fit(&data, DS_MODEL_VARIANCE, 0, 5, &v0), 0);
    assert_int_equal(fit(&data, DS_MODEL_VARIANCE, 1e-6, 5, &v1), 0);
    assert_int_equal(fit(&data, DS_MODEL_VARIANCE, 1e-4, 5, &v2), 0);
    double x[ROWS * D], sig[ROWS], e[ROWS * D], o0[ROWS * D], o1[ROWS * D], o2[ROWS * D];
    queries(seed + 2, x, sig);
    denoise("ref", &emp, x, ROWS, sig, e);
    denoise("ref", &v0, x, ROWS, sig, o0);
    denoise("ref", &v1, x, ROWS, sig, o1);
    denoise("ref", &v2, x, ROWS, sig, o2);
    double err0 = tu_rel_l2(o0, e, ROWS * D), d1 = 0, d2 = 0;
    for (int k = 0; k < ROWS * D; k++) d1 += pow(o1[k] - e[k], 2), d2 += pow(o2[k] - e[k], 2);
    double ratio = sqrt(d2 / d1);
    printf("kappa 0 vs empirical: %.2e; difference ratio kappa 1e-4 / 1e-6: %.8f\n", err0, ratio);
    assert_true(err0 < 1e-14);
    assert_true(d1 > 0 && fabs(ratio - 10) < 1e-6);
    ds_model_free(&emp), ds_model_free(&v0), ds_model_free(&v1), ds_model_free(&v2);
    ds_data_free(&data);
}

// Over S seeds, D_var(x) - D(x) is a Gaussian vector of covariance kappa Cov[x0 | x]. The
// sample covariance's squared Frobenius error has mean ((tr C)^2 + |C|_F^2) / S <= 2 d
// |C|_F^2 / S (d = 2 here), so its relative error squared has mean <= 4 / S; the bound
// used, sqrt(40 x 4 / S) (40 times that mean), is exceeded with probability below P(chi2_1 > 40) ~
// 3e-10.
static void test_fluctuation_covariance_is_the_proxy_variance(void **state) {
    (void)state;
    enum { n = 12, d = 2, S = 8000 };
    uint64_t seed = tu_seed() + 31;
    ds_data data = make_data(n, d, seed, NULL);
    ds_model m, emp;
    double kappa = 0.5, sigma = 0.6;
    assert_int_equal(fit(&data, DS_MODEL_VARIANCE, kappa, 0, &m), 0);
    assert_int_equal(fit(&data, DS_MODEL_EMPIRICAL, 0, 0, &emp), 0);
    double x[d], dn[d], out[d], cov[4] = {0}, want[4] = {0};
    tu_fill_normal(x, d, seed + 3);
    denoise("ref", &emp, x, 1, &sigma, dn);
    // the posterior covariance sum_i w_i (y_i - D)(y_i - D)^T, from the direct weights
    double l[n], max = -DBL_MAX, total = 0;
    const double *y = data.values;
    for (int i = 0; i < n; i++) {
        l[i] = -(pow(x[0] - y[2 * i], 2) + pow(x[1] - y[2 * i + 1], 2)) / (2 * sigma * sigma);
        max = fmax(max, l[i]);
    }
    for (int i = 0; i < n; i++) total += exp(l[i] - max);
    for (int i = 0; i < n; i++)
        for (int a = 0; a < d; a++)
            for (int b = 0; b < d; b++)
                want[a * d + b] += kappa * exp(l[i] - max) / total * (y[2 * i + a] - dn[a]) *
                                   (y[2 * i + b] - dn[b]);
    ds_backend *be = ds_backend_new("ref");
    ds_bound_model *bm = be->bind(be, &m);
    ds_batch *xb = be->batch_new(be, 1, d), *ob = be->batch_new(be, 1, d);
    assert_int_equal(be->upload(be, xb, x), 0);
    for (int s = 0; s < S; s++) {
        m.variance_seed = (uint64_t)s + seed % 1000003 * S;
        assert_int_equal(be->denoise(be, bm, xb, &sigma, 1, ob, NULL), 0);
        assert_int_equal(be->download(be, ob, out), 0);
        for (int a = 0; a < d; a++)
            for (int b = 0; b < d; b++) cov[a * d + b] += (out[a] - dn[a]) * (out[b] - dn[b]) / S;
    }
    double err = tu_rel_l2(cov, want, 4), bound = sqrt(40.0 * 2 * d / S);
    printf("fluctuation covariance vs kappa Cov[x0|x]: %.3e (bound %.3e)\n", err, bound);
    assert_true(err < bound);
    be->batch_free(be, xb), be->batch_free(be, ob);
    be->unbind(be, bm);
    ds_backend_free(be);
    ds_model_free(&m), ds_model_free(&emp);
    ds_data_free(&data);
}

static void test_folder_round_trip_and_bad_kappa(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    ds_data data = make_data(N, D, tu_seed() + 41, dir);
    ds_model m, back;
    assert_int_equal(fit(&data, DS_MODEL_VARIANCE, -0.5, 0, &m), -1);
    assert_non_null(strstr(ds_error(), "kappa -0.5 is invalid"));
    assert_int_equal(fit(&data, DS_MODEL_VARIANCE, 0.25, 77, &m), 0);
    char folder[DS_PATH_MAX];
    snprintf(folder, sizeof folder, "%s/model", dir);
    assert_int_equal(ds_model_save(&m, folder), 0);
    assert_int_equal(ds_model_load(folder, &back), 0);
    assert_int_equal(back.kind, DS_MODEL_VARIANCE);
    assert_true(back.variance == 0.25 && back.variance_seed == 77);
    double x[ROWS * D], sig[ROWS], a[ROWS * D], b[ROWS * D];
    queries(tu_seed() + 43, x, sig);
    denoise("ref", &m, x, ROWS, sig, a);
    denoise("ref", &back, x, ROWS, sig, b);
    assert_true(tu_max_abs_diff(a, b, ROWS * D) == 0);
    ds_model_free(&m), ds_model_free(&back);
    ds_data_free(&data);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_matches_the_formula),
        cmocka_unit_test(test_cpu_matches_ref),
        cmocka_unit_test(test_kappa_to_zero_is_empirical),
        cmocka_unit_test(test_fluctuation_covariance_is_the_proxy_variance),
        cmocka_unit_test(test_folder_round_trip_and_bad_kappa),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
