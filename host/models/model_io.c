// The model folder: model.txt (a "key = value" manifest) plus .npy arrays (README,
// section Models). Saving writes each file atomically and model.txt last, so a folder
// without model.txt is never taken for a model; loading validates every array.
#include <cblas.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "ds_error.h"
#include "ds_model.h"
#include "fit_common.h"
#include "linear_features.h"

static const char *array_names[] = {
    "mean.npy", "means.npy",    "weights.npy",        "eigvals.npy", "eigvecs.npy",       "cov.npy",
    "covs.npy", "residual.npy", "patch_schedule.npy", "classes.npy", "linear_weights.npy"};
#define N_ARRAY_NAMES (sizeof array_names / sizeof array_names[0])

static void join(char *out, const char *dir, const char *name) {
    snprintf(out, DS_PATH_MAX, "%s/%s", dir, name);
}

static int exists(const char *dir, const char *name) {
    char path[DS_PATH_MAX];
    struct stat st;
    join(path, dir, name);
    return stat(path, &st) == 0;
}

static void remove_in(const char *dir, const char *name) {
    char path[DS_PATH_MAX];
    join(path, dir, name);
    unlink(path);
}

// ---- saving ----

// Writes x as dir/name; a Gaussian's arrays drop the leading component axis (lead = 1).
static int put(const char *dir, const char *name, const double *x, int lead, int ndim,
               const int64_t *dims) {
    char path[DS_PATH_MAX];
    join(path, dir, name);
    return ds_npy_write_f64(path, x, ndim - lead, dims + lead, DS_F64);
}

static int write_arrays(const ds_model *m, const char *dir) {
    int64_t steps[2] = {m->patch_steps, 2};
    if (m->kind == DS_MODEL_LINEAR_FEATURES) {
        int64_t dims[2] = {m->d, linear_features_count(m->d, m->features_per_axis)};
        DS_TRY(put(dir, "mean.npy", m->mean, 0, 1, dims));
        return put(dir, "linear_weights.npy", m->feature_weights, 0, 2, dims);
    }
    if (m->patch_steps) return put(dir, "patch_schedule.npy", m->patch_schedule, 0, 2, steps);
    if (m->kind != DS_MODEL_GAUSSIAN && m->kind != DS_MODEL_GMM && m->kind != DS_MODEL_PCA_LOCALITY)
        return 0;
    int lead = m->kind != DS_MODEL_GMM; // one component: Gaussian, pca_locality's Wiener filter
    int64_t k = m->k, d = m->d, r = m->r;
    int64_t kd[2] = {k, d}, kr[2] = {k, r}, kdr[3] = {k, d, r};
    if (!lead) DS_TRY(put(dir, "weights.npy", m->weights, 0, 1, kd));
    if (m->classes) { // the labels are integers, exact in float64
        double *labels = ds_try_alloc((size_t)k, sizeof(double), "gmm classes");
        if (!labels) return -1;
        for (int64_t c = 0; c < k; c++) labels[c] = m->classes[c];
        int rc = put(dir, "classes.npy", labels, 0, 1, kd);
        free(labels);
        DS_TRY(rc);
    }
    DS_TRY(put(dir, lead ? "mean.npy" : "means.npy", m->means, lead, 2, kd));
    DS_TRY(put(dir, "eigvals.npy", m->eigvals, lead, 2, kr));
    DS_TRY(put(dir, "eigvecs.npy", m->eigvecs, lead, 3, kdr));
    return put(dir, "residual.npy", m->residual, lead, 1, kd);
}

static int writes_array(const ds_model *m, const char *name) {
    if (!strcmp(name, "patch_schedule.npy")) return m->patch_steps > 0;
    if (!strcmp(name, "classes.npy")) return m->classes != NULL;
    if (m->kind == DS_MODEL_LINEAR_FEATURES)
        return !strcmp(name, "mean.npy") || !strcmp(name, "linear_weights.npy");
    if (!strcmp(name, "linear_weights.npy")) return 0;
    if (ds_model_holds_rows(m->kind) && m->kind != DS_MODEL_PCA_LOCALITY) return 0;
    if (strstr(name, "cov")) return 0;
    if (!strcmp(name, "weights.npy") || !strcmp(name, "means.npy")) return m->kind == DS_MODEL_GMM;
    if (!strcmp(name, "mean.npy")) return m->kind != DS_MODEL_GMM;
    return 1;
}

static int write_manifest(const ds_model *m, const char *dir) {
    char path[DS_PATH_MAX];
    join(path, dir, "model.txt");
    ds_atomic_file af;
    DS_TRY(ds_atomic_open(&af, path));
    FILE *f = af.f;
    fprintf(f, "# diffsamp model folder (format: README.md, section Models)\n");
    fprintf(f, "kind = %s\nd = %lld\n", ds_model_kind_name(m->kind), (long long)m->d);
    fprintf(f, "channels = %d\nheight = %d\nwidth = %d\n", m->channels, m->height, m->width);
    fprintf(f, "sigma_data = %.17g\n", m->sigma_data);
    if ((!ds_model_holds_rows(m->kind) && m->kind != DS_MODEL_LINEAR_FEATURES) ||
        m->kind == DS_MODEL_PCA_LOCALITY)
        fprintf(f, "k = %lld\nrank = %lld\n", (long long)m->k, (long long)m->r);
    if (ds_model_holds_rows(m->kind)) fprintf(f, "n = %lld\n", (long long)m->data.n);
    if (ds_model_uses_patches(m->kind)) fprintf(f, "patch_size = %d\n", m->patch_size);
    if (m->kind == DS_MODEL_SMOOTHED)
        fprintf(f, "smoothing = %.17g\nsmoothing_samples = %lld\nsmoothing_seed = %llu\n",
                m->smoothing, (long long)m->smoothing_samples,
                (unsigned long long)m->smoothing_seed);
    if (m->kind == DS_MODEL_VARIANCE)
        fprintf(f, "variance = %.17g\nvariance_seed = %llu\n", m->variance,
                (unsigned long long)m->variance_seed);
    if (m->kind == DS_MODEL_LINEAR_FEATURES)
        fprintf(f,
                "features_per_axis = %lld\nfeature_draws = %lld\nfeature_cutoff = %.17g\n"
                "feature_ridge = %.17g\nfeature_range = %.17g\nfeature_seed = %llu\n",
                (long long)m->features_per_axis, (long long)m->feature_draws, m->feature_cutoff,
                m->feature_ridge, m->feature_range, (unsigned long long)m->feature_seed);
    if (m->kind == DS_MODEL_PCA_LOCALITY)
        fprintf(f, "temperature = %.17g\nmask_threshold = %.17g\n", m->temperature,
                m->mask_threshold);
    if (m->data_path[0])
        fprintf(f, "data = %s\ndata_bytes = %lld\ndata_checksum = 0x%016" PRIx64 "\n", m->data_path,
                (long long)m->data_bytes, m->data_checksum);
    return ds_atomic_commit(&af);
}

int ds_model_save(const ds_model *m, const char *dir) {
    if (m->kind == DS_MODEL_CALLBACK)
        return ds_fail("%s: a callback model is a function and cannot be saved", dir);
    if (ds_model_holds_rows(m->kind) && !m->data_path[0])
        return ds_fail("%s: a%s %s model refers to its data file, but this one has none "
                       "(fit it to data loaded from a file)",
                       dir, m->kind == DS_MODEL_EMPIRICAL ? "n" : "", ds_model_kind_name(m->kind));
    int existed = access(dir, F_OK) == 0;
    DS_TRY(ds_mkdirs(dir));
    remove_in(dir, "model.txt"); // from here until the end the folder is no model
    int rc = write_arrays(m, dir);
    for (size_t i = 0; i < N_ARRAY_NAMES; i++)
        if (rc || !writes_array(m, array_names[i])) remove_in(dir, array_names[i]);
    if (!rc) rc = write_manifest(m, dir);
    if (rc && !existed) rmdir(dir);
    return rc;
}

// ---- model.txt ----

typedef struct {
    const char *dir;
    int line;
    int has_kind, has_d, has_sigma, has_k, has_rank, has_n, has_bytes, has_checksum;
    int has_temperature, has_threshold, has_patch, has_smoothing, has_variance;
    int has_features; // linear_features: bits of the six feature_* keys read
    int64_t k, rank, n;
} manifest;

static int parse_int(const manifest *mf, const char *key, const char *v, int64_t *out) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || errno || x < 0)
        return ds_fail("%s/model.txt: line %d: %s = '%s' (expected an integer >= 0)", mf->dir,
                       mf->line, key, v);
    *out = x;
    return 0;
}

static int parse_dim(const manifest *mf, const char *key, const char *v, int *out) {
    int64_t x = 0;
    DS_TRY(parse_int(mf, key, v, &x));
    if (x > 1 << 20)
        return ds_fail("%s/model.txt: line %d: %s = %lld is implausible", mf->dir, mf->line, key,
                       (long long)x);
    *out = (int)x;
    return 0;
}

static int set_key(manifest *mf, const char *key, const char *v, ds_model *m) {
    if (!strcmp(key, "kind")) {
        mf->has_kind = 1;
        if (ds_model_kind_parse(v, &m->kind) == 0) return 0;
        return ds_fail("%s/model.txt: line %d: unknown kind '%s' (expected empirical, gaussian, "
                       "gmm, pca_locality, ls, els, pspc, nearest, smoothed, variance or "
                       "linear_features)",
                       mf->dir, mf->line, v);
    }
    if (!strcmp(key, "d")) return mf->has_d = 1, parse_int(mf, key, v, &m->d);
    if (!strcmp(key, "channels")) return parse_dim(mf, key, v, &m->channels);
    if (!strcmp(key, "height")) return parse_dim(mf, key, v, &m->height);
    if (!strcmp(key, "width")) return parse_dim(mf, key, v, &m->width);
    if (!strcmp(key, "k")) return mf->has_k = 1, parse_int(mf, key, v, &mf->k);
    if (!strcmp(key, "rank")) return mf->has_rank = 1, parse_int(mf, key, v, &mf->rank);
    if (!strcmp(key, "n")) return mf->has_n = 1, parse_int(mf, key, v, &mf->n);
    if (!strcmp(key, "smoothing_samples")) {
        DS_TRY(parse_int(mf, key, v, &m->smoothing_samples));
        if (m->smoothing_samples >= 1 && m->smoothing_samples <= 4096) return 0;
        return ds_fail("%s/model.txt: line %d: smoothing_samples = %s (expected 1 .. 4096)",
                       mf->dir, mf->line, v);
    }
    if (!strcmp(key, "smoothing_seed") || !strcmp(key, "variance_seed")) {
        int64_t seed = 0;
        DS_TRY(parse_int(mf, key, v, &seed));
        *(key[0] == 's' ? &m->smoothing_seed : &m->variance_seed) = (uint64_t)seed;
        return 0;
    }
    if (!strcmp(key, "features_per_axis") || !strcmp(key, "feature_draws") ||
        !strcmp(key, "feature_seed")) {
        int64_t x = 0;
        DS_TRY(parse_int(mf, key, v, &x));
        if (!strcmp(key, "features_per_axis")) m->features_per_axis = x, mf->has_features |= 1;
        if (!strcmp(key, "feature_draws")) m->feature_draws = x, mf->has_features |= 2;
        if (!strcmp(key, "feature_seed")) m->feature_seed = (uint64_t)x, mf->has_features |= 4;
        return 0;
    }
    if (!strcmp(key, "patch_size")) return mf->has_patch = 1, parse_dim(mf, key, v, &m->patch_size);
    if (!strcmp(key, "data_bytes")) return mf->has_bytes = 1, parse_int(mf, key, v, &m->data_bytes);
    if (!strcmp(key, "data")) {
        if (snprintf(m->data_path, sizeof m->data_path, "%s", v) < (int)sizeof m->data_path)
            return 0;
        return ds_fail("%s/model.txt: line %d: data path is %zu bytes long (expected under %d)",
                       mf->dir, mf->line, strlen(v), DS_PATH_MAX);
    }
    char *end;
    errno = 0;
    if (!strcmp(key, "sigma_data")) {
        m->sigma_data = strtod(v, &end);
        mf->has_sigma = 1;
        // 0 for constant data (one row, say), as prepare writes it.
        if (end != v && !*end && !errno && isfinite(m->sigma_data) && m->sigma_data >= 0) return 0;
        return ds_fail("%s/model.txt: line %d: sigma_data = '%s' (expected a number >= 0)", mf->dir,
                       mf->line, v);
    }
    if (!strcmp(key, "smoothing") || !strcmp(key, "variance")) {
        int smoothing = key[0] == 's';
        double x = strtod(v, &end);
        *(smoothing ? &m->smoothing : &m->variance) = x;
        *(smoothing ? &mf->has_smoothing : &mf->has_variance) = 1;
        if (end != v && !*end && !errno && x >= 0 && isfinite(x)) return 0;
        return ds_fail("%s/model.txt: line %d: %s = '%s' (expected a finite number >= 0)", mf->dir,
                       mf->line, key, v);
    }
    if (!strcmp(key, "feature_cutoff") || !strcmp(key, "feature_ridge") ||
        !strcmp(key, "feature_range")) {
        double x = strtod(v, &end);
        if (end == v || *end || errno || !isfinite(x))
            return ds_fail("%s/model.txt: line %d: %s = '%s' (expected a finite number)", mf->dir,
                           mf->line, key, v);
        if (!strcmp(key, "feature_cutoff")) m->feature_cutoff = x, mf->has_features |= 8;
        if (!strcmp(key, "feature_ridge")) m->feature_ridge = x, mf->has_features |= 16;
        if (!strcmp(key, "feature_range")) m->feature_range = x, mf->has_features |= 32;
        return 0;
    }
    if (!strcmp(key, "temperature") || !strcmp(key, "mask_threshold")) {
        int t = key[0] == 't';
        double x = strtod(v, &end);
        *(t ? &m->temperature : &m->mask_threshold) = x;
        *(t ? &mf->has_temperature : &mf->has_threshold) = 1;
        if (end != v && !*end && !errno && (t ? x > 0 && isfinite(x) : x >= 0 && x <= 1)) return 0;
        return ds_fail("%s/model.txt: line %d: %s = '%s' (expected %s)", mf->dir, mf->line, key, v,
                       t ? "a finite number > 0" : "a number in [0, 1]");
    }
    if (!strcmp(key, "data_checksum")) {
        m->data_checksum = strtoull(v, &end, 16);
        mf->has_checksum = 1;
        if (end != v && !*end && !errno) return 0;
        return ds_fail("%s/model.txt: line %d: data_checksum = '%s' (expected 0x and 16 hex "
                       "digits)",
                       mf->dir, mf->line, v);
    }
    return ds_fail("%s/model.txt: line %d: unknown key '%s'", mf->dir, mf->line, key);
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && strchr(" \t\r\n", s[n - 1])) s[--n] = '\0';
    return s;
}

static int read_manifest(const char *dir, manifest *mf, ds_model *m) {
    char path[DS_PATH_MAX], *line = NULL; // getline: lines of any length, never split
    size_t line_cap = 0;
    join(path, dir, "model.txt");
    if (exists(dir, "model.txt")) DS_TRY(ds_check_regular(path, "a model.txt manifest", NULL));
    FILE *f = fopen(path, "r");
    if (!f)
        return ds_fail("%s: not a model folder (no model.txt: %s; write one with diffsamp "
                       "prepare)",
                       dir, strerror(errno));
    int rc = 0;
    for (ssize_t len; !rc && (len = getline(&line, &line_cap, f)) >= 0;) {
        mf->line++;
        char *hash = strchr(line, '#'), *s, *eq;
        if (hash) *hash = '\0';
        if (!hash && memchr(line, '\0', (size_t)len)) // would end the value early
            rc = ds_fail("%s: line %d holds a NUL byte (expected text)", path, mf->line);
        else if (!*(s = trim(line)))
            continue;
        else if (!(eq = strchr(s, '=')))
            rc = ds_fail("%s: line %d: '%s' (expected key = value)", path, mf->line, s);
        else
            *eq = '\0', rc = set_key(mf, trim(s), trim(eq + 1), m);
    }
    if (!rc && ferror(f)) rc = ds_fail("%s: cannot read: %s", path, strerror(errno));
    free(line);
    fclose(f);
    if (rc) return rc;
    if (!mf->has_kind || !mf->has_d || m->d < 1)
        return ds_fail("%s: needs 'kind = ...' and 'd = ...' (d >= 1)", path);
    int64_t pixels = (int64_t)m->channels * m->height * m->width;
    if (pixels && pixels != m->d)
        return ds_fail("%s: image shape %dx%dx%d does not match d = %lld", path, m->channels,
                       m->height, m->width, (long long)m->d);
    return 0;
}

// ---- arrays ----

static void format_shape(char *out, size_t size, int ndim, const int64_t *dims) {
    size_t n = (size_t)snprintf(out, size, "(");
    for (int i = 0; i < ndim && n < size; i++) {
        if (dims[i] < 0)
            n += (size_t)snprintf(out + n, size - n, "%s*", i ? ", " : "");
        else
            n += (size_t)snprintf(out + n, size - n, "%s%lld", i ? ", " : "", (long long)dims[i]);
    }
    if (n < size) snprintf(out + n, size - n, ")");
}

// Reads dir/name as float64 and checks its shape against dims (-1: any size, filled
// in). A Gaussian folder's arrays lack the mixture's leading component axis (lead = 1).
static int read_array(const char *dir, const char *name, const char *kind, int lead, int ndim,
                      int64_t *dims, double **out) {
    char path[DS_PATH_MAX];
    join(path, dir, name);
    if (!exists(dir, name))
        return ds_fail("%s: missing (a %s model folder needs it; see README, section Models)", path,
                       kind);
    ds_array a;
    DS_TRY(ds_npy_read(path, &a));
    int ok = a.dtype != DS_U8 && a.ndim == ndim - lead;
    for (int i = 0; ok && i < a.ndim; i++) ok = dims[lead + i] < 0 || dims[lead + i] == a.shape[i];
    if (!ok) {
        char got[128], want[128];
        format_shape(got, sizeof got, a.ndim, a.shape);
        format_shape(want, sizeof want, ndim - lead, dims + lead);
        const char *type = a.dtype == DS_U8 ? " uint8" : "";
        ds_array_free(&a);
        return ds_fail("%s: shape %s%s, expected %s float64 (or float32)", path, got, type, want);
    }
    for (int i = 0; i < a.ndim; i++) dims[lead + i] = a.shape[i];
    int64_t count = ds_array_count(&a);
    *out = ds_try_alloc((size_t)count, sizeof(double), path);
    if (!*out) {
        ds_array_free(&a);
        return -1;
    }
    for (int64_t i = 0; i < count; i++)
        (*out)[i] = a.dtype == DS_F64 ? ((double *)a.data)[i] : ((float *)a.data)[i];
    ds_array_free(&a);
    return 0;
}

static int check_nonnegative(const char *dir, const char *name, const double *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (x[i] < 0)
            return ds_fail("%s/%s: element %lld is negative (%.3g); variances must be >= 0", dir,
                           name, (long long)i, x[i]);
    return 0;
}

// Weights must be positive and sum to 1 within 1e-6; they are then renormalised exactly.
static int check_weights(const char *dir, double *w, int64_t k) {
    double sum = 0;
    for (int64_t c = 0; c < k; c++) {
        if (!(w[c] > 0))
            return ds_fail("%s/weights.npy: weight %lld is %.3g (expected > 0)", dir, (long long)c,
                           w[c]);
        sum += w[c];
    }
    if (fabs(sum - 1) > 1e-6)
        return ds_fail("%s/weights.npy: weights sum to %.9g (expected 1 within 1e-6)", dir, sum);
    for (int64_t c = 0; c < k; c++) w[c] /= sum;
    return 0;
}

static int check_orthonormal(const char *dir, const double *u, int64_t d, int64_t r, int64_t c) {
    double *g = ds_try_alloc((size_t)(r * r), sizeof(double), "eigvecs.npy"), worst = 0;
    if (!g) return -1;
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)r, (int)d, 1.0, u, (int)r, 0.0, g,
                (int)r);
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = i; j < r; j++) worst = fmax(worst, fabs(g[i * r + j] - (i == j)));
    free(g);
    if (worst > 1e-6)
        return ds_fail("%s/eigvecs.npy: component %lld: eigenvectors are not orthonormal "
                       "(max |U^T U - I| = %.3g, expected <= 1e-6)",
                       dir, (long long)c, worst);
    return 0;
}

typedef struct {
    double value;
    int64_t index;
} ranked;

static int by_value_descending(const void *a, const void *b) {
    double x = ((const ranked *)a)->value, y = ((const ranked *)b)->value;
    return (x < y) - (x > y);
}

// Puts eigenvalues (r) in descending order, permuting the columns of u (d x r) alike.
static int sort_descending(double *lam, double *u, int64_t d, int64_t r) {
    ranked *order = ds_try_alloc((size_t)r, sizeof(ranked), "eigvals.npy");
    double *copy = ds_try_alloc((size_t)(d * r), sizeof(double), "eigvecs.npy");
    if (!order || !copy) {
        free(order);
        free(copy);
        return -1;
    }
    for (int64_t j = 0; j < r; j++) order[j] = (ranked){lam[j], j};
    qsort(order, (size_t)r, sizeof(ranked), by_value_descending);
    memcpy(copy, u, sizeof(double) * (size_t)(d * r));
    for (int64_t j = 0; j < r; j++) {
        lam[j] = order[j].value;
        for (int64_t i = 0; i < d; i++) u[i * r + j] = copy[i * r + order[j].index];
    }
    free(order);
    free(copy);
    return 0;
}

// eigvals.npy, eigvecs.npy and residual.npy as written by diffsamp prepare.
static int read_eigen(const char *dir, const char *kind, int lead, ds_model *m) {
    int64_t kr[2] = {m->k, -1};
    DS_TRY(read_array(dir, "eigvals.npy", kind, lead, 2, kr, &m->eigvals));
    m->r = kr[1];
    if (m->r < 1 || m->r > m->d)
        return ds_fail("%s/eigvals.npy: rank %lld (expected 1 .. d = %lld)", dir, (long long)m->r,
                       (long long)m->d);
    int64_t kdr[3] = {m->k, m->d, m->r}, k1[1] = {m->k};
    DS_TRY(read_array(dir, "eigvecs.npy", kind, lead, 3, kdr, &m->eigvecs));
    DS_TRY(read_array(dir, "residual.npy", kind, lead, 1, k1, &m->residual));
    DS_TRY(check_nonnegative(dir, "eigvals.npy", m->eigvals, m->k * m->r));
    DS_TRY(check_nonnegative(dir, "residual.npy", m->residual, m->k));
    for (int64_t c = 0; c < m->k; c++) {
        double *u = m->eigvecs + c * m->d * m->r;
        DS_TRY(check_orthonormal(dir, u, m->d, m->r, c));
        DS_TRY(sort_descending(m->eigvals + c * m->r, u, m->d, m->r));
    }
    return 0;
}

// cov.npy (d x d) or covs.npy (K x d x d), decomposed here to rank r (model.txt's
// rank, or d).
static int read_covariances(const char *dir, const char *kind, int lead, int64_t rank,
                            ds_model *m) {
    const char *name = lead ? "cov.npy" : "covs.npy";
    int64_t d = m->d, r = m->r = rank ? rank : d, kdd[3] = {m->k, d, d};
    if (r > d)
        return ds_fail("%s/model.txt: rank %lld is larger than d = %lld", dir, (long long)r,
                       (long long)d);
    double *covs;
    DS_TRY(read_array(dir, name, kind, lead, 3, kdd, &covs));
    m->eigvals = ds_try_alloc((size_t)(m->k * r), sizeof(double), name);
    m->eigvecs = ds_try_alloc((size_t)(m->k * d * r), sizeof(double), name);
    m->residual = ds_try_alloc((size_t)m->k, sizeof(double), name);
    int rc = m->eigvals && m->eigvecs && m->residual ? 0 : -1;
    for (int64_t c = 0; c < m->k && !rc; c++) {
        double *cov = covs + c * d * d, scale = 0, asym = 0;
        for (int64_t i = 0; i < d; i++)
            for (int64_t j = 0; j < d; j++) {
                scale = fmax(scale, fabs(cov[i * d + j]));
                asym = fmax(asym, fabs(cov[i * d + j] - cov[j * d + i]));
            }
        char what[DS_PATH_MAX + 64];
        snprintf(what, sizeof what, "%s/%s: component %lld", dir, name, (long long)c);
        if (asym > 1e-9 * scale)
            rc = ds_fail("%s: not symmetric (max |C - C^T| = %.3g)", what, asym);
        else
            rc = fit_decompose(what, cov, d, r, m->eigvals + c * r, m->eigvecs + c * d * r,
                               m->residual + c);
    }
    free(covs);
    return rc;
}

// classes.npy (K): the class label of each component, integers in int32's range.
static int read_classes(const char *dir, ds_model *m) {
    int64_t k1[1] = {m->k};
    double *labels;
    DS_TRY(read_array(dir, "classes.npy", "gmm", 0, 1, k1, &labels));
    m->classes = ds_try_alloc((size_t)m->k, sizeof(int32_t), "gmm classes");
    int rc = m->classes ? 0 : -1;
    for (int64_t c = 0; c < m->k && !rc; c++) {
        if (labels[c] != floor(labels[c]) || labels[c] < INT32_MIN || labels[c] > INT32_MAX)
            rc = ds_fail("%s/classes.npy: component %lld has class %g (expected an integer "
                         "label)",
                         dir, (long long)c, labels[c]);
        else
            m->classes[c] = (int32_t)labels[c];
    }
    free(labels);
    return rc;
}

static int load_mixture(const char *dir, const manifest *mf, ds_model *m) {
    int lead = m->kind == DS_MODEL_GAUSSIAN;
    const char *kind = ds_model_kind_name(m->kind);
    int64_t k1[1] = {-1};
    if (lead) {
        m->k = 1;
        m->weights = ds_try_alloc(1, sizeof(double), "gaussian");
        if (!m->weights) return -1;
        m->weights[0] = 1;
    } else {
        DS_TRY(read_array(dir, "weights.npy", kind, 0, 1, k1, &m->weights));
        m->k = k1[0];
        if (m->k < 1) return ds_fail("%s/weights.npy: no components", dir);
        DS_TRY(check_weights(dir, m->weights, m->k));
        if (exists(dir, "classes.npy")) DS_TRY(read_classes(dir, m));
    }
    if (mf->has_k && mf->k != m->k)
        return ds_fail("%s/model.txt: k = %lld but the arrays hold %lld components", dir,
                       (long long)mf->k, (long long)m->k);
    int64_t kd[2] = {m->k, m->d};
    DS_TRY(read_array(dir, lead ? "mean.npy" : "means.npy", kind, lead, 2, kd, &m->means));
    if (exists(dir, "eigvals.npy") || !exists(dir, lead ? "cov.npy" : "covs.npy"))
        DS_TRY(read_eigen(dir, kind, lead, m));
    else
        DS_TRY(read_covariances(dir, kind, lead, mf->has_rank ? mf->rank : 0, m));
    if (mf->has_rank && mf->rank && mf->rank != m->r)
        return ds_fail("%s/model.txt: rank = %lld but eigvals.npy holds %lld eigenvalues", dir,
                       (long long)mf->rank, (long long)m->r);
    double sigma_data = m->sigma_data;
    DS_TRY(model_mixture_moments(m));
    if (!isfinite(m->sigma_data)) // finite parameters whose squares overflow (found by fuzzing)
        return ds_fail("%s: the mixture's variance overflows a double (values up to about "
                       "1e154 expected)",
                       dir);
    if (mf->has_sigma) m->sigma_data = sigma_data;
    return 0;
}

int ds_model_data_load(const char *dir, const ds_model *m, ds_data *out) {
    memset(out, 0, sizeof *out);
    if (!m->data_path[0])
        return ds_fail("%s/model.txt: records no training data (data = ...)", dir);
    char abs[DS_PATH_MAX], why[1024];
    int64_t bytes;
    uint64_t sum;
    if (ds_data_fingerprint(m->data_path, abs, &bytes, &sum) != 0) {
        snprintf(why, sizeof why, "%s", ds_error());
        return ds_fail("%s: cannot read the model's data (%s)", dir, why);
    }
    if (bytes != m->data_bytes || sum != m->data_checksum)
        return ds_fail("%s: data file %s changed since the model was prepared (%lld bytes, "
                       "checksum 0x%016" PRIx64 "; now %lld bytes, 0x%016" PRIx64
                       "): run diffsamp prepare again",
                       dir, m->data_path, (long long)m->data_bytes, m->data_checksum,
                       (long long)bytes, sum);
    DS_TRY(ds_data_load(m->data_path, out));
    if (out->d != m->d)
        return ds_fail("%s: data %s has rows of d = %lld, the model d = %lld", dir, m->data_path,
                       (long long)out->d, (long long)m->d);
    return 0;
}

static int load_empirical(const char *dir, const manifest *mf, ds_model *m) {
    if (!m->data_path[0] || !mf->has_bytes || !mf->has_checksum)
        return ds_fail("%s/model.txt: a%s %s model needs data, data_bytes and data_checksum", dir,
                       m->kind == DS_MODEL_EMPIRICAL ? "n" : "", ds_model_kind_name(m->kind));
    DS_TRY(ds_model_data_load(dir, m, &m->data));
    if (m->data.d != m->d || (mf->has_n && m->data.n != mf->n))
        return ds_fail("%s: data %s has %lld x %lld rows, model.txt says n = %lld, d = %lld", dir,
                       m->data_path, (long long)m->data.n, (long long)m->data.d, (long long)mf->n,
                       (long long)m->d);
    double sigma_data;
    m->mean = ds_try_alloc((size_t)m->d, sizeof(double), "model mean");
    if (!m->mean) return -1;
    fit_mean_rms(&m->data, m->mean, &sigma_data);
    if (!mf->has_sigma) m->sigma_data = sigma_data;
    return 0;
}

// pca_locality: the training rows as for the empirical model, and the full-rank Wiener
// filter as a Gaussian folder holds it.
static int load_pca_locality(const char *dir, const manifest *mf, ds_model *m) {
    if (!mf->has_temperature || !mf->has_threshold)
        return ds_fail("%s/model.txt: a pca_locality model needs temperature and mask_threshold",
                       dir);
    m->k = 1;
    m->weights = ds_try_alloc(1, sizeof(double), "pca_locality");
    if (!m->weights) return -1;
    m->weights[0] = 1;
    int64_t kd[2] = {1, m->d};
    DS_TRY(read_array(dir, "mean.npy", "pca_locality", 1, 2, kd, &m->means));
    DS_TRY(read_eigen(dir, "pca_locality", 1, m));
    if (m->r != m->d)
        return ds_fail("%s/eigvals.npy: %lld eigenvalues (pca_locality needs all d = %lld)", dir,
                       (long long)m->r, (long long)m->d);
    return load_empirical(dir, mf, m);
}

// ls, els, pspc: the training rows as for the empirical model, and a patch size (or a
// schedule of them) for its images.
static int load_patch_model(const char *dir, const manifest *mf, ds_model *m) {
    char who[DS_PATH_MAX + 16];
    const char *kind = ds_model_kind_name(m->kind);
    snprintf(who, sizeof who, "%s/model.txt", dir);
    if (!mf->has_patch)
        return ds_fail("%s: a%s %s model needs patch_size", who, m->kind == DS_MODEL_ELS ? "n" : "",
                       kind);
    DS_TRY(ds_check_patch_size(who, m->kind, m->patch_size, m->channels, m->height, m->width));
    m->temperature = 1;
    if (exists(dir, "patch_schedule.npy")) {
        int64_t dims[2] = {-1, 2};
        DS_TRY(read_array(dir, "patch_schedule.npy", kind, 0, 2, dims, &m->patch_schedule));
        m->patch_steps = dims[0];
        DS_TRY(ds_check_patch_schedule(who, m->kind, m->patch_schedule, m->patch_steps, m->channels,
                                       m->height, m->width));
    }
    return load_empirical(dir, mf, m);
}

// smoothed: the training rows as for the empirical model, and its smoothing.
static int load_smoothed(const char *dir, const manifest *mf, ds_model *m) {
    if (!mf->has_smoothing || !m->smoothing_samples)
        return ds_fail("%s/model.txt: a smoothed model needs smoothing and smoothing_samples", dir);
    return load_empirical(dir, mf, m);
}

// variance: the training rows as for the empirical model, and kappa.
static int load_variance(const char *dir, const manifest *mf, ds_model *m) {
    if (!mf->has_variance) return ds_fail("%s/model.txt: a variance model needs variance", dir);
    return load_empirical(dir, mf, m);
}

// linear_features: its six parameters, the mean and W.
static int load_linear_features(const char *dir, const manifest *mf, ds_model *m) {
    char who[DS_PATH_MAX + 16];
    snprintf(who, sizeof who, "%s/model.txt", dir);
    if (mf->has_features != 63)
        return ds_fail("%s: a linear_features model needs features_per_axis, feature_draws, "
                       "feature_cutoff, feature_ridge, feature_range and feature_seed",
                       who);
    DS_TRY(linear_features_check(who, m->d, m->features_per_axis, m->feature_draws,
                                 m->feature_cutoff, m->feature_ridge, m->feature_range));
    int64_t dims[2] = {m->d, linear_features_count(m->d, m->features_per_axis)};
    DS_TRY(read_array(dir, "mean.npy", "linear_features", 0, 1, dims, &m->mean));
    DS_TRY(
        read_array(dir, "linear_weights.npy", "linear_features", 0, 2, dims, &m->feature_weights));
    for (int64_t e = 0; e < dims[0] * dims[1]; e++)
        if (!isfinite(m->feature_weights[e]))
            return ds_fail("%s/linear_weights.npy: element %lld is %g (expected finite)", dir,
                           (long long)e, m->feature_weights[e]);
    return 0;
}

int ds_model_folder_kind(const char *dir, ds_model_kind *kind) {
    ds_model m = {0};
    manifest mf = {.dir = dir};
    int rc = read_manifest(dir, &mf, &m);
    *kind = m.kind;
    ds_model_free(&m);
    return rc;
}

int ds_model_load(const char *dir, ds_model *out) {
    memset(out, 0, sizeof *out);
    manifest mf = {.dir = dir};
    int rc = read_manifest(dir, &mf, out);
    if (!rc)
        rc = out->kind == DS_MODEL_EMPIRICAL || out->kind == DS_MODEL_NEAREST
                 ? load_empirical(dir, &mf, out)
             : out->kind == DS_MODEL_SMOOTHED        ? load_smoothed(dir, &mf, out)
             : out->kind == DS_MODEL_VARIANCE        ? load_variance(dir, &mf, out)
             : out->kind == DS_MODEL_PCA_LOCALITY    ? load_pca_locality(dir, &mf, out)
             : out->kind == DS_MODEL_LINEAR_FEATURES ? load_linear_features(dir, &mf, out)
             : ds_model_uses_patches(out->kind)      ? load_patch_model(dir, &mf, out)
                                                     : load_mixture(dir, &mf, out);
    if (rc) ds_model_free(out);
    return rc;
}
