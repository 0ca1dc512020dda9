// Model fitting: the Gaussian fit recovers a known Gaussian within sampling error, rank
// truncation keeps the top eigenpairs and spreads the rest as the residual, k-means++
// is deterministic and finds separated clusters, components from labels and per class
// (and one class's selection), and small
// components are warned about and floored.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ds_error.h"
#include "ds_model.h"
#include "testutil.h"

// An in-memory data set (no file, so no provenance) of float64 rows, kept as given.
static ds_data make_data(const double *x, int64_t n, int64_t d) {
    ds_data data = {.n = n, .d = d, .dtype = DS_F64};
    data.values = malloc(sizeof(double) * (size_t)(n * d));
    memcpy(data.values, x, sizeof(double) * (size_t)(n * d));
    return data;
}

// Mean and covariance of N samples from N(mu, Q diag(lam) Q^T) lie within 6 standard
// errors of the truth: sd(mean_j) = sqrt(S_jj / N), sd(S_ij) = sqrt((S_ii S_jj +
// S_ij^2) / N) for Gaussian data, sd(lam_j) = lam_j sqrt(2 / N) (separated eigenvalues).
// A false failure has probability below 1e-6 over the 12 + 78 + 12 checks.
static void test_gaussian_recovers_known_gaussian(void **state) {
    (void)state;
    const int64_t d = 12, n = 20000;
    uint64_t seed = tu_seed();
    double q[144], lam[12], mu[12], coef[2], truth[144];
    tu_orthonormal_columns(q, d, d, seed);
    tu_fill_uniform(coef, 2, seed + 1, 0, 1);
    for (int64_t j = 0; j < d; j++) lam[j] = (1 + 3 * coef[0]) * pow(0.6 + 0.15 * coef[1], j);
    tu_fill_uniform(mu, d, seed + 2, -2, 2);
    double *z = malloc(sizeof(double) * (size_t)(n * d)), *x = malloc(sizeof(double) * n * d);
    tu_fill_normal(z, n * d, seed + 3);
    for (int64_t s = 0; s < n; s++)
        for (int64_t i = 0; i < d; i++) {
            double v = mu[i];
            for (int64_t j = 0; j < d; j++) v += q[i * d + j] * sqrt(lam[j]) * z[s * d + j];
            x[s * d + i] = v;
        }
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < d; j++) {
            truth[i * d + j] = 0;
            for (int64_t p = 0; p < d; p++)
                truth[i * d + j] += q[i * d + p] * lam[p] * q[j * d + p];
        }
    ds_data data = make_data(x, n, d);
    ds_fit_opts o;
    ds_fit_opts_default(&o);
    ds_model m;
    assert_int_equal(ds_model_fit(&data, DS_MODEL_GAUSSIAN, &o, &m), 0);
    assert_int_equal(m.k, 1);
    assert_int_equal(m.r, d);
    double cov[144], trace = 0;
    tu_component_cov(&m, 0, cov);
    for (int64_t i = 0; i < d; i++) {
        assert_true(fabs(m.means[i] - mu[i]) <= 6 * sqrt(truth[i * d + i] / n));
        assert_true(fabs(m.mean[i] - m.means[i]) <= 1e-12);
        assert_true(fabs(m.eigvals[i] - lam[i]) <= 6 * lam[i] * sqrt(2.0 / n));
        if (i) assert_true(m.eigvals[i] <= m.eigvals[i - 1]);
        trace += cov[i * d + i];
        for (int64_t j = i; j < d; j++) {
            double se = sqrt(
                (truth[i * d + i] * truth[j * d + j] + truth[i * d + j] * truth[i * d + j]) / n);
            assert_true(fabs(cov[i * d + j] - truth[i * d + j]) <= 6 * se);
        }
    }
    // sigma_data is the rms deviation from the mean: sqrt(trace / d) of the fit.
    assert_true(fabs(m.sigma_data - sqrt(trace / d)) <= 1e-6 * m.sigma_data);
    ds_model_free(&m);
    ds_data_free(&data);
    free(z);
    free(x);
}

static double *anisotropic_rows(int64_t n, int64_t d, uint64_t seed) {
    double *z = malloc(sizeof(double) * (size_t)(n * d)), *a = malloc(sizeof(double) * d * d);
    double *x = malloc(sizeof(double) * (size_t)(n * d));
    tu_fill_normal(z, n * d, seed);
    tu_fill_uniform(a, d * d, seed + 1, -1, 1);
    for (int64_t s = 0; s < n; s++)
        for (int64_t i = 0; i < d; i++) {
            x[s * d + i] = 0.5 * i;
            for (int64_t j = 0; j < d; j++) x[s * d + i] += z[s * d + j] * a[j * d + i];
        }
    free(z);
    free(a);
    return x;
}

// Rank r keeps the top r eigenpairs of the full fit (eigenvalues to 1e-10 relative,
// vectors up to sign to 1e-8) and its residual is the mean of the other d - r
// eigenvalues (1e-10 of the mean eigenvalue): float64 rounding in the two LAPACK runs is
// ~1e-14, and the vectors' sensitivity is 1e-16 / gap.
static void test_rank_truncation_residual(void **state) {
    (void)state;
    const int64_t n = 500, d = 20, r = 5;
    double *x = anisotropic_rows(n, d, tu_seed() + 10);
    ds_data data = make_data(x, n, d);
    ds_fit_opts o;
    ds_fit_opts_default(&o);
    ds_model full, low;
    assert_int_equal(ds_model_fit(&data, DS_MODEL_GAUSSIAN, &o, &full), 0);
    o.rank = r;
    assert_int_equal(ds_model_fit(&data, DS_MODEL_GAUSSIAN, &o, &low), 0);
    assert_int_equal(low.r, r);
    assert_true(full.residual[0] == 0);
    double rest = 0, mean_eig = 0;
    for (int64_t j = 0; j < d; j++) mean_eig += full.eigvals[j] / d;
    for (int64_t j = r; j < d; j++) rest += full.eigvals[j] / (double)(d - r);
    assert_true(fabs(low.residual[0] - rest) <= 1e-10 * mean_eig);
    for (int64_t j = 0; j < r; j++) {
        assert_true(fabs(low.eigvals[j] - full.eigvals[j]) <= 1e-10 * full.eigvals[j]);
        double dot = 0;
        for (int64_t i = 0; i < d; i++) dot += low.eigvecs[i * r + j] * full.eigvecs[i * d + j];
        assert_true(fabs(fabs(dot) - 1) <= 1e-8);
    }
    ds_model_free(&full);
    ds_model_free(&low);
    ds_data_free(&data);
    free(x);
}

// Four clusters (random sizes, rows shuffled) whose centres are >~ 100 apart with spread
// 0.1: k-means++ then Lloyd must find exactly the true partition, so the fitted weights
// are the true fractions and the means the true cluster means (1e-9: float32 rows
// averaged in float64). k-means++ seeds a found cluster again with probability ~ (within
// spread / separation)^2 ~ 1e-5 per draw, so a false failure is that rare. The same seed
// gives bit-identical models.
static void test_kmeans_deterministic_and_separated(void **state) {
    (void)state;
    const int64_t d = 10, k = 4;
    uint64_t seed = tu_seed() + 20;
    double centres[40], sizes_u[4], *perm_u;
    int64_t sizes[4], n = 0;
    tu_fill_uniform(centres, k * d, seed, -100, 100);
    tu_fill_uniform(sizes_u, k, seed + 1, 0, 1);
    for (int64_t c = 0; c < k; c++) n += sizes[c] = 50 + (int64_t)(100 * sizes_u[c]);
    int64_t *truth = malloc(sizeof(int64_t) * (size_t)n);
    perm_u = malloc(sizeof(double) * (size_t)n);
    tu_fill_uniform(perm_u, n, seed + 2, 0, 1);
    for (int64_t c = 0, i = 0; c < k; c++)
        for (int64_t s = 0; s < sizes[c]; s++) truth[i++] = c;
    for (int64_t i = n - 1; i > 0; i--) { // Fisher-Yates shuffle
        int64_t j = (int64_t)(perm_u[i] * (double)(i + 1)), t = truth[i];
        truth[i] = truth[j], truth[j] = t;
    }
    double *x = malloc(sizeof(double) * (size_t)(n * d));
    tu_fill_normal(x, n * d, seed + 3);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++)
            x[i * d + j] = 0.1 * x[i * d + j] + centres[truth[i] * d + j];
    ds_data data = make_data(x, n, d);
    double true_mean[40] = {0};
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) true_mean[truth[i] * d + j] += ds_data_value(&data, i, j);
    ds_fit_opts o;
    ds_fit_opts_default(&o);
    o.k = k;
    o.seed = seed;
    ds_model a, b;
    assert_int_equal(ds_model_fit(&data, DS_MODEL_GMM, &o, &a), 0);
    assert_int_equal(ds_model_fit(&data, DS_MODEL_GMM, &o, &b), 0);
    assert_memory_equal(a.means, b.means, sizeof(double) * k * d);
    assert_memory_equal(a.eigvecs, b.eigvecs, sizeof(double) * k * d * d);
    int used[4] = {0};
    for (int64_t c = 0; c < k; c++) {
        int64_t match = -1;
        for (int64_t t = 0; t < k; t++) {
            double dist2 = 0;
            for (int64_t j = 0; j < d; j++)
                dist2 += pow(a.means[c * d + j] - centres[t * d + j], 2);
            if (dist2 < 1) match = t; // sample means lie ~0.05 from their centres
        }
        assert_true(match >= 0 && !used[match]);
        used[match] = 1;
        assert_true(fabs(a.weights[c] - (double)sizes[match] / n) <= 1e-15);
        for (int64_t j = 0; j < d; j++)
            assert_true(fabs(a.means[c * d + j] - true_mean[match * d + j] / sizes[match]) <= 1e-9);
    }
    ds_model_free(&a);
    ds_model_free(&b);
    ds_data_free(&data);
    free(x);
    free(truth);
    free(perm_u);
}

// From labels: one component per distinct label in increasing label order, each
// identical (1e-12) to a Gaussian fitted to that class alone.
static void test_gmm_from_labels(void **state) {
    (void)state;
    const int64_t n = 600, d = 6;
    const int32_t names[3] = {7, 2, 5}; // components: label 2, 5, 7
    double *x = anisotropic_rows(n, d, tu_seed() + 30), u[600];
    tu_fill_uniform(u, n, tu_seed() + 31, 0, 3);
    ds_data data = make_data(x, n, d);
    ds_fit_opts o;
    ds_fit_opts_default(&o);
    o.from_labels = 1;
    ds_model m;
    assert_int_equal(ds_model_fit(&data, DS_MODEL_GMM, &o, &m), -1);
    assert_non_null(strstr(ds_error(), "labels"));
    data.labels = malloc(sizeof(int32_t) * n);
    for (int64_t i = 0; i < n; i++) data.labels[i] = names[(int)u[i]];
    assert_int_equal(ds_model_fit(&data, DS_MODEL_GMM, &o, &m), 0);
    assert_int_equal(m.k, 3);
    for (int64_t c = 0; c < 3; c++) {
        int32_t label = c == 0 ? 2 : c == 1 ? 5 : 7;
        assert_int_equal(m.classes[c], label);
        int64_t count = 0;
        for (int64_t i = 0; i < n; i++) count += data.labels[i] == label;
        double *rows = malloc(sizeof(double) * (size_t)(count * d));
        int64_t s = 0;
        for (int64_t i = 0; i < n; i++) {
            if (data.labels[i] != label) continue;
            for (int64_t j = 0; j < d; j++) rows[s * d + j] = ds_data_value(&data, i, j);
            s++;
        }
        ds_data part = make_data(rows, count, d);
        ds_model g;
        assert_int_equal(ds_model_fit(&part, DS_MODEL_GAUSSIAN, &o, &g), 0);
        assert_true(fabs(m.weights[c] - (double)count / n) <= 1e-15);
        for (int64_t j = 0; j < d; j++) {
            assert_true(fabs(m.means[c * d + j] - g.means[j]) <= 1e-12 * (1 + fabs(g.means[j])));
            assert_true(fabs(m.eigvals[c * d + j] - g.eigvals[j]) <= 1e-12 * g.eigvals[0]);
        }
        ds_model_free(&g);
        ds_data_free(&part);
        free(rows);
    }
    ds_model_free(&m);
    ds_data_free(&data);
    free(x);
}

// The rows of class `label` as a data set of their own (order kept).
static ds_data class_rows(const ds_data *data, int32_t label, double **rows) {
    int64_t count = 0, d = data->d, s = 0;
    for (int64_t i = 0; i < data->n; i++) count += data->labels[i] == label;
    *rows = malloc(sizeof(double) * (size_t)(count * d));
    for (int64_t i = 0; i < data->n; i++) {
        if (data->labels[i] != label) continue;
        for (int64_t j = 0; j < d; j++) (*rows)[s * d + j] = ds_data_value(data, i, j);
        s++;
    }
    return make_data(*rows, count, d);
}

// Per class (--per-class): k components per label, classes in increasing order, each
// class's components those of the same k-means fit to that class's rows alone (same seed:
// means and eigenvalues to 1e-12), weights count / N. ds_model_select_class keeps one
// class's components with weights renormalised (those of the class's own fit, 1e-15),
// and the kept mixture's mean and sigma_data are the class rows' (1e-12); it refuses a
// mixture without classes, a label no component has, and a Gaussian.
static void test_gmm_per_class_and_select(void **state) {
    (void)state;
    const int64_t n = 600, d = 6, k = 2;
    const int32_t names[3] = {7, 2, 5}, sorted[3] = {2, 5, 7};
    double *x = anisotropic_rows(n, d, tu_seed() + 60), u[600];
    tu_fill_uniform(u, n, tu_seed() + 61, 0, 3);
    ds_data data = make_data(x, n, d);
    data.labels = malloc(sizeof(int32_t) * n);
    for (int64_t i = 0; i < n; i++) data.labels[i] = names[(int)u[i]];
    ds_fit_opts o;
    ds_fit_opts_default(&o);
    o.k = k, o.seed = tu_seed() % 1000;
    ds_model plain, m;
    assert_int_equal(ds_model_fit(&data, DS_MODEL_GMM, &o, &plain), 0);
    assert_null(plain.classes);
    assert_int_equal(ds_model_select_class(&plain, 5), -1);
    assert_non_null(strstr(ds_error(), "records no component classes"));
    o.per_class = 1;
    assert_int_equal(ds_model_fit(&data, DS_MODEL_GMM, &o, &m), 0);
    assert_int_equal(m.k, 3 * k);
    for (int64_t li = 0; li < 3; li++) {
        double *rows;
        ds_data part = class_rows(&data, sorted[li], &rows);
        ds_fit_opts po = o;
        po.per_class = 0;
        ds_model g;
        assert_int_equal(ds_model_fit(&part, DS_MODEL_GMM, &po, &g), 0);
        for (int64_t c = 0; c < k; c++) {
            int64_t mc = li * k + c;
            assert_int_equal(m.classes[mc], sorted[li]);
            assert_true(fabs(m.weights[mc] - g.weights[c] * part.n / n) <= 1e-15);
            for (int64_t j = 0; j < d; j++) {
                double mu = g.means[c * d + j], lam = g.eigvals[c * d + j];
                assert_true(fabs(m.means[mc * d + j] - mu) <= 1e-12 * (1 + fabs(mu)));
                assert_true(fabs(m.eigvals[mc * d + j] - lam) <= 1e-12 * g.eigvals[c * d]);
            }
        }
        if (sorted[li] == 5) {
            ds_model one;
            char dir[600];
            snprintf(dir, sizeof dir, "%s/per_class", tu_tmpdir());
            assert_int_equal(ds_model_save(&m, dir), 0);
            assert_int_equal(ds_model_load(dir, &one), 0); // the classes travel in the folder
            assert_int_equal(ds_model_select_class(&one, 5), 0);
            assert_int_equal(one.k, k);
            double sum = 0;
            for (int64_t c = 0; c < k; c++) {
                assert_int_equal(one.classes[c], 5);
                assert_true(fabs(one.weights[c] - g.weights[c]) <= 1e-15);
                sum += one.weights[c];
                for (int64_t j = 0; j < d; j++)
                    assert_true(one.means[c * d + j] == m.means[(li * k + c) * d + j]);
            }
            assert_true(fabs(sum - 1) <= 1e-15);
            double mean[6], rms = 0;
            for (int64_t j = 0; j < d; j++) {
                mean[j] = 0;
                for (int64_t i = 0; i < part.n; i++) mean[j] += rows[i * d + j] / (double)part.n;
                assert_true(fabs(one.mean[j] - mean[j]) <= 1e-12 * (1 + fabs(mean[j])));
            }
            for (int64_t i = 0; i < part.n * d; i++)
                rms += (rows[i] - mean[i % d]) * (rows[i] - mean[i % d]);
            rms = sqrt(rms / (double)(part.n * d));
            assert_true(fabs(one.sigma_data - rms) <= 1e-12 * rms);
            assert_int_equal(ds_model_select_class(&one, 2), -1); // class 2 is gone by now
            assert_non_null(strstr(ds_error(), "no component of this gmm model has that class"));
            ds_model_free(&one);
        }
        ds_model_free(&g);
        ds_data_free(&part);
        free(rows);
    }
    o.k = 500; // more components than a class has rows
    ds_model big;
    assert_int_equal(ds_model_fit(&data, DS_MODEL_GMM, &o, &big), -1);
    assert_non_null(strstr(ds_error(), "fewer than --k 500 components per class"));
    o.k = k, o.from_labels = 1;
    assert_int_equal(ds_model_fit(&data, DS_MODEL_GMM, &o, &big), -1);
    assert_non_null(strstr(ds_error(), "exclude each other"));
    ds_model gauss;
    assert_int_equal(ds_model_fit(&data, DS_MODEL_GAUSSIAN, &o, &gauss), 0);
    assert_int_equal(ds_model_select_class(&gauss, 5), -1);
    assert_non_null(strstr(ds_error(), "no components to select"));
    ds_model_free(&gauss);
    ds_model_free(&plain);
    ds_model_free(&m);
    ds_data_free(&data);
    free(x);
}

// Runs a fit with stderr captured into buf.
static int fit_capturing_stderr(const ds_data *data, const ds_fit_opts *o, ds_model *m, char *buf,
                                size_t size) {
    char path[600];
    snprintf(path, sizeof path, "%s/stderr.txt", tu_tmpdir());
    fflush(stderr);
    int saved = dup(2);
    FILE *f = fopen(path, "w+");
    dup2(fileno(f), 2);
    int rc = ds_model_fit(data, DS_MODEL_GMM, o, m);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(f);
    size_t got = fread(buf, 1, size - 1, f);
    buf[got] = '\0';
    fclose(f);
    return rc;
}

// Components with fewer than r + 1 rows (here 1 and 3 rows, r = d = 8) are warned about
// and their eigenvalues floored at var_floor; a large component keeps its eigenvalues,
// including the exact 0 of a coordinate that is constant in it.
static void test_small_components_warned_and_floored(void **state) {
    (void)state;
    const int64_t n = 200, d = 8;
    double *x = anisotropic_rows(n, d, tu_seed() + 40);
    for (int64_t i = 0; i < n; i++) x[i * d + 3] = 0.25; // constant coordinate
    ds_data data = make_data(x, n, d);
    data.labels = malloc(sizeof(int32_t) * n);
    for (int64_t i = 0; i < n; i++) data.labels[i] = i == 0 ? 0 : i < 4 ? 1 : 2;
    ds_fit_opts o;
    ds_fit_opts_default(&o);
    o.from_labels = 1;
    o.var_floor = 3e-3;
    ds_model m;
    char err[1024];
    assert_int_equal(fit_capturing_stderr(&data, &o, &m, err, sizeof err), 0);
    assert_non_null(strstr(err, "warning"));
    assert_non_null(strstr(err, "2 of 3 components"));
    for (int64_t j = 0; j < d; j++) {
        assert_true(m.eigvals[j] == o.var_floor); // one row: zero covariance, all floored
        assert_true(m.eigvals[d + j] >= o.var_floor);
    }
    assert_true(m.eigvals[2 * d + d - 1] < 1e-12);
    assert_true(m.eigvals[d + 2] == o.var_floor); // 3 rows span only 2 directions
    ds_model_free(&m);
    ds_data_free(&data);
    free(x);
}

static void test_bad_options_rejected(void **state) {
    (void)state;
    const int64_t n = 30, d = 4;
    double *x = anisotropic_rows(n, d, tu_seed() + 50);
    ds_data data = make_data(x, n, d);
    ds_fit_opts o;
    ds_model m;
    const int64_t bad_k[] = {0, -1, n + 1};
    for (int i = 0; i < 3; i++) {
        ds_fit_opts_default(&o);
        o.k = bad_k[i];
        assert_int_equal(ds_model_fit(&data, DS_MODEL_GMM, &o, &m), -1);
        assert_non_null(strstr(ds_error(), "K ="));
    }
    const int64_t bad_rank[] = {-1, d + 1};
    for (int i = 0; i < 2; i++) {
        ds_fit_opts_default(&o);
        o.rank = bad_rank[i];
        assert_int_equal(ds_model_fit(&data, DS_MODEL_GAUSSIAN, &o, &m), -1);
        assert_non_null(strstr(ds_error(), "rank"));
    }
    ds_data_free(&data);
    free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gaussian_recovers_known_gaussian),
        cmocka_unit_test(test_rank_truncation_residual),
        cmocka_unit_test(test_kmeans_deterministic_and_separated),
        cmocka_unit_test(test_gmm_from_labels),
        cmocka_unit_test(test_gmm_per_class_and_select),
        cmocka_unit_test(test_small_components_warned_and_floored),
        cmocka_unit_test(test_bad_options_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
