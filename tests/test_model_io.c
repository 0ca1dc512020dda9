// Model folders: save -> load round trips for every kind, folders written from numpy
// with cov.npy / covs.npy or ascending eigenvalues, every kind of bad folder, a changed
// data file, and diffsamp prepare.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ds_error.h"
#include "ds_model.h"
#include "testutil.h"

// Random anisotropic rows (n x d, d = 16 as a 1 x 4 x 4 image) saved as dir/data.npy.
static void write_data(char *path, const char *dir, int64_t n, uint64_t seed) {
    const int64_t d = 16, shape[4] = {n, 1, 4, 4};
    double *x = malloc(sizeof(double) * (size_t)(n * d)), a[256];
    tu_fill_normal(x, n * d, seed);
    tu_fill_uniform(a, d * d, seed + 1, -1, 1);
    for (int64_t s = 0; s < n; s++) {
        double row[16];
        for (int64_t i = 0; i < d; i++) {
            row[i] = 0.1 * i + (s % 3);
            for (int64_t j = 0; j < d; j++) row[i] += x[s * d + j] * a[j * d + i];
        }
        memcpy(x + s * d, row, sizeof row);
    }
    snprintf(path, 600, "%s/data.npy", dir);
    assert_int_equal(ds_npy_write_f64(path, x, 4, shape, DS_F32), 0);
    free(x);
}

static void fit_file(const char *path, ds_model_kind kind, int64_t k, int64_t rank, ds_model *m) {
    ds_data data;
    assert_int_equal(ds_data_load(path, &data), 0);
    ds_fit_opts o;
    ds_fit_opts_default(&o);
    o.k = k;
    o.rank = rank;
    o.seed = tu_seed();
    assert_int_equal(ds_model_fit(&data, kind, &o, m), 0);
    ds_data_free(&data);
}

static void assert_close(const double *a, const double *b, int64_t n, double tol) {
    for (int64_t i = 0; i < n; i++) assert_true(fabs(a[i] - b[i]) <= tol * (1 + fabs(b[i])));
}

// Loaded arrays equal the saved ones: float64 files are exact, weights are renormalised
// (a relative change ~1e-16) and the mean is recomputed as sum w mu (~1e-15).
static void assert_models_equal(const ds_model *a, const ds_model *b) {
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->d, b->d);
    assert_int_equal(a->channels, b->channels);
    assert_int_equal(a->height, b->height);
    assert_int_equal(a->width, b->width);
    assert_true(a->sigma_data == b->sigma_data);
    assert_close(a->mean, b->mean, a->d, 1e-14);
    assert_int_equal(a->data_bytes, b->data_bytes);
    assert_true(a->data_checksum == b->data_checksum);
    if (a->kind == DS_MODEL_EMPIRICAL) {
        assert_int_equal(a->data.n, b->data.n);
        assert_int_equal(a->data.dtype, b->data.dtype);
        assert_memory_equal(a->data.values, b->data.values, (size_t)ds_data_value_bytes(&a->data));
        return;
    }
    assert_int_equal(a->k, b->k);
    assert_int_equal(a->r, b->r);
    assert_close(a->weights, b->weights, a->k, 1e-15);
    assert_memory_equal(a->means, b->means, sizeof(double) * (size_t)(a->k * a->d));
    assert_memory_equal(a->eigvals, b->eigvals, sizeof(double) * (size_t)(a->k * a->r));
    assert_memory_equal(a->eigvecs, b->eigvecs, sizeof(double) * (size_t)(a->k * a->d * a->r));
    assert_memory_equal(a->residual, b->residual, sizeof(double) * (size_t)a->k);
}

static void test_roundtrip_every_kind(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    char data[600], folder[700];
    write_data(data, dir, 300, tu_seed());
    const struct {
        ds_model_kind kind;
        int64_t k, rank;
    } cases[] = {{DS_MODEL_EMPIRICAL, 0, 0},
                 {DS_MODEL_GAUSSIAN, 1, 0},
                 {DS_MODEL_GAUSSIAN, 1, 5},
                 {DS_MODEL_GMM, 3, 0},
                 {DS_MODEL_GMM, 3, 4}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ds_model m, back;
        fit_file(data, cases[i].kind, cases[i].k, cases[i].rank, &m);
        snprintf(folder, sizeof folder, "%s/model%zu", dir, i);
        assert_int_equal(ds_model_save(&m, folder), 0);
        assert_int_equal(ds_model_load(folder, &back), 0);
        assert_int_equal(back.channels, 1);
        assert_models_equal(&back, &m);
        ds_model_free(&m);
        ds_model_free(&back);
    }
    // Saving a gmm over a Gaussian folder leaves none of the Gaussian's arrays behind.
    snprintf(folder, sizeof folder, "%s/model1", dir);
    ds_model m;
    fit_file(data, DS_MODEL_GMM, 2, 0, &m);
    assert_int_equal(ds_model_save(&m, folder), 0);
    snprintf(folder, sizeof folder, "%s/model1/mean.npy", dir);
    assert_false(tu_file_exists(folder));
    ds_model_free(&m);
}

static void write_array(const char *dir, const char *name, const double *x, int ndim,
                        const int64_t *shape) {
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(ds_npy_write_f64(path, x, ndim, shape, DS_F64), 0);
}

static void write_text(const char *dir, const char *name, const char *text) {
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void remove_file(const char *dir, const char *name) {
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(unlink(path), 0);
}

// A folder written by hand with covs.npy (K x d x d) instead of the eigen arrays
// decomposes to the same model (1e-12 of the largest eigenvalue: two float64
// eigendecompositions); with "rank = 3" in model.txt it keeps the top 3 and spreads the
// rest as the residual. The Gaussian's cov.npy goes the same way.
static void test_cov_route(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    char data[600], folder[700];
    write_data(data, dir, 300, tu_seed() + 5);
    for (int gmm = 0; gmm < 2; gmm++) {
        ds_model m, back, low;
        fit_file(data, gmm ? DS_MODEL_GMM : DS_MODEL_GAUSSIAN, 2, 0, &m);
        int64_t k = m.k, d = m.d, kdd[3] = {k, d, d}, kd[2] = {k, d};
        double *covs = malloc(sizeof(double) * (size_t)(k * d * d));
        for (int64_t c = 0; c < k; c++) tu_component_cov(&m, c, covs + c * d * d);
        snprintf(folder, sizeof folder, "%s/cov%d", dir, gmm);
        assert_int_equal(ds_mkdirs(folder), 0);
        write_array(folder, gmm ? "covs.npy" : "cov.npy", covs, 3 - !gmm, kdd + !gmm);
        write_array(folder, gmm ? "means.npy" : "mean.npy", m.means, 2 - !gmm, kd + !gmm);
        if (gmm) write_array(folder, "weights.npy", m.weights, 1, kd);
        write_text(folder, "model.txt", gmm ? "kind = gmm\nd = 16\n" : "kind = gaussian\nd = 16\n");
        assert_int_equal(ds_model_load(folder, &back), 0);
        assert_int_equal(back.r, d);
        assert_close(back.eigvals, m.eigvals, k * d, 1e-12 * m.eigvals[0]);
        assert_true(fabs(back.sigma_data - m.sigma_data) <= 1e-12 * m.sigma_data);
        write_text(folder, "model.txt",
                   gmm ? "kind = gmm\nd = 16\nrank = 3\n" : "kind = gaussian\nd = 16\nrank = 3\n");
        assert_int_equal(ds_model_load(folder, &low), 0);
        assert_int_equal(low.r, 3);
        for (int64_t c = 0; c < k; c++) {
            double rest = 0;
            for (int64_t j = 3; j < d; j++) rest += m.eigvals[c * d + j] / (double)(d - 3);
            assert_true(fabs(low.residual[c] - rest) <= 1e-12 * m.eigvals[c * d]);
            assert_close(low.eigvals + c * 3, m.eigvals + c * d, 3, 1e-12 * m.eigvals[c * d]);
        }
        free(covs);
        ds_model_free(&m);
        ds_model_free(&back);
        ds_model_free(&low);
    }
}

// numpy's eigh returns eigenvalues in ascending order: such a folder loads sorted.
static void test_ascending_eigenvalues_sorted(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    char data[600], folder[700];
    write_data(data, dir, 200, tu_seed() + 6);
    ds_model m, back;
    fit_file(data, DS_MODEL_GAUSSIAN, 1, 0, &m);
    snprintf(folder, sizeof folder, "%s/model", dir);
    assert_int_equal(ds_model_save(&m, folder), 0);
    int64_t d = m.d, shape[2] = {d, d};
    double *lam = malloc(sizeof(double) * (size_t)d), *u = malloc(sizeof(double) * (size_t)(d * d));
    for (int64_t j = 0; j < d; j++) {
        lam[j] = m.eigvals[d - 1 - j];
        for (int64_t i = 0; i < d; i++) u[i * d + j] = m.eigvecs[i * d + d - 1 - j];
    }
    write_array(folder, "eigvals.npy", lam, 1, shape);
    write_array(folder, "eigvecs.npy", u, 2, shape);
    assert_int_equal(ds_model_load(folder, &back), 0);
    assert_models_equal(&back, &m);
    free(lam);
    free(u);
    ds_model_free(&m);
    ds_model_free(&back);
}

// ---- bad folders: each case breaks one thing in a valid gmm folder (K = 2, d = 16,
// r = 4) and expects a refusal whose message names the problem ----

typedef struct {
    const char *what;
    const char *expect; // a substring of the error
} bad_case;

// Replaces the eigen arrays by covs.npy whose component 0 is I and component 1 is -I
// (not positive semi-definite) or I with one asymmetric entry.
static void write_bad_covs(const char *dir, const ds_model *m, int negative) {
    int64_t k = m->k, d = m->d, shape[3] = {k, d, d};
    double *covs = calloc((size_t)(k * d * d), sizeof(double));
    for (int64_t c = 0; c < k; c++)
        for (int64_t i = 0; i < d; i++) covs[(c * d + i) * d + i] = c && negative ? -1.0 : 1.0;
    if (!negative) covs[d * d + 1] = 0.5;
    remove_file(dir, "eigvals.npy");
    remove_file(dir, "eigvecs.npy");
    remove_file(dir, "residual.npy");
    write_array(dir, "covs.npy", covs, 3, shape);
    free(covs);
}

static void break_folder(int which, const char *dir, const ds_model *m) {
    int64_t k = m->k, d = m->d, r = m->r;
    int64_t kdr[3] = {k, d, r}, kr[2] = {k, r}, kd[2] = {k, d}, kdr1[3] = {k, d, r - 1};
    size_t n_vecs = (size_t)(k * d * r);
    double *copy = malloc(sizeof(double) * n_vecs);
    memcpy(copy, m->eigvecs, sizeof(double) * n_vecs);
    switch (which) {
    case 0:
        remove_file(dir, "model.txt");
        break;
    case 1:
        remove_file(dir, "eigvecs.npy");
        break;
    case 2:
        remove_file(dir, "means.npy");
        break;
    case 3:
        write_array(dir, "eigvecs.npy", copy, 3, kdr1);
        break;
    case 4:
        write_array(dir, "means.npy", m->means, 2, (int64_t[]){k - 1, d});
        break;
    case 5:
        write_array(dir, "residual.npy", m->residual, 2, (int64_t[]){k, 1});
        break;
    case 6:
        memcpy(copy, m->eigvals, sizeof(double) * (size_t)(k * r));
        copy[r + 1] = -1e-3;
        write_array(dir, "eigvals.npy", copy, 2, kr);
        break;
    case 7:
        for (int64_t i = 0; i < d; i++) copy[d * r + i * r + 1] *= 1.0 + 1e-5;
        write_array(dir, "eigvecs.npy", copy, 3, kdr);
        break;
    case 8:
        write_array(dir, "weights.npy", (double[]){m->weights[0] + 1e-4, m->weights[1]}, 1, kd);
        break;
    case 9:
        write_array(dir, "weights.npy", (double[]){1.0, 0.0}, 1, kd);
        break;
    case 10:
        memcpy(copy, m->means, sizeof(double) * (size_t)(k * d));
        copy[5] = NAN;
        write_array(dir, "means.npy", copy, 2, kd);
        break;
    case 11:
        write_text(dir, "model.txt", "kind = gmm\nd = 16\ncolour = blue\n");
        break;
    case 12:
        write_text(dir, "model.txt", "kind = gmm\nd = 16\nk = 3\n");
        break;
    case 13:
        write_text(dir, "model.txt", "kind = mixture\nd = 16\n");
        break;
    case 14:
        write_text(dir, "model.txt", "kind = gmm\nd = 16\nrank = 5\n");
        break;
    case 15:
        write_text(dir, "model.txt", "kind = gmm\nd = 15\n");
        break;
    case 16:
        write_text(dir, "means.npy", "\x93NUMPY\x01\x00");
        break;
    case 17:
        write_array(dir, "residual.npy", (double[]){0.1, -0.2}, 1, kd);
        break;
    case 18:
    case 19:
        write_bad_covs(dir, m, which == 18);
        break;
    case 20: // finite, but the squares overflow (found by fuzzing: sigma_data was Inf)
        memcpy(copy, m->means, sizeof(double) * (size_t)(k * d));
        copy[3] = 1e200;
        write_array(dir, "means.npy", copy, 2, kd);
        break;
    }
    free(copy);
}

static const bad_case bad_cases[] = {
    {"no model.txt", "no model.txt"},
    {"missing eigvecs", "eigvecs.npy: missing"},
    {"missing means", "means.npy: missing"},
    {"eigvecs shape", "eigvecs.npy: shape (2, 16, 3), expected (2, 16, 4)"},
    {"means shape", "means.npy: shape (1, 16), expected (2, 16)"},
    {"residual shape", "residual.npy: shape (2, 1), expected (2)"},
    {"negative eigenvalue", "eigvals.npy: element 5 is negative"},
    {"eigvecs not orthonormal", "eigvecs.npy: component 1: eigenvectors are not orthonormal"},
    {"weights do not sum to 1", "weights.npy: weights sum to 1.0001"},
    {"zero weight", "weights.npy: weight 1 is 0"},
    {"NaN in means", "means.npy: element 5 is NaN"},
    {"unknown key", "model.txt: line 3: unknown key 'colour'"},
    {"k mismatch", "model.txt: k = 3 but the arrays hold 2"},
    {"unknown kind", "unknown kind 'mixture'"},
    {"rank mismatch", "model.txt: rank = 5 but eigvals.npy holds 4"},
    {"d mismatch", "means.npy: shape (2, 16), expected (2, 15)"},
    {"truncated npy", "means.npy: truncated npy"},
    {"negative residual", "residual.npy: element 1 is negative"},
    {"covariance not PSD", "covs.npy: component 1: covariance is not positive semi-definite"},
    {"covariance not symmetric", "covs.npy: component 1: not symmetric"},
    {"variance overflows", "the mixture's variance overflows a double"},
};

// A comment longer than any line buffer stays a comment: its tail ("sigma_data = 7") is
// not parsed as a key (fgets with a 4,160-byte buffer split it).
static void test_long_comment_line(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    char data[600], folder[700];
    write_data(data, dir, 100, tu_seed() + 12);
    ds_model m, back;
    fit_file(data, DS_MODEL_GAUSSIAN, 0, 4, &m);
    snprintf(folder, sizeof folder, "%s/model", dir);
    assert_int_equal(ds_model_save(&m, folder), 0);
    size_t pad = 5000;
    char *text = malloc(pad + 128);
    assert_non_null(text);
    int at = snprintf(text, 128, "kind = gaussian\nd = 16\n#");
    memset(text + at, ' ', pad);
    snprintf(text + at + pad, 128, "sigma_data = 7\n");
    write_text(folder, "model.txt", text);
    free(text);
    assert_int_equal(ds_model_load(folder, &back), 0);
    assert_true(back.sigma_data != 7);
    ds_model_free(&back);
    // A NUL byte does not end a value early ("d = 16\0 junk" is refused, not d = 16).
    char manifest[DS_PATH_MAX + 64];
    snprintf(manifest, sizeof manifest, "%s/model.txt", folder);
    FILE *f = fopen(manifest, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite("kind = gaussian\nd = 16\0 junk\n", 1, 30, f), 30);
    fclose(f);
    assert_int_equal(ds_model_load(folder, &back), -1);
    assert_non_null(strstr(ds_error(), "line 2 holds a NUL byte"));
    write_text(folder, "model.txt", "kind = gaussian\nd = 16\n");
    assert_int_equal(ds_model_load(folder, &back), 0);
    assert_true(fabs(back.sigma_data - m.sigma_data) <= 1e-12 * m.sigma_data);
    ds_model_free(&back);
    ds_model_free(&m);
}

static void test_bad_folders_refused(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    char data[600], folder[700];
    write_data(data, dir, 200, tu_seed() + 7);
    ds_model m, back;
    fit_file(data, DS_MODEL_GMM, 2, 4, &m);
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        snprintf(folder, sizeof folder, "%s/bad%zu", dir, i);
        assert_int_equal(ds_model_save(&m, folder), 0);
        assert_int_equal(ds_model_load(folder, &back), 0); // valid before breaking
        ds_model_free(&back);
        break_folder((int)i, folder, &m);
        int rc = ds_model_load(folder, &back);
        printf("%-26s -> %s\n", bad_cases[i].what, ds_error());
        assert_int_equal(rc, -1);
        assert_non_null(strstr(ds_error(), bad_cases[i].expect));
        assert_non_null(strstr(ds_error(), folder));
    }
    ds_model_free(&m);
}

// Weights off by up to 1e-6 (float32 rounding, say) are renormalised to sum to 1.
static void test_weights_renormalised(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    char data[600], folder[700];
    write_data(data, dir, 200, tu_seed() + 8);
    ds_model m, back;
    fit_file(data, DS_MODEL_GMM, 2, 0, &m);
    snprintf(folder, sizeof folder, "%s/model", dir);
    assert_int_equal(ds_model_save(&m, folder), 0);
    int64_t k[1] = {2};
    write_array(folder, "weights.npy", (double[]){m.weights[0] * (1 + 5e-7), m.weights[1]}, 1, k);
    assert_int_equal(ds_model_load(folder, &back), 0);
    assert_true(fabs(back.weights[0] + back.weights[1] - 1) <= 1e-15);
    ds_model_free(&m);
    ds_model_free(&back);
}

// An empirical folder is tied to its data file: a change of one value (same size) or of
// the size, or a missing file, is refused.
static void test_empirical_data_changed(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    char data[600], folder[700];
    write_data(data, dir, 100, tu_seed() + 9);
    ds_model m, back;
    fit_file(data, DS_MODEL_EMPIRICAL, 0, 0, &m);
    snprintf(folder, sizeof folder, "%s/model", dir);
    assert_int_equal(ds_model_save(&m, folder), 0);
    assert_int_equal(ds_model_load(folder, &back), 0);
    ds_model_free(&back);
    double *x = malloc(sizeof(double) * 100 * 16);
    ds_data_rows_f64(&m.data, 0, 100, x);
    x[777] += 0.5;
    int64_t same[2] = {100, 16}, fewer[2] = {99, 16};
    assert_int_equal(ds_npy_write_f64(data, x, 2, same, DS_F32), 0);
    assert_int_equal(ds_model_load(folder, &back), -1);
    assert_non_null(strstr(ds_error(), "changed since the model was prepared"));
    assert_int_equal(ds_npy_write_f64(data, x, 2, fewer, DS_F32), 0);
    assert_int_equal(ds_model_load(folder, &back), -1);
    assert_non_null(strstr(ds_error(), "changed since the model was prepared"));
    unlink(data);
    assert_int_equal(ds_model_load(folder, &back), -1);
    assert_non_null(strstr(ds_error(), "cannot read the model's data"));
    // A device as data is refused, not read without end.
    assert_int_equal(symlink("/dev/zero", data), 0);
    assert_int_equal(ds_model_load(folder, &back), -1);
    assert_non_null(strstr(ds_error(), "is not a regular file"));
    free(x);
    ds_model_free(&m);
}

// diffsamp prepare: a good run prints its summary and writes a loadable folder; bad input
// exits non-zero with a message and leaves no folder.
static void test_prepare_cli(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    char data[600], folder[700];
    write_data(data, dir, 120, tu_seed() + 11);
    snprintf(folder, sizeof folder, "%s/gmm", dir);
    assert_int_equal(tu_system("%s prepare --data %s --model gmm --k 3 --rank 4 --seed 7 --out %s "
                               "> %s/out.txt",
                               tu_bin(), data, folder, dir),
                     0);
    ds_model m;
    assert_int_equal(ds_model_load(folder, &m), 0);
    assert_int_equal(m.k, 3);
    assert_int_equal(m.r, 4);
    ds_model_free(&m);
    const char *bad[] = {
        "--model gmm --k 0", "--model gmm --k 121",           "--model gaussian --rank 17",
        "--model kde",       "--model gmm --gmm-from-labels", "--model gaussian --rank -1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(folder, sizeof folder, "%s/bad%zu", dir, i);
        int rc = tu_system("%s prepare --data %s %s --out %s 2> %s/err.txt", tu_bin(), data, bad[i],
                           folder, dir);
        assert_true(rc != 0);
        assert_false(tu_file_exists(folder));
        char path[700], err[1024] = {0};
        snprintf(path, sizeof path, "%s/err.txt", dir);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        assert_non_null(fgets(err, sizeof err, f));
        fclose(f);
        printf("%-32s -> %s", bad[i], err);
        assert_non_null(strstr(err, "diffsamp: "));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_every_kind),
        cmocka_unit_test(test_cov_route),
        cmocka_unit_test(test_ascending_eigenvalues_sorted),
        cmocka_unit_test(test_bad_folders_refused),
        cmocka_unit_test(test_long_comment_line),
        cmocka_unit_test(test_weights_renormalised),
        cmocka_unit_test(test_empirical_data_changed),
        cmocka_unit_test(test_prepare_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
