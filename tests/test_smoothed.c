// smoothed (Scarvelis et al.'s smoothed closed-form score in the studio's Monte Carlo form,
// scfdm): the ref backend against the average, computed here, of the empirical
// denoiser over the perturbed queries x + smoothing sqrt(1 + sigma^2) eps_c with eps_c the
// Philox normals of (seed, c); smoothing 0 is the empirical denoiser; cpu against ref;
// bad options refused; the model folder round trip keeps the stream (same outputs).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_backend.h"
#include "ds_error.h"
#include "ds_philox.h"
#include "testutil.h"

static ds_data make_data(int64_t n, int64_t d, uint64_t seed, const char *dir) {
    ds_data data = {.n = n, .d = d, .dtype = DS_F64};
    double *x = malloc(sizeof(double) * (size_t)(n * d));
    tu_fill_normal(x, n * d, seed);
    for (int64_t e = 0; e < n * d; e++) x[e] = 0.3 + 0.8 * x[e];
    data.values = x;
    if (dir) {
        int64_t shape[2] = {n, d};
        snprintf(data.path, sizeof data.path, "%s/data.npy", dir);
        assert_int_equal(ds_npy_write_f64(data.path, x, 2, shape, DS_F64), 0);
    }
    return data;
}

static int fit(const ds_data *data, ds_model_kind kind, double smoothing, int64_t samples,
               uint64_t seed, ds_model *m) {
    ds_fit_opts o;
    ds_fit_opts_default(&o);
    o.smoothing = smoothing;
    o.smoothing_samples = samples;
    o.seed = seed;
    return ds_model_fit(data, kind, &o, m);
}

static void denoise(const char *backend, const ds_model *m, const double *x, int64_t rows,
                    const double *sigma, int64_t n_sigma, double *out) {
    ds_backend *b = ds_backend_new(backend);
    ds_bound_model *bm = b->bind(b, m);
    assert_non_null(bm);
    ds_batch *xb = b->batch_new(b, rows, m->d), *ob = b->batch_new(b, rows, m->d);
    assert_int_equal(b->upload(b, xb, x), 0);
    assert_int_equal(b->denoise(b, bm, xb, sigma, n_sigma, ob, NULL), 0);
    assert_int_equal(b->download(b, ob, out), 0);
    b->batch_free(b, xb);
    b->batch_free(b, ob);
    b->unbind(b, bm);
    ds_backend_free(b);
}

// Both sides sum the same float64 empirical outputs (in another order): 1e-13.
static void test_ref_is_the_average_over_perturbed_queries(void **state) {
    (void)state;
    const int64_t n = 60, d = 10, rows = 4, samples = 5;
    const uint64_t seed = tu_seed() % 1000003;
    ds_data data = make_data(n, d, tu_seed(), NULL);
    ds_model sm, emp;
    assert_int_equal(fit(&data, DS_MODEL_SMOOTHED, 0.15, samples, seed, &sm), 0);
    assert_int_equal(fit(&data, DS_MODEL_EMPIRICAL, 0, 1, 0, &emp), 0);
    double x[40], out[40], want[40], q[200], dq[200], sigmas[4] = {0.3, 0.3, 2.0, 5.0};
    tu_fill_normal(x, rows * d, tu_seed() + 1);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t c = 0; c < samples; c++)
            for (int64_t j = 0; j < d; j++)
                q[(i * samples + c) * d + j] = x[i * d + j] + 0.15 *
                                                                  sqrt(1 + sigmas[i] * sigmas[i]) *
                                                                  ds_philox_normal(seed, c, j);
    double s_all[20];
    for (int64_t e = 0; e < rows * samples; e++) s_all[e] = sigmas[e / samples];
    denoise("ref", &emp, q, rows * samples, s_all, rows * samples, dq);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < d; j++) {
            want[i * d + j] = 0;
            for (int64_t c = 0; c < samples; c++) want[i * d + j] += dq[(i * samples + c) * d + j];
            want[i * d + j] /= samples;
        }
    denoise("ref", &sm, x, rows, sigmas, rows, out);
    double err = tu_rel_l2(out, want, rows * d);
    printf("smoothed ref vs the average of the perturbed queries: %.2e\n", err);
    assert_true(err < 1e-13);
    ds_model_free(&sm);
    ds_model_free(&emp);
    ds_data_free(&data);
}

// smoothing 0: every perturbed query is x itself, so D is the empirical denoiser to
// rounding (the mean of equal values): 1e-14.
static void test_zero_smoothing_is_empirical(void **state) {
    (void)state;
    const int64_t n = 50, d = 8, rows = 5;
    ds_data data = make_data(n, d, tu_seed() + 2, NULL);
    ds_model sm, emp;
    assert_int_equal(fit(&data, DS_MODEL_SMOOTHED, 0, 3, 7, &sm), 0);
    assert_int_equal(fit(&data, DS_MODEL_EMPIRICAL, 0, 1, 0, &emp), 0);
    double x[40], out[40], want[40], sigma = 0.4;
    tu_fill_normal(x, rows * d, tu_seed() + 3);
    denoise("ref", &sm, x, rows, &sigma, 1, out);
    denoise("ref", &emp, x, rows, &sigma, 1, want);
    assert_true(tu_rel_l2(out, want, rows * d) < 1e-14);
    ds_model_free(&sm);
    ds_model_free(&emp);
    ds_data_free(&data);
}

// cpu against ref: each perturbed query goes through the cpu empirical denoiser, judged
// to 5e-6 against ref in test_cpu_backend (TOL_EMPIRICAL: its float32 products are
// recomputed in double near each maximum); the average of such outputs keeps that
// bound, and the float32 query rounding is part of what that bound covers.
static void test_cpu_matches_ref(void **state) {
    (void)state;
    const int64_t n = 400, d = 16, rows = 6;
    ds_data data = make_data(n, d, tu_seed() + 4, NULL);
    ds_model sm;
    assert_int_equal(fit(&data, DS_MODEL_SMOOTHED, 0.1, 8, 11, &sm), 0);
    double x[96], out[96], want[96];
    tu_fill_normal(x, rows * d, tu_seed() + 5);
    for (double sigma = 0.5; sigma < 50; sigma *= 4) {
        denoise("ref", &sm, x, rows, &sigma, 1, want);
        denoise("cpu", &sm, x, rows, &sigma, 1, out);
        double err = tu_rel_l2(out, want, rows * d);
        printf("smoothed sigma %5.1f: cpu vs ref %.2e\n", sigma, err);
        assert_true(err < 5e-6);
    }
    ds_model_free(&sm);
    ds_data_free(&data);
}

static void test_bad_options_and_folder(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    ds_data data = make_data(30, 6, tu_seed() + 6, dir);
    ds_model m, back;
    assert_int_equal(fit(&data, DS_MODEL_SMOOTHED, -0.1, 1, 0, &m), -1);
    assert_non_null(strstr(ds_error(), "smoothing -0.1 is invalid"));
    assert_int_equal(fit(&data, DS_MODEL_SMOOTHED, 0.1, 0, 0, &m), -1);
    assert_non_null(strstr(ds_error(), "0 smoothing samples"));
    assert_int_equal(fit(&data, DS_MODEL_SMOOTHED, 0.2, 4, 123, &m), 0);
    char folder[700];
    snprintf(folder, sizeof folder, "%s/smoothed", dir);
    assert_int_equal(ds_model_save(&m, folder), 0);
    assert_int_equal(ds_model_load(folder, &back), 0);
    assert_int_equal(back.kind, DS_MODEL_SMOOTHED);
    assert_true(back.smoothing == 0.2 && back.smoothing_samples == 4 && back.smoothing_seed == 123);
    double x[12], a[12], b[12], sigma = 0.6;
    tu_fill_normal(x, 12, tu_seed() + 7);
    denoise("ref", &m, x, 2, &sigma, 1, a);
    denoise("ref", &back, x, 2, &sigma, 1, b);
    assert_true(tu_max_abs_diff(a, b, 12) <= 1e-12);
    ds_model_free(&m);
    ds_model_free(&back);
    ds_data_free(&data);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_is_the_average_over_perturbed_queries),
        cmocka_unit_test(test_zero_smoothing_is_empirical),
        cmocka_unit_test(test_cpu_matches_ref),
        cmocka_unit_test(test_bad_options_and_folder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
