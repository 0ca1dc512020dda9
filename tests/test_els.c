// els (Kamb & Ganguli's equivariant local score machine): the ref backend against a
// direct float64 transcription written as the studio's code computes it (zero-pad the
// images, unfold every patch, a softmax over all N x H x W patches per query patch),
// grey and RGB; the limits: a whole-image patch is the empirical denoiser of the
// training images' translates (zero fill) that keep the pixel inside, sigma -> infinity
// the per-channel mean over all images and positions (not the per-pixel data mean);
// cpu against ref; bad patch sizes and data without an image shape refused; the model
// folder round trip with a patch schedule; the cpu path's exponential.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_patch.h"
#include "ds_backend.h"
#include "ds_error.h"
#include "testutil.h"

static void fit(const ds_data *data, int64_t patch, ds_model *m) {
    ds_fit_opts o;
    ds_fit_opts_default(&o);
    o.patch_size = patch;
    assert_int_equal(ds_model_fit(data, DS_MODEL_ELS, &o, m), 0);
}

// v (c x h x w) zero-padded by r on every side: c x (h + 2r) x (w + 2r).
static double *pad(const double *v, int64_t c, int64_t h, int64_t w, int64_t r) {
    int64_t hp = h + 2 * r, wp = w + 2 * r;
    double *out = calloc((size_t)(c * hp * wp), sizeof(double));
    for (int64_t ch = 0; ch < c; ch++)
        for (int64_t i = 0; i < h; i++)
            for (int64_t j = 0; j < w; j++)
                out[(ch * hp + i + r) * wp + j + r] = v[(ch * h + i) * w + j];
    return out;
}

// The patch of the padded image at pixel (i, j), c x patch x patch values, into out.
static void unfold(const double *padded, int64_t c, int64_t h, int64_t w, int64_t patch, int64_t i,
                   int64_t j, double *out) {
    int64_t r = patch / 2, wp = w + 2 * r, hp = h + 2 * r, at = 0;
    for (int64_t ch = 0; ch < c; ch++)
        for (int64_t a = 0; a < patch; a++)
            for (int64_t b = 0; b < patch; b++) out[at++] = padded[(ch * hp + i + a) * wp + j + b];
}

// Every patch of every image (n h w of them, c P^2 values each) against each query patch.
static void direct_els(const ds_data *data, int patch, const double *x, double sigma, double *out) {
    int64_t n = data->n, c = data->channels, h = data->height, w = data->width, hw = h * w;
    int64_t len = c * patch * patch, r = patch / 2;
    double *cand = malloc(sizeof(double) * (size_t)(n * hw * len)),
           *img = malloc(sizeof(double) * data->d);
    double *q = malloc(sizeof(double) * len), *logit = malloc(sizeof(double) * (size_t)(n * hw));
    for (int64_t k = 0; k < n; k++) {
        ds_data_rows_f64(data, k, 1, img);
        double *padded = pad(img, c, h, w, r);
        for (int64_t p = 0; p < hw; p++)
            unfold(padded, c, h, w, patch, p / w, p % w, cand + (k * hw + p) * len);
        free(padded);
    }
    double *xp = pad(x, c, h, w, r);
    for (int64_t p = 0; p < hw; p++) {
        unfold(xp, c, h, w, patch, p / w, p % w, q);
        double top = -INFINITY, z = 0;
        for (int64_t e = 0; e < n * hw; e++) {
            double s = 0;
            for (int64_t t = 0; t < len; t++)
                s += (q[t] - cand[e * len + t]) * (q[t] - cand[e * len + t]);
            logit[e] = -s / (2 * sigma * sigma);
            top = fmax(top, logit[e]);
        }
        for (int64_t ch = 0; ch < c; ch++) out[ch * hw + p] = 0;
        for (int64_t e = 0; e < n * hw; e++) {
            double wgt = exp(logit[e] - top);
            z += wgt;
            for (int64_t ch = 0; ch < c; ch++) // the centre of the candidate patch
                out[ch * hw + p] += wgt * cand[e * len + (ch * patch + r) * patch + r];
        }
        for (int64_t ch = 0; ch < c; ch++) out[ch * hw + p] /= z;
    }
    free(xp), free(cand), free(img), free(q), free(logit);
}

// Both float64, the same terms summed in another order: logits up to ~d 9 / (2 0.04) ~ 1e4
// agree to ~1e-16 of their size, so the outputs to ~1e-12 relative; tolerance 1e-10.
static void test_ref_matches_direct_formula(void **state) {
    (void)state;
    const int shapes[2][3] = {{1, 5, 6}, {3, 4, 5}}, patches[3] = {1, 3, 5};
    const double sigmas[3] = {0.2, 1.0, 4.0};
    for (int s = 0; s < 2; s++) {
        const int c = shapes[s][0], h = shapes[s][1], w = shapes[s][2];
        const int64_t n = 12, d = (int64_t)c * h * w, rows = 2;
        ds_data data = tu_images(n, c, h, w, tu_seed() + s, NULL);
        double *x = malloc(sizeof(double) * (size_t)(rows * d)),
               *out = malloc(sizeof *out * rows * d), *want = malloc(sizeof *want * rows * d);
        tu_fill_uniform(x, rows * d, tu_seed() + 10 + s, -1.5, 1.5);
        for (int p = 0; p < 3; p++) {
            ds_model m;
            fit(&data, patches[p], &m);
            for (int g = 0; g < 3; g++) {
                for (int64_t i = 0; i < rows; i++)
                    direct_els(&data, patches[p], x + i * d, sigmas[g], want + i * d);
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

// The whole-image patch (2 max(h, w) - 1) around any pixel holds the whole query and the
// whole of every candidate's image, so the distance of position q of image k at pixel p
// is |x - T y_k|^2 over the unbounded plane, T y_k the image translated by p - q (zero
// outside both): pixel p is the empirical denoiser over the translates of every image
// that keep a pixel of the image at p, as if the frame were unbounded (the part of a
// translate pushed out of the frame counts against it). Float64 both: 1e-10.
static void test_whole_image_patch(void **state) {
    (void)state;
    const int c = 2, h = 3, w = 4;
    const int64_t n = 10, d = c * h * w, hw = h * w, rows = 3;
    ds_data data = tu_images(n, c, h, w, tu_seed() + 20, NULL);
    double x[72], out[72], want[72], *logit = malloc(sizeof(double) * n * hw);
    tu_fill_uniform(x, rows * d, tu_seed() + 21, -1.2, 1.2);
    ds_model m;
    fit(&data, 2 * 4 - 1, &m);
    for (double sigma = 0.3; sigma < 10; sigma *= 5) {
        for (int64_t row = 0; row < rows; row++)
            for (int64_t p = 0; p < hw; p++) {
                double top = -INFINITY, z = 0;
                for (int64_t k = 0; k < n; k++)
                    for (int64_t q = 0; q < hw; q++) {
                        int64_t si = p / w - q / w, sj = p % w - q % w; // the translation
                        double s = 0;
                        for (int64_t ch = 0; ch < c; ch++)
                            for (int64_t i = -h; i < 2 * h; i++)
                                for (int64_t j = -w; j < 2 * w; j++) {
                                    int in = i >= 0 && i < h && j >= 0 && j < w;
                                    int src =
                                        i - si >= 0 && i - si < h && j - sj >= 0 && j - sj < w;
                                    double a = in ? x[row * d + (ch * h + i) * w + j] : 0;
                                    double b = src ? ds_data_value(&data, k,
                                                                   (ch * h + i - si) * w + j - sj)
                                                   : 0;
                                    s += (a - b) * (a - b);
                                }
                        logit[k * hw + q] = -s / (2 * sigma * sigma);
                        top = fmax(top, logit[k * hw + q]);
                    }
                for (int64_t ch = 0; ch < c; ch++) want[row * d + ch * hw + p] = 0;
                for (int64_t k = 0; k < n; k++)
                    for (int64_t q = 0; q < hw; q++) {
                        double e = exp(logit[k * hw + q] - top);
                        z += e;
                        for (int64_t ch = 0; ch < c; ch++)
                            want[row * d + ch * hw + p] += e * ds_data_value(&data, k, ch * hw + q);
                    }
                for (int64_t ch = 0; ch < c; ch++) want[row * d + ch * hw + p] /= z;
            }
        tu_denoise("ref", &m, x, rows, sigma, out);
        double err = tu_rel_l2(out, want, rows * d);
        printf("whole-image patch vs translated empirical at sigma %.1f: %.2e\n", sigma, err);
        assert_true(err < 1e-10);
    }
    free(logit);
    ds_model_free(&m);
    ds_data_free(&data);
}

// At sigma 1e6 every logit is below ~c P^2 4 / 2e12 ~ 1e-10: the weights are 1 / (n h w)
// (1 + O(1e-10)), so every pixel of channel c is the mean of channel c over all images
// and positions, to 1e-8 (ref and cpu).
static void test_large_sigma(void **state) {
    (void)state;
    const int c = 3, h = 4, w = 5;
    const int64_t n = 15, d = c * h * w, hw = h * w, rows = 2;
    ds_data data = tu_images(n, c, h, w, tu_seed() + 25, NULL);
    double x[120], out[120], channel_mean[3] = {0};
    tu_fill_uniform(x, rows * d, tu_seed() + 26, -1, 1);
    for (int64_t k = 0; k < n; k++)
        for (int64_t e = 0; e < d; e++)
            channel_mean[e / hw] += ds_data_value(&data, k, e) / (double)(n * hw);
    ds_model m;
    fit(&data, 3, &m);
    const char *names[2] = {"ref", "cpu"};
    for (int b = 0; b < 2; b++) {
        tu_denoise(names[b], &m, x, rows, 1e6, out);
        for (int64_t e = 0; e < rows * d; e++) {
            double want = channel_mean[e % d / hw];
            assert_true(fabs(out[e] - want) <= 1e-7 * (1 + fabs(want)));
        }
    }
    ds_model_free(&m);
    ds_data_free(&data);
}

// cpu against ref on float-exact queries: both form the distances, weights and sums in
// double from the same float32 values; the cpu expansion |a|^2 + |b|^2 - 2 a.b loses
// ~1e-16 |patch|^2 / (2 sigma^2) in the logits (1e-9 at sigma 0.002), the float32 output
// rounds by 2^-24 ~ 6e-8: tolerance 2.5e-7.
static void test_cpu_matches_ref(void **state) {
    (void)state;
    const int shapes[2][3] = {{1, 6, 5}, {3, 4, 4}}, patches[3] = {1, 3, 11};
    for (int s = 0; s < 2; s++) {
        const int c = shapes[s][0], h = shapes[s][1], w = shapes[s][2];
        const int64_t n = 30, d = (int64_t)c * h * w, rows = 4;
        ds_data data = tu_images(n, c, h, w, tu_seed() + 30 + s, NULL);
        double *x = malloc(sizeof(double) * (size_t)(rows * d)),
               *out = malloc(sizeof *out * rows * d), *want = malloc(sizeof *want * rows * d);
        tu_fill_uniform(x, rows * d, tu_seed() + 32 + s, -1.2, 1.2);
        for (int64_t e = 0; e < rows * d; e++) x[e] = (float)x[e];
        for (int p = 0; p < 3; p++) {
            ds_model m;
            fit(&data, patches[p] > 2 * (h > w ? h : w) - 1 ? 2 * (h > w ? h : w) - 1 : patches[p],
                &m);
            for (double sigma = 0.002; sigma < 60; sigma *= 7) {
                tu_denoise("ref", &m, x, rows, sigma, want);
                tu_denoise("cpu", &m, x, rows, sigma, out);
                double err = tu_rel_l2(out, want, rows * d);
                printf("%dx%dx%d patch %d sigma %7.3f: cpu vs ref %.2e\n", c, h, w, m.patch_size,
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
    assert_int_equal(ds_model_fit(data, DS_MODEL_ELS, &o, &m), -1);
    assert_non_null(strstr(ds_error(), want));
}

// Bad patches and data without an image shape are refused; a saved folder with a patch
// schedule loads back to the same model: at each sigma the scheduled patch's outputs,
// bit for bit those of the fixed-patch model with that patch.
static void test_bad_patches_and_folder(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    ds_data data = tu_images(8, 1, 4, 5, tu_seed() + 40, dir);
    expect_refused(&data, 4, "els: patch size 4 (expected odd, 1 .. 9");
    expect_refused(&data, 11, "patch size 11");
    expect_refused(&data, 0, "patch size 0");
    ds_data flat = data;
    flat.channels = flat.height = flat.width = 0;
    expect_refused(&flat, 3, "needs images");
    const double schedule[4] = {0.5, 1, 2.0, 3};
    ds_fit_opts o;
    ds_fit_opts_default(&o);
    o.patch_steps = 2, o.patch_schedule = schedule;
    ds_model m, back, fixed[2];
    assert_int_equal(ds_model_fit(&data, DS_MODEL_ELS, &o, &m), 0);
    fit(&data, 1, &fixed[0]);
    fit(&data, 3, &fixed[1]);
    char folder[700];
    snprintf(folder, sizeof folder, "%s/els", dir);
    assert_int_equal(ds_model_save(&m, folder), 0);
    assert_int_equal(ds_model_load(folder, &back), 0);
    assert_int_equal(back.kind, DS_MODEL_ELS);
    assert_int_equal(back.patch_steps, 2);
    double x[40], a[40], b[40];
    tu_fill_uniform(x, 40, tu_seed() + 41, -1, 1);
    const double sigmas[3] = {0.3, 1.0, 9.0};
    for (int s = 0; s < 3; s++) {
        tu_denoise("ref", &back, x, 2, sigmas[s], a);
        tu_denoise("ref", &fixed[s > 0], x, 2, sigmas[s], b);
        assert_true(tu_max_abs_diff(a, b, 40) == 0);
    }
    const double even[2] = {1.0, 2};
    o.patch_steps = 1, o.patch_schedule = even;
    ds_model bad;
    assert_int_equal(ds_model_fit(&data, DS_MODEL_ELS, &o, &bad), -1);
    assert_non_null(strstr(ds_error(), "patch size 2"));
    ds_model_free(&fixed[0]);
    ds_model_free(&fixed[1]);
    ds_model_free(&m);
    ds_model_free(&back);
    ds_data_free(&data);
}

// The cpu path's branch-free e^x (x <= 0) against libm on random arguments down to -707:
// the Taylor remainder (< 7e-15) and a few roundings in the polynomial and the reduction
// (|k| <= 1021 times a 1e-19 error of ln 2 split in two): 2e-14 relative.
static void test_fast_exp(void **state) {
    (void)state;
    enum { COUNT = 100000 };
    double *x = malloc(sizeof(double) * COUNT), worst = 0;
    tu_fill_uniform(x, COUNT, tu_seed() + 50, -707, 0);
    x[0] = 0, x[1] = -1e-300, x[2] = -0.5 * 0x1.62e42fefa39efp-1;
    for (int i = 0; i < COUNT; i++) worst = fmax(worst, fabs(ds_exp_neg(x[i]) / exp(x[i]) - 1));
    printf("ds_exp_neg vs exp on [-707, 0]: worst relative error %.2e\n", worst);
    assert_true(worst < 2e-14);
    assert_true(ds_exp_neg(0) == 1);
    assert_true(ds_exp_neg(ds_exp_arg(-1e4)) == ds_exp_neg(-707) && ds_exp_neg(-707) > 0);
    free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_matches_direct_formula),
        cmocka_unit_test(test_whole_image_patch),
        cmocka_unit_test(test_large_sigma),
        cmocka_unit_test(test_cpu_matches_ref),
        cmocka_unit_test(test_bad_patches_and_folder),
        cmocka_unit_test(test_fast_exp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
