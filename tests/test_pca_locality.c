// pca_locality (Lukoianov et al., as analytic-diffusion-studio computes it): the ref
// backend against a direct float64 transcription of the formula (covariance by loops,
// Wiener filter C (C + sigma^2 I)^-1 by a linear solve rather than the eigenvectors,
// dense mask, two-pass softmax); its limits (a threshold below every |entry| gives the
// empirical denoiser at sigma sqrt(T); sigma -> 0 the per-pixel nearest training value;
// sigma -> infinity the mean); the cpu backend against ref; the model folder round trip.
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_backend.h"
#include "ds_error.h"
#include "testutil.h"

// n rows of a 1 x 3 x 4 (d = 12) or larger image: correlated normals, non-zero mean; the
// mixing matrix's entries are uniform in [-0.5, 0.5] x mix.
static ds_data make_data(int64_t n, int h, int w, double mix, uint64_t seed, const char *dir) {
    int64_t d = h * w;
    ds_data data = {.n = n, .d = d, .channels = 1, .height = h, .width = w};
    double *z = malloc(sizeof(double) * (size_t)(n * d)), *a = malloc(sizeof(double) * d * d);
    tu_fill_normal(z, n * d, seed);
    tu_fill_uniform(a, d * d, seed + 1, -0.5 * mix, 0.5 * mix);
    double *rows = malloc(sizeof(double) * (size_t)(n * d));
    float *values = malloc(sizeof(float) * (size_t)(n * d));
    data.values = values, data.dtype = DS_F32;
    for (int64_t s = 0; s < n; s++)
        for (int64_t i = 0; i < d; i++) {
            double v = 0.2 + 0.05 * (double)i + z[s * d + i];
            for (int64_t j = 0; j < d; j++) v += z[s * d + j] * a[j * d + i];
            values[s * d + i] = (float)v;
            rows[s * d + i] = (float)v;
        }
    if (dir) { // a data file, for the model folder
        int64_t shape[4] = {n, 1, h, w};
        snprintf(data.path, sizeof data.path, "%s/data.npy", dir);
        assert_int_equal(ds_npy_write_f64(data.path, rows, 4, shape, DS_F32), 0);
    }
    free(rows);
    free(z);
    free(a);
    return data;
}

static void fit(const ds_data *data, ds_model_kind kind, double temperature, double threshold,
                ds_model *m) {
    ds_fit_opts o;
    ds_fit_opts_default(&o);
    o.temperature = temperature;
    o.mask_threshold = threshold;
    assert_int_equal(ds_model_fit(data, kind, &o, m), 0);
}

// D(x; sigma) on a backend for rows x (one sigma, or one per row).
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

// The normalised Wiener mask, dense d x d, from the data directly: covariance C by loops
// (normalised by n - 1), W = (C + sigma^2 I)^-1 C (= C (C + sigma^2 I)^-1, they
// commute), rows divided by their diagonal.
static void direct_mask(const ds_data *data, double sigma, double *mask) {
    int64_t n = data->n, d = data->d;
    double *mean = calloc((size_t)d, sizeof(double)), *a = malloc(sizeof(double) * d * d);
    lapack_int *piv = malloc(sizeof(lapack_int) * (size_t)d);
    for (int64_t s = 0; s < n; s++)
        for (int64_t j = 0; j < d; j++) mean[j] += ds_data_value(data, s, j) / (double)n;
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < d; j++) {
            long double c = 0;
            for (int64_t s = 0; s < n; s++)
                c += ((long double)ds_data_value(data, s, i) - mean[i]) *
                     ((long double)ds_data_value(data, s, j) - mean[j]);
            mask[i * d + j] = (double)(c / (n - 1));
            a[i * d + j] = mask[i * d + j] + (i == j ? sigma * sigma : 0);
        }
    assert_int_equal(LAPACKE_dgesv(LAPACK_ROW_MAJOR, (lapack_int)d, (lapack_int)d, a, (lapack_int)d,
                                   piv, mask, (lapack_int)d),
                     0);
    for (int64_t i = 0; i < d; i++) {
        double diag = fabs(mask[i * d + i]) < 1e-6 ? 1 : mask[i * d + i];
        for (int64_t j = 0; j < d; j++) mask[i * d + j] /= diag;
    }
    free(mean);
    free(a);
    free(piv);
}

static double max_abs(const double *x, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

// The formula, term by term: logits_k(j) = -sum_n mask[n, j] (x_n - y_kn)^2 / (2 sigma^2 T)
// over the dense (binarised) mask, a max-subtracted softmax per output pixel j.
static void direct_denoise(const ds_data *data, const double *mask, double t, const double *x,
                           double sigma, double *out) {
    int64_t n = data->n, d = data->d;
    double *logits = malloc(sizeof(double) * (size_t)n);
    for (int64_t j = 0; j < d; j++) {
        double top = -INFINITY, z = 0, sum = 0;
        for (int64_t k = 0; k < n; k++) {
            double dist = 0;
            for (int64_t p = 0; p < d; p++) {
                double diff = x[p] - ds_data_value(data, k, p);
                dist += mask[p * d + j] * diff * diff;
            }
            logits[k] = -dist / (2 * sigma * sigma * t);
            top = fmax(top, logits[k]);
        }
        for (int64_t k = 0; k < n; k++) {
            z += exp(logits[k] - top);
            sum += exp(logits[k] - top) * ds_data_value(data, k, j);
        }
        out[j] = sum / z;
    }
    free(logits);
}

// Binarises at threshold * max |entry| (threshold 0: unchanged); returns the smallest
// relative distance of an entry's magnitude from the cut (infinity when not binarised).
static double binarise(double *mask, int64_t count, double threshold) {
    if (threshold == 0) return INFINITY;
    double cut = threshold * max_abs(mask, count), margin = INFINITY;
    for (int64_t e = 0; e < count; e++) {
        margin = fmin(margin, fabs(fabs(mask[e]) - cut) / cut);
        mask[e] = fabs(mask[e]) >= cut;
    }
    return margin;
}

// Both sides are float64. The masks differ by the solve's rounding, ~cond(C + sigma^2 I)
// * 1e-16 <= 1e-11 here (eigenvalues of C from ~0.05 to ~10, sigma >= 0.3), which moves a
// logit (at most ~d * 20 / (2 * 0.09 * 0.7) ~ 2e3) by ~2e-8 absolute at worst: 1e-7
// relative on the output bounds it with room; the typical error is ~1e-12. An entry within
// 1e-6 of the cut could binarise differently on the two sides; the margin is checked, so
// a failure names the cause (for random data its probability is ~d^2 * 1e-6).
static void test_ref_matches_direct_formula(void **state) {
    (void)state;
    const int64_t n = 40, d = 12, rows = 5;
    const double sigmas[3] = {0.3, 1.0, 3.0}, thresholds[3] = {0.02, 0.3, 0.0}, t = 0.7;
    ds_data data = make_data(n, 3, 4, 1, tu_seed(), NULL);
    double x[60], out[60], want[60], mask[144];
    tu_fill_normal(x, rows * d, tu_seed() + 2);
    for (int64_t i = 0; i < rows * d; i++) x[i] = 0.5 + 1.5 * x[i];
    for (int a = 0; a < 3; a++) {
        ds_model m;
        fit(&data, DS_MODEL_PCA_LOCALITY, t, thresholds[a], &m);
        for (int s = 0; s < 3; s++) {
            direct_mask(&data, sigmas[s], mask);
            assert_true(binarise(mask, d * d, thresholds[a]) > 1e-6);
            for (int64_t i = 0; i < rows; i++)
                direct_denoise(&data, mask, t, x + i * d, sigmas[s], want + i * d);
            denoise("ref", &m, x, rows, &sigmas[s], 1, out);
            double err = tu_rel_l2(out, want, rows * d);
            printf("threshold %.2f sigma %.1f: ref vs direct %.2e\n", thresholds[a], sigmas[s],
                   err);
            assert_true(err < 1e-7);
        }
        ds_model_free(&m);
    }
    ds_data_free(&data);
}

// A threshold below the smallest |entry| / max |entry| binarises every entry to 1: the
// distance is then |x - y_k|^2 for every pixel, and the logits those of the empirical
// denoiser at sigma sqrt(T). Both float64 (the empirical one centred, an exact shift):
// agreement to ~1e-13 relative; tolerance 1e-10.
static void test_full_mask_is_empirical(void **state) {
    (void)state;
    const int64_t n = 50, d = 12, rows = 6;
    const double sigma = 0.8, t = 1.7;
    ds_data data = make_data(n, 3, 4, 1, tu_seed() + 5, NULL);
    double mask[144], x[72], out[72], want[72], smallest = INFINITY;
    direct_mask(&data, sigma, mask);
    for (int64_t e = 0; e < d * d; e++) smallest = fmin(smallest, fabs(mask[e]));
    assert_true(smallest > 0);
    ds_model m, emp;
    fit(&data, DS_MODEL_PCA_LOCALITY, t, 0.5 * smallest / max_abs(mask, d * d), &m);
    fit(&data, DS_MODEL_EMPIRICAL, 1, 0, &emp);
    tu_fill_normal(x, rows * d, tu_seed() + 6);
    double s_emp = sigma * sqrt(t);
    denoise("ref", &m, x, rows, &sigma, 1, out);
    denoise("ref", &emp, x, rows, &s_emp, 1, want);
    double err = tu_rel_l2(out, want, rows * d);
    printf("all-ones mask vs empirical: %.2e\n", err);
    assert_true(err < 1e-10);
    ds_model_free(&m);
    ds_model_free(&emp);
    ds_data_free(&data);
}

// sigma = 1e-4: the filter is I - sigma^2 C^-1 + O(sigma^4), so off-diagonal entries are
// ~1e-8 / lambda_min << 0.02 and the binarised mask is the identity: pixel j takes pixel j
// of the training row nearest in that pixel. Where the two nearest values' squared
// distances differ by more than 1e-6, the runner-up's weight is below exp(-50) (T = 1).
// sigma = 1e6: every weight is 1/N (1 + O(1e-10)): the data mean to 1e-8.
// lambda_min must not be tiny: with the full mixing (entries of A in [-0.5, 0.5]) I + A is
// near-singular for about 1 seed in 100 (seed 7118: pixels 7 and 9 coupled in the mask); mixing
// entries in [-0.5, 0.5] / d keep |A| <= |A|_F <= 0.5, so lambda_min >= 0.25 lambda_min(sample
// covariance of z), far above 1e-8 / 0.02.
static void test_small_and_large_sigma(void **state) {
    (void)state;
    const int64_t n = 60, d = 12, rows = 8;
    ds_data data = make_data(n, 3, 4, 1.0 / 12, tu_seed() + 7, NULL);
    ds_model m;
    fit(&data, DS_MODEL_PCA_LOCALITY, 1, 0.02, &m);
    double x[96], out[96], small = 1e-4, large = 1e6;
    tu_fill_normal(x, rows * d, tu_seed() + 8);
    denoise("ref", &m, x, rows, &small, 1, out);
    int checked = 0;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < d; j++) {
            double first = INFINITY, second = INFINITY, best = 0;
            for (int64_t k = 0; k < n; k++) {
                double q = pow(x[i * d + j] - ds_data_value(&data, k, j), 2);
                if (q < first)
                    second = first, first = q, best = ds_data_value(&data, k, j);
                else if (q < second)
                    second = q;
            }
            if (second - first <= 1e-6) continue;
            checked++;
            assert_true(fabs(out[i * d + j] - best) <= 1e-12 * (1 + fabs(best)));
        }
    assert_true(checked >= rows * d / 2);
    denoise("ref", &m, x, rows, &large, 1, out);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < d; j++)
            assert_true(fabs(out[i * d + j] - m.mean[j]) <= 1e-8 * (1 + fabs(m.mean[j])));
    ds_model_free(&m);
    ds_data_free(&data);
}

// cpu against ref, within tu_local_cpu_tol (tol) on the float32 query the cpu backend holds.
// On the unrounded query, rounding it moves a logit by at most sum_n |w_n| |x_n - y_kn|
// |x_n| 2^-24 / (sigma^2 T) <= d W R^2 2^-24 / (sigma^2 T) (R: the largest |x|, |x - y|;
// W: the largest |mask entry|, 1 when binarised), a weight and the output by at most twice
// that: tolerance 4 d W R^2 2^-24 / (sigma^2 T) + tol. Per-row sigmas
// (several masks in one call) are checked too.
static void test_cpu_matches_ref(void **state) {
    (void)state;
    const int64_t n = 300, d = 16, rows = 8;
    const double sigmas[4] = {0.2, 1.0, 5.0, 40.0}, thresholds[2] = {0.02, 0.0}, t = 0.8;
    ds_data data = make_data(n, 4, 4, 1, tu_seed() + 9, NULL);
    double x[128], xf[128], out[128], want[128], per_row[8], mask[256], r = 0;
    tu_fill_normal(x, rows * d, tu_seed() + 10);
    for (int64_t i = 0; i < rows * d; i++) x[i] = 0.4 + 1.2 * x[i], xf[i] = (float)x[i];
    for (int64_t k = 0; k < n; k++)
        for (int64_t j = 0; j < rows * d; j++)
            r = fmax(r, fmax(fabs(x[j] - ds_data_value(&data, k, j % d)), fabs(x[j])));
    for (int a = 0; a < 2; a++) {
        ds_model m;
        fit(&data, DS_MODEL_PCA_LOCALITY, t, thresholds[a], &m);
        for (int s = 0; s < 4; s++) {
            direct_mask(&data, sigmas[s], mask);
            double w = thresholds[a] > 0 ? 1.0 : max_abs(mask, d * d);
            double bound = 4.0 * (double)d * w * r * r * 0x1p-24 / (sigmas[s] * sigmas[s] * t);
            denoise("cpu", &m, x, rows, &sigmas[s], 1, out);
            denoise("ref", &m, xf, rows, &sigmas[s], 1, want);
            double err_rounded = tu_rel_l2(out, want, rows * d);
            double tol = tu_local_cpu_tol(&m, xf, rows, &sigmas[s], 1, want);
            denoise("ref", &m, x, rows, &sigmas[s], 1, want);
            double err = tu_rel_l2(out, want, rows * d);
            printf("threshold %.2f sigma %5.1f: cpu vs ref %.2e on its query (tol %.1e), %.2e on "
                   "the unrounded one (bound %.1e)\n",
                   thresholds[a], sigmas[s], err_rounded, tol, err, bound + tol);
            assert_true(err_rounded < tol);
            assert_true(err < bound + tol);
        }
        for (int64_t i = 0; i < rows; i++) per_row[i] = sigmas[(i / 3) % 4];
        denoise("ref", &m, xf, rows, per_row, rows, want);
        denoise("cpu", &m, xf, rows, per_row, rows, out);
        assert_true(tu_rel_l2(out, want, rows * d) <
                    tu_local_cpu_tol(&m, xf, rows, per_row, rows, want));
        ds_model_free(&m);
    }
    ds_data_free(&data);
}

// Saved and loaded, the model has the same filter, options and rows: the same outputs
// (float64 arrays are written exactly).
static void test_model_folder_round_trip(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    ds_data data = make_data(30, 3, 4, 1, tu_seed() + 11, dir);
    ds_model m, back;
    fit(&data, DS_MODEL_PCA_LOCALITY, 0.9, 0.05, &m);
    char folder[700];
    snprintf(folder, sizeof folder, "%s/model", dir);
    assert_int_equal(ds_model_save(&m, folder), 0);
    assert_int_equal(ds_model_load(folder, &back), 0);
    assert_int_equal(back.kind, DS_MODEL_PCA_LOCALITY);
    assert_true(back.temperature == m.temperature && back.mask_threshold == m.mask_threshold);
    assert_int_equal(back.data.n, 30);
    double x[24], a[24], b[24], sigma = 0.7;
    tu_fill_normal(x, 24, tu_seed() + 12);
    denoise("ref", &m, x, 2, &sigma, 1, a);
    denoise("ref", &back, x, 2, &sigma, 1, b);
    assert_true(tu_max_abs_diff(a, b, 24) <= 1e-12);
    // No Gaussian flow: the model is not a Gaussian.
    ds_backend *be = ds_backend_new("ref");
    ds_bound_model *bm = be->bind(be, &back);
    ds_batch *xb = be->batch_new(be, 1, 12);
    assert_int_equal(be->gaussian_flow(be, bm, xb, 2.0, 1.0, xb), -1);
    be->batch_free(be, xb);
    be->unbind(be, bm);
    ds_backend_free(be);
    ds_model_free(&m);
    ds_model_free(&back);
    ds_data_free(&data);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_matches_direct_formula),
        cmocka_unit_test(test_full_mask_is_empirical),
        cmocka_unit_test(test_small_and_large_sigma),
        cmocka_unit_test(test_cpu_matches_ref),
        cmocka_unit_test(test_model_folder_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
