// ls (Kamb & Ganguli's local score machine): the ref backend against a direct float64
// transcription of their code's formula (squared differences summed over channels, then
// over the patch with zero padding, a softmax over training images per spatial position
// weighting every channel), grey and RGB; a patch covering the image from every pixel
// gives the empirical denoiser; sigma -> infinity the mean; cpu against ref; bad patch
// sizes and data without an image shape are refused; the model folder round trip; a
// patch schedule (a patch per noise level).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_backend.h"
#include "ds_error.h"
#include "testutil.h"

static void fit(const ds_data *data, ds_model_kind kind, int64_t patch, ds_model *m) {
    ds_fit_opts o;
    ds_fit_opts_default(&o);
    o.patch_size = patch;
    assert_int_equal(ds_model_fit(data, kind, &o, m), 0);
}

// The formula as their code computes it: q[k][i][j] = sum_c (x - y_k)^2 at (c, i, j);
// the logit of image k at (i, j) is -sum of q over the patch (zero outside the image)
// / (2 sigma^2); the softmax over k at (i, j) weights pixel (c, i, j) of every image.
static void direct_ls(const ds_data *data, int patch, const double *x, double sigma, double *out) {
    int64_t n = data->n, c = data->channels, h = data->height, w = data->width, r = patch / 2;
    double *q = calloc((size_t)(n * h * w), sizeof(double)), *logit = malloc(sizeof(double) * n);
    for (int64_t k = 0; k < n; k++)
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t p = 0; p < h * w; p++) {
                double diff = x[ch * h * w + p] - ds_data_value(data, k, ch * h * w + p);
                q[k * h * w + p] += diff * diff;
            }
    for (int64_t i = 0; i < h; i++)
        for (int64_t j = 0; j < w; j++) {
            double top = -INFINITY;
            for (int64_t k = 0; k < n; k++) {
                double s = 0;
                for (int64_t a = -r; a <= r; a++)
                    for (int64_t b = -r; b <= r; b++)
                        if (i + a >= 0 && i + a < h && j + b >= 0 && j + b < w)
                            s += q[k * h * w + (i + a) * w + (j + b)];
                logit[k] = -s / (2 * sigma * sigma);
                top = fmax(top, logit[k]);
            }
            for (int64_t ch = 0; ch < c; ch++) {
                double z = 0, sum = 0;
                for (int64_t k = 0; k < n; k++) {
                    double e = exp(logit[k] - top);
                    z += e;
                    sum += e * ds_data_value(data, k, (ch * h + i) * w + j);
                }
                out[(ch * h + i) * w + j] = sum / z;
            }
        }
    free(q);
    free(logit);
}

// Both float64, the same terms summed in another order: the logits (at most ~d * 9 /
// (2 * 0.04) ~ 7e3) agree to ~1e-16 of their size, ~1e-12 absolute, so the outputs to
// ~1e-12 relative; tolerance 1e-10.
static void test_ref_matches_direct_formula(void **state) {
    (void)state;
    const int shapes[2][3] = {{1, 5, 6}, {3, 4, 5}}, patches[3] = {1, 3, 5};
    const double sigmas[3] = {0.2, 1.0, 4.0};
    for (int s = 0; s < 2; s++) {
        const int c = shapes[s][0], h = shapes[s][1], w = shapes[s][2];
        const int64_t n = 25, d = (int64_t)c * h * w, rows = 3;
        ds_data data = tu_images(n, c, h, w, tu_seed() + s, NULL);
        double *x = malloc(sizeof(double) * (size_t)(rows * d)),
               *out = malloc(sizeof *out * rows * d), *want = malloc(sizeof *want * rows * d);
        tu_fill_uniform(x, rows * d, tu_seed() + 10 + s, -1.5, 1.5);
        for (int p = 0; p < 3; p++) {
            ds_model m;
            fit(&data, DS_MODEL_LS, patches[p], &m);
            for (int g = 0; g < 3; g++) {
                for (int64_t i = 0; i < rows; i++)
                    direct_ls(&data, patches[p], x + i * d, sigmas[g], want + i * d);
                tu_denoise("ref", &m, x, rows, sigmas[g], out);
                double err = tu_rel_l2(out, want, rows * d);
                printf("%dx%dx%d patch %d sigma %.1f: ref vs direct %.2e\n", c, h, w, patches[p],
                       sigmas[g], err);
                assert_true(err < 1e-10);
            }
            ds_model_free(&m);
        }
        free(x);
        free(out);
        free(want);
        ds_data_free(&data);
    }
}

// Patch 2 max(h, w) - 1 covers the whole image from every pixel: every logit is
// -|x - y_k|^2 / (2 sigma^2), the empirical denoiser's (float64 both: 1e-10). At sigma
// 1e6 every weight is 1/N (1 + O(1e-11)): the mean to 1e-8.
static void test_whole_image_patch_and_large_sigma(void **state) {
    (void)state;
    const int64_t n = 40, d = 60, rows = 4;
    ds_data data = tu_images(n, 3, 4, 5, tu_seed() + 20, NULL);
    double x[240], out[240], want[240];
    tu_fill_uniform(x, rows * d, tu_seed() + 21, -1.2, 1.2);
    ds_model m, emp;
    fit(&data, DS_MODEL_LS, 9, &m);
    fit(&data, DS_MODEL_EMPIRICAL, 0, &emp);
    for (double sigma = 0.3; sigma < 10; sigma *= 5) {
        tu_denoise("ref", &m, x, rows, sigma, out);
        tu_denoise("ref", &emp, x, rows, sigma, want);
        double err = tu_rel_l2(out, want, rows * d);
        printf("whole-image patch vs empirical at sigma %.1f: %.2e\n", sigma, err);
        assert_true(err < 1e-10);
    }
    ds_model_free(&m);
    fit(&data, DS_MODEL_LS, 3, &m);
    tu_denoise("ref", &m, x, rows, 1e6, out);
    for (int64_t e = 0; e < rows * d; e++)
        assert_true(fabs(out[e] - m.mean[e % d]) <= 1e-8 * (1 + fabs(m.mean[e % d])));
    ds_model_free(&m);
    ds_model_free(&emp);
    ds_data_free(&data);
}

// cpu against ref on the float32 query the cpu backend holds: tu_local_cpu_tol.
static void test_cpu_matches_ref(void **state) {
    (void)state;
    const int64_t n = 200, d = 48, rows = 6;
    ds_data data = tu_images(n, 3, 4, 4, tu_seed() + 30, NULL);
    double x[288], out[288], want[288];
    tu_fill_uniform(x, rows * d, tu_seed() + 31, -1.2, 1.2);
    for (int64_t e = 0; e < rows * d; e++) x[e] = (float)x[e];
    for (int patch = 1; patch <= 5; patch += 2) {
        ds_model m;
        fit(&data, DS_MODEL_LS, patch, &m);
        for (double sigma = 0.1; sigma < 50; sigma *= 7) {
            tu_denoise("ref", &m, x, rows, sigma, want);
            tu_denoise("cpu", &m, x, rows, sigma, out);
            double err = tu_rel_l2(out, want, rows * d);
            double tol = tu_local_cpu_tol(&m, x, rows, &sigma, 1, want);
            printf("patch %d sigma %5.1f: cpu vs ref %.2e (tol %.1e)\n", patch, sigma, err, tol);
            assert_true(err < tol);
        }
        ds_model_free(&m);
    }
    ds_data_free(&data);
}

static void expect_refused(const ds_data *data, int64_t patch, const char *want) {
    ds_fit_opts o;
    ds_fit_opts_default(&o);
    o.patch_size = patch;
    ds_model m;
    assert_int_equal(ds_model_fit(data, DS_MODEL_LS, &o, &m), -1);
    assert_non_null(strstr(ds_error(), want));
}

static void test_bad_patches_and_folder(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    ds_data data = tu_images(20, 1, 4, 6, tu_seed() + 40, dir);
    expect_refused(&data, 4, "patch size 4 (expected odd, 1 .. 11");
    expect_refused(&data, 13, "patch size 13");
    expect_refused(&data, 0, "patch size 0");
    ds_data flat = data;
    flat.channels = flat.height = flat.width = 0;
    expect_refused(&flat, 3, "needs images");
    ds_model m, back;
    fit(&data, DS_MODEL_LS, 5, &m);
    char folder[700];
    snprintf(folder, sizeof folder, "%s/ls", dir);
    assert_int_equal(ds_model_save(&m, folder), 0);
    assert_int_equal(ds_model_load(folder, &back), 0);
    assert_int_equal(back.kind, DS_MODEL_LS);
    assert_int_equal(back.patch_size, 5);
    double x[48], a[48], b[48];
    tu_fill_uniform(x, 48, tu_seed() + 41, -1, 1);
    tu_denoise("ref", &m, x, 2, 0.5, a);
    tu_denoise("ref", &back, x, 2, 0.5, b);
    assert_true(tu_max_abs_diff(a, b, 48) <= 1e-12);
    ds_model_free(&m);
    ds_model_free(&back);
    ds_data_free(&data);
}

// A schedule picks, at sigma, the patch of the first entry with sigma <= its sigma (the
// last entry's beyond them): the outputs equal those of the fixed-patch model with that
// patch, exactly (the same mask, the same arithmetic). Saved and loaded, it is the same
// schedule; a decreasing sigma or an even patch is refused.
static void test_patch_schedule(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    const int64_t rows = 3, d = 30;
    ds_data data = tu_images(40, 1, 5, 6, tu_seed() + 50, dir);
    const double schedule[6] = {0.5, 1, 2.0, 3, 10.0, 5};
    const double sigmas[6] = {0.3, 0.5, 1.0, 2.0, 5.0, 50.0};
    const int64_t want_patch[6] = {1, 1, 3, 3, 5, 5};
    ds_fit_opts o;
    ds_fit_opts_default(&o);
    o.patch_steps = 3, o.patch_schedule = schedule;
    ds_model m, back, fixed[3];
    assert_int_equal(ds_model_fit(&data, DS_MODEL_LS, &o, &m), 0);
    for (int p = 0; p < 3; p++) fit(&data, DS_MODEL_LS, 2 * p + 1, &fixed[p]);
    char folder[700];
    snprintf(folder, sizeof folder, "%s/scheduled", dir);
    assert_int_equal(ds_model_save(&m, folder), 0);
    assert_int_equal(ds_model_load(folder, &back), 0);
    assert_int_equal(back.patch_steps, 3);
    double x[90], out[90], want[90];
    tu_fill_uniform(x, rows * d, tu_seed() + 51, -1, 1);
    for (int s = 0; s < 6; s++) {
        assert_int_equal(ds_patch_at(&back, sigmas[s]), want_patch[s]);
        tu_denoise("ref", &back, x, rows, sigmas[s], out);
        tu_denoise("ref", &fixed[want_patch[s] / 2], x, rows, sigmas[s], want);
        assert_true(tu_max_abs_diff(out, want, rows * d) == 0);
    }
    const double decreasing[4] = {2.0, 3, 1.0, 5}, even[2] = {1.0, 4};
    o.patch_steps = 2, o.patch_schedule = decreasing;
    ds_model bad;
    assert_int_equal(ds_model_fit(&data, DS_MODEL_LS, &o, &bad), -1);
    assert_non_null(strstr(ds_error(), "entry 2: sigma 1"));
    o.patch_steps = 1, o.patch_schedule = even;
    assert_int_equal(ds_model_fit(&data, DS_MODEL_LS, &o, &bad), -1);
    assert_non_null(strstr(ds_error(), "patch size 4"));
    for (int p = 0; p < 3; p++) ds_model_free(&fixed[p]);
    ds_model_free(&m);
    ds_model_free(&back);
    ds_data_free(&data);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_matches_direct_formula),
        cmocka_unit_test(test_whole_image_patch_and_large_sigma),
        cmocka_unit_test(test_cpu_matches_ref),
        cmocka_unit_test(test_bad_patches_and_folder),
        cmocka_unit_test(test_patch_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
