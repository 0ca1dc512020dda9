// pspc (Niedoba et al.'s patch-based posterior mean, square patches): the ref backend
// against a direct float64 transcription written as their code computes it (for every
// patch inside the image: crop, the empirical posterior mean over the training images'
// crops, uncrop into a composite and a normaliser; composite / normaliser), grey and RGB;
// the limits: the whole-image patch is the empirical denoiser, the 1 x 1 patch the ls
// machine's, sigma -> infinity the mean; cpu against ref; bad patch sizes and data
// without an image shape refused; the model folder round trip with a patch schedule.
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

// Their PSPCDenoiser.forward with get_mask of PSPCSquareDenoiser, in float64.
static void direct_pspc(const ds_data *data, int patch, const double *x, double sigma,
                        double *out) {
    int64_t n = data->n, c = data->channels, h = data->height, w = data->width, hw = h * w;
    int64_t len = c * patch * patch, *index = malloc(sizeof(int64_t) * len);
    double *normaliser = calloc((size_t)hw, sizeof(double)), *logit = malloc(sizeof(double) * n);
    double *mean = malloc(sizeof(double) * len);
    for (int64_t e = 0; e < data->d; e++) out[e] = 0;
    for (int64_t y0 = 0; y0 + patch <= h; y0++)
        for (int64_t x0 = 0; x0 + patch <= w; x0++) {
            int64_t at = 0; // masked_crop: the mask's pixels of every channel
            for (int64_t ch = 0; ch < c; ch++)
                for (int64_t i = y0; i < y0 + patch; i++)
                    for (int64_t j = x0; j < x0 + patch; j++) index[at++] = (ch * h + i) * w + j;
            double top = -INFINITY, z = 0;
            for (int64_t k = 0; k < n; k++) {
                double s = 0;
                for (int64_t t = 0; t < len; t++) {
                    double diff = x[index[t]] - ds_data_value(data, k, index[t]);
                    s += diff * diff;
                }
                logit[k] = -s / (2 * sigma * sigma);
                top = fmax(top, logit[k]);
            }
            for (int64_t t = 0; t < len; t++) mean[t] = 0;
            for (int64_t k = 0; k < n; k++) {
                double e = exp(logit[k] - top);
                z += e;
                for (int64_t t = 0; t < len; t++) mean[t] += e * ds_data_value(data, k, index[t]);
            }
            for (int64_t t = 0; t < len; t++) out[index[t]] += mean[t] / z; // masked_uncrop
            for (int64_t t = 0; t < patch * patch; t++) normaliser[index[t]] += 1;
        }
    for (int64_t e = 0; e < data->d; e++) out[e] /= normaliser[e % hw];
    free(index), free(normaliser), free(logit), free(mean);
}

// Both float64, the same terms in another order: outputs to ~1e-12 relative (as ls);
// tolerance 1e-10.
static void test_ref_matches_direct_formula(void **state) {
    (void)state;
    const int shapes[2][3] = {{1, 5, 6}, {3, 4, 5}}, patches[4] = {1, 2, 3, 4};
    const double sigmas[3] = {0.2, 1.0, 4.0};
    for (int s = 0; s < 2; s++) {
        const int c = shapes[s][0], h = shapes[s][1], w = shapes[s][2];
        const int64_t n = 25, d = (int64_t)c * h * w, rows = 3;
        ds_data data = tu_images(n, c, h, w, tu_seed() + s, NULL);
        double *x = malloc(sizeof(double) * (size_t)(rows * d)),
               *out = malloc(sizeof *out * rows * d), *want = malloc(sizeof *want * rows * d);
        tu_fill_uniform(x, rows * d, tu_seed() + 10 + s, -1.5, 1.5);
        for (int p = 0; p < 4; p++) {
            ds_model m;
            fit(&data, DS_MODEL_PSPC, patches[p], &m);
            for (int g = 0; g < 3; g++) {
                for (int64_t i = 0; i < rows; i++)
                    direct_pspc(&data, patches[p], x + i * d, sigmas[g], want + i * d);
                tu_denoise("ref", &m, x, rows, sigmas[g], out);
                double err = tu_rel_l2(out, want, rows * d);
                printf("%dx%dx%d patch %d sigma %.1f: ref vs direct %.2e\n", c, h, w, patches[p],
                       sigmas[g], err);
                assert_true(err < 1e-10);
            }
            ds_model_free(&m);
        }
        free(x), free(out), free(want);
        ds_data_free(&data);
    }
}

// A patch the size of a square image is one patch: the empirical denoiser. A 1 x 1
// patch is a softmax per pixel over the images of the pixel's channels: ls with patch
// 1. Float64 both, the same logits summed in another order: 1e-10. At sigma 1e6 every
// weight is 1/N (1 + O(1e-11)): the data mean to 1e-8, ref and cpu.
static void test_limits(void **state) {
    (void)state;
    const int64_t n = 40, d = 75, rows = 4;
    ds_data data = tu_images(n, 3, 5, 5, tu_seed() + 20, NULL);
    double x[300], out[300], want[300];
    tu_fill_uniform(x, rows * d, tu_seed() + 21, -1.2, 1.2);
    ds_model m, emp, one, ls;
    fit(&data, DS_MODEL_PSPC, 5, &m);
    fit(&data, DS_MODEL_EMPIRICAL, 0, &emp);
    fit(&data, DS_MODEL_PSPC, 1, &one);
    fit(&data, DS_MODEL_LS, 1, &ls);
    for (double sigma = 0.3; sigma < 10; sigma *= 5) {
        tu_denoise("ref", &m, x, rows, sigma, out);
        tu_denoise("ref", &emp, x, rows, sigma, want);
        double err = tu_rel_l2(out, want, rows * d);
        printf("whole-image patch vs empirical at sigma %.1f: %.2e\n", sigma, err);
        assert_true(err < 1e-10);
        tu_denoise("ref", &one, x, rows, sigma, out);
        tu_denoise("ref", &ls, x, rows, sigma, want);
        err = tu_rel_l2(out, want, rows * d);
        printf("1 x 1 patch vs ls patch 1 at sigma %.1f: %.2e\n", sigma, err);
        assert_true(err < 1e-10);
    }
    ds_model_free(&m);
    fit(&data, DS_MODEL_PSPC, 3, &m);
    const char *names[2] = {"ref", "cpu"};
    for (int b = 0; b < 2; b++) {
        tu_denoise(names[b], &m, x, rows, 1e6, out);
        for (int64_t e = 0; e < rows * d; e++)
            assert_true(fabs(out[e] - m.mean[e % d]) <= 1e-7 * (1 + fabs(m.mean[e % d])));
    }
    ds_model_free(&m);
    ds_model_free(&emp);
    ds_model_free(&one);
    ds_model_free(&ls);
    ds_data_free(&data);
}

// cpu against ref on float-exact queries: distances, weights and sums in double from the
// same float32 values (the window sums of cpu_pspc.c round at ~1e-16 of a line's total,
// ~1e-9 in the logits at sigma 0.002); the float32 output rounds by 2^-24: 2.5e-7.
static void test_cpu_matches_ref(void **state) {
    (void)state;
    const int shapes[2][3] = {{1, 6, 5}, {3, 4, 6}}, patches[3] = {1, 2, 4};
    for (int s = 0; s < 2; s++) {
        const int c = shapes[s][0], h = shapes[s][1], w = shapes[s][2];
        const int64_t n = 150, d = (int64_t)c * h * w, rows = 5;
        ds_data data = tu_images(n, c, h, w, tu_seed() + 30 + s, NULL);
        double *x = malloc(sizeof(double) * (size_t)(rows * d)),
               *out = malloc(sizeof *out * rows * d), *want = malloc(sizeof *want * rows * d);
        tu_fill_uniform(x, rows * d, tu_seed() + 32 + s, -1.2, 1.2);
        for (int64_t e = 0; e < rows * d; e++) x[e] = (float)x[e];
        for (int p = 0; p < 3; p++) {
            ds_model m;
            fit(&data, DS_MODEL_PSPC, patches[p], &m);
            for (double sigma = 0.002; sigma < 60; sigma *= 7) {
                tu_denoise("ref", &m, x, rows, sigma, want);
                tu_denoise("cpu", &m, x, rows, sigma, out);
                double err = tu_rel_l2(out, want, rows * d);
                printf("%dx%dx%d patch %d sigma %7.3f: cpu vs ref %.2e\n", c, h, w, patches[p],
                       sigma, err);
                assert_true(err < 2.5e-7);
            }
            ds_model_free(&m);
        }
        free(x), free(out), free(want);
        ds_data_free(&data);
    }
}

static void expect_refused(const ds_data *data, int64_t patch, const char *want) {
    ds_fit_opts o;
    ds_fit_opts_default(&o);
    o.patch_size = patch;
    ds_model m;
    assert_int_equal(ds_model_fit(data, DS_MODEL_PSPC, &o, &m), -1);
    assert_non_null(strstr(ds_error(), want));
}

// Patches that do not fit and data without an image shape are refused; a folder with a
// patch schedule loads back to the same model (each sigma's outputs those of the
// fixed-patch model, bit for bit).
static void test_bad_patches_and_folder(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    ds_data data = tu_images(12, 1, 4, 6, tu_seed() + 40, dir);
    expect_refused(&data, 5, "pspc: patch size 5 (expected 1 .. 4: a square patch inside a 4x6");
    expect_refused(&data, 0, "patch size 0");
    ds_data flat = data;
    flat.channels = flat.height = flat.width = 0;
    expect_refused(&flat, 2, "needs images");
    const double schedule[4] = {0.5, 2, 2.0, 4};
    ds_fit_opts o;
    ds_fit_opts_default(&o);
    o.patch_steps = 2, o.patch_schedule = schedule;
    ds_model m, back, fixed[2];
    assert_int_equal(ds_model_fit(&data, DS_MODEL_PSPC, &o, &m), 0);
    fit(&data, DS_MODEL_PSPC, 2, &fixed[0]);
    fit(&data, DS_MODEL_PSPC, 4, &fixed[1]);
    char folder[700];
    snprintf(folder, sizeof folder, "%s/pspc", dir);
    assert_int_equal(ds_model_save(&m, folder), 0);
    assert_int_equal(ds_model_load(folder, &back), 0);
    assert_int_equal(back.kind, DS_MODEL_PSPC);
    assert_int_equal(back.patch_steps, 2);
    double x[48], a[48], b[48];
    tu_fill_uniform(x, 48, tu_seed() + 41, -1, 1);
    const double sigmas[3] = {0.3, 1.0, 9.0};
    for (int s = 0; s < 3; s++) {
        tu_denoise("ref", &back, x, 2, sigmas[s], a);
        tu_denoise("ref", &fixed[s > 0], x, 2, sigmas[s], b);
        assert_true(tu_max_abs_diff(a, b, 48) == 0);
    }
    const double too_big[2] = {1.0, 6};
    o.patch_steps = 1, o.patch_schedule = too_big;
    ds_model bad;
    assert_int_equal(ds_model_fit(&data, DS_MODEL_PSPC, &o, &bad), -1);
    assert_non_null(strstr(ds_error(), "patch size 6"));
    ds_model_free(&fixed[0]);
    ds_model_free(&fixed[1]);
    ds_model_free(&m);
    ds_model_free(&back);
    ds_data_free(&data);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_matches_direct_formula),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_cpu_matches_ref),
        cmocka_unit_test(test_bad_patches_and_folder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
