// Model bookkeeping shared by fitting, loading and the backends: fit options, kind
// names, ds_model_fit, and the fingerprint that ties a model to its training data.
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ds_error.h"
#include "ds_model.h"
#include "ds_philox.h"
#include "fit_common.h"
#include "linear_features.h"

void ds_fit_opts_default(ds_fit_opts *o) {
    memset(o, 0, sizeof *o);
    o->k = 10;
    o->rank = 0;
    o->seed = 0;
    o->kmeans_iters = 50;
    o->var_floor = 1e-4;
    o->temperature = 1.0;
    o->mask_threshold = 0.02;
    o->patch_size = 3;
    o->smoothing = 0;
    o->smoothing_samples = 1;
    o->variance = 1;
    o->features_per_axis = 0; // the paper's for the data's d
    o->feature_draws = LINEAR_FEATURES_DRAWS;
    o->feature_cutoff = LINEAR_FEATURES_CUTOFF;
    o->feature_ridge = LINEAR_FEATURES_RIDGE;
    o->feature_range = LINEAR_FEATURES_RANGE;
}

// Kinds without a name here are not (yet) in this build.
static const char *kind_names[DS_MODEL_KINDS] = {
    [DS_MODEL_EMPIRICAL] = "empirical",
    [DS_MODEL_GAUSSIAN] = "gaussian",
    [DS_MODEL_GMM] = "gmm",
    [DS_MODEL_CALLBACK] = "callback",
    [DS_MODEL_PCA_LOCALITY] = "pca_locality",
    [DS_MODEL_LS] = "ls",
    [DS_MODEL_NEAREST] = "nearest",
    [DS_MODEL_SMOOTHED] = "smoothed",
    [DS_MODEL_ELS] = "els",
    [DS_MODEL_PSPC] = "pspc",
    [DS_MODEL_VARIANCE] = "variance",
    [DS_MODEL_LINEAR_FEATURES] = "linear_features",
};

const char *ds_model_kind_name(ds_model_kind k) {
    return kind_names[k];
}

int ds_model_kind_parse(const char *name, ds_model_kind *out) {
    for (int k = 0; k < DS_MODEL_KINDS; k++)
        if (k != DS_MODEL_CALLBACK && kind_names[k] && !strcmp(name, kind_names[k])) {
            *out = (ds_model_kind)k;
            return 0;
        }
    return ds_fail("unknown model kind '%s' (expected empirical, gaussian, gmm, pca_locality, ls, "
                   "els, pspc, nearest, smoothed, variance or linear_features)",
                   name);
}

int ds_model_holds_rows(ds_model_kind k) {
    return k == DS_MODEL_EMPIRICAL || k == DS_MODEL_PCA_LOCALITY || k == DS_MODEL_NEAREST ||
           k == DS_MODEL_SMOOTHED || k == DS_MODEL_VARIANCE || ds_model_uses_patches(k);
}

int ds_model_uses_patches(ds_model_kind k) {
    return k == DS_MODEL_LS || k == DS_MODEL_ELS || k == DS_MODEL_PSPC;
}

void ds_model_free(ds_model *m) {
    ds_data_free(&m->data);
    free(m->mean);
    free(m->weights);
    free(m->means);
    free(m->eigvals);
    free(m->eigvecs);
    free(m->residual);
    free(m->classes);
    free(m->patch_schedule);
    free(m->feature_weights);
    memset(m, 0, sizeof *m);
}

// 64-bit FNV-1a, continued from h.
static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

// A regular file's bytes, at most the size stat gave (a file growing meanwhile is not
// followed without end).
static int hash_file(const char *path, int64_t *bytes, uint64_t *h) {
    int64_t size;
    DS_TRY(ds_check_regular(path, "a data file or a folder of PNGs", &size));
    FILE *f = fopen(path, "rb");
    if (!f) return ds_fail("%s: cannot open: %s", path, strerror(errno));
    unsigned char buf[1 << 16];
    size_t got;
    int64_t left = size;
    while (left > 0 &&
           (got = fread(buf, 1, left < (int64_t)sizeof buf ? (size_t)left : sizeof buf, f)) > 0) {
        *h = fnv1a(*h, buf, got);
        *bytes += (int64_t)got;
        left -= (int64_t)got;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) return ds_fail("%s: read failed: %s", path, strerror(errno));
    if (left) return ds_fail("%s: file shrank while it was read", path);
    return 0;
}

// A file, or a folder's files in name order (names hashed too), recursively; names
// starting with '.' are skipped.
static int hash_tree(const char *path, int64_t *bytes, uint64_t *h) {
    struct stat st;
    if (stat(path, &st) != 0) return ds_fail("%s: cannot open: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return hash_file(path, bytes, h);
    struct dirent **entries;
    int n = scandir(path, &entries, NULL, alphasort);
    if (n < 0) return ds_fail("%s: cannot list folder: %s", path, strerror(errno));
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const char *name = entries[i]->d_name;
        char child[DS_PATH_MAX];
        if (!rc && name[0] != '.') {
            *h = fnv1a(*h, (const unsigned char *)name, strlen(name) + 1);
            if (snprintf(child, sizeof child, "%s/%s", path, name) >= (int)sizeof child)
                rc = ds_fail("%s/%s: path too long", path, name);
            else
                rc = hash_tree(child, bytes, h);
        }
        free(entries[i]);
    }
    free(entries);
    return rc;
}

int ds_data_fingerprint(const char *path, char *abs_path, int64_t *bytes, uint64_t *checksum) {
    char pieces[DS_PATH_MAX];
    if (snprintf(pieces, sizeof pieces, "%s", path) >= (int)sizeof pieces)
        return ds_fail("%s: path too long", path);
    *bytes = 0;
    *checksum = 0xcbf29ce484222325ull;
    abs_path[0] = '\0';
    size_t used = 0;
    char *save = NULL;
    for (char *p = strtok_r(pieces, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        char full[PATH_MAX];
        if (!realpath(p, full)) return ds_fail("%s: cannot open: %s", p, strerror(errno));
        int w = snprintf(abs_path + used, DS_PATH_MAX - used, "%s%s", used ? "," : "", full);
        if (w < 0 || used + (size_t)w >= DS_PATH_MAX) return ds_fail("%s: path too long", path);
        used += (size_t)w;
        DS_TRY(hash_tree(full, bytes, checksum));
    }
    if (!used) return ds_fail("'%s': empty data path", path);
    return 0;
}

static int check_pca_locality_opts(const ds_data *data, const ds_fit_opts *o) {
    if (data->n < 2)
        return ds_fail("pca_locality: %lld training row(s); the unbiased covariance needs at "
                       "least 2",
                       (long long)data->n);
    if (!(o->temperature > 0) || !isfinite(o->temperature))
        return ds_fail("pca_locality: temperature %g is invalid (expected a finite value > 0)",
                       o->temperature);
    if (!(o->mask_threshold >= 0 && o->mask_threshold <= 1))
        return ds_fail("pca_locality: mask threshold %g is outside [0, 1] (a fraction of the "
                       "mask's largest |entry|)",
                       o->mask_threshold);
    return 0;
}

// ls and els centre an odd patch on every pixel (the patch of 2 max(H, W) - 1 covers the
// image from every pixel); pspc places whole square patches inside the image.
int ds_check_patch_size(const char *who, ds_model_kind kind, int64_t patch, int channels,
                        int height, int width) {
    if (!channels || !height || !width)
        return ds_fail("%s: a patch model needs images (this data has no image shape)", who);
    if (kind == DS_MODEL_PSPC) {
        int64_t most = height < width ? height : width;
        if (patch < 1 || patch > most)
            return ds_fail("%s: patch size %lld (expected 1 .. %lld: a square patch inside a %dx%d "
                           "image)",
                           who, (long long)patch, (long long)most, height, width);
        return 0;
    }
    int64_t most = 2 * (int64_t)(height > width ? height : width) - 1;
    if (patch < 1 || patch % 2 == 0 || patch > most)
        return ds_fail("%s: patch size %lld (expected odd, 1 .. %lld: a %dx%d image is covered "
                       "from every pixel at %lld)",
                       who, (long long)patch, (long long)most, height, width, (long long)most);
    return 0;
}

int ds_check_patch_schedule(const char *who, ds_model_kind kind, const double *schedule,
                            int64_t steps, int channels, int height, int width) {
    for (int64_t k = 0; k < steps; k++) {
        double sigma = schedule[2 * k], patch = schedule[2 * k + 1];
        if (!(sigma > 0) || !isfinite(sigma) || (k && !(sigma > schedule[2 * k - 2])))
            return ds_fail("%s: patch schedule entry %lld: sigma %g (expected finite, > 0 and "
                           "above the previous entry's)",
                           who, (long long)k + 1, sigma);
        if (patch != floor(patch) || fabs(patch) > 1e9)
            return ds_fail("%s: patch schedule entry %lld: patch %g is not an integer", who,
                           (long long)k + 1, patch);
        DS_TRY(ds_check_patch_size(who, kind, (int64_t)patch, channels, height, width));
    }
    return 0;
}

int ds_patch_at(const ds_model *m, double sigma) {
    if (!m->patch_steps) return m->patch_size;
    int64_t k = 0;
    while (k + 1 < m->patch_steps && sigma > m->patch_schedule[2 * k]) k++;
    return (int)m->patch_schedule[2 * k + 1];
}

static int check_fit_opts(const ds_data *data, ds_model_kind kind, const ds_fit_opts *o) {
    if (kind == DS_MODEL_CALLBACK)
        return ds_fail("callback model: not fitted to data (use ds_model_callback)");
    if (data->n < 1 || data->d < 1 || !data->values)
        return ds_fail("%s: no training rows to fit", data->path);
    if (kind == DS_MODEL_EMPIRICAL || kind == DS_MODEL_NEAREST) return 0;
    if (kind == DS_MODEL_PCA_LOCALITY) return check_pca_locality_opts(data, o);
    if (kind == DS_MODEL_SMOOTHED && (!(o->smoothing >= 0) || !isfinite(o->smoothing)))
        return ds_fail("smoothed: smoothing %g is invalid (expected a finite value >= 0)",
                       o->smoothing);
    if (kind == DS_MODEL_SMOOTHED && (o->smoothing_samples < 1 || o->smoothing_samples > 4096))
        return ds_fail("smoothed: %lld smoothing samples (expected 1 .. 4096)",
                       (long long)o->smoothing_samples);
    if (kind == DS_MODEL_SMOOTHED) return 0;
    if (kind == DS_MODEL_VARIANCE && (!(o->variance >= 0) || !isfinite(o->variance)))
        return ds_fail("variance: kappa %g is invalid (expected a finite value >= 0)", o->variance);
    if (kind == DS_MODEL_VARIANCE) return 0;
    if (kind == DS_MODEL_LINEAR_FEATURES) return 0; // checked by linear_features_fit
    if (ds_model_uses_patches(kind)) {
        const char *name = ds_model_kind_name(kind);
        DS_TRY(ds_check_patch_size(name, kind, o->patch_size, data->channels, data->height,
                                   data->width));
        return ds_check_patch_schedule(name, kind, o->patch_schedule, o->patch_steps,
                                       data->channels, data->height, data->width);
    }
    if (o->rank < 0 || o->rank > data->d)
        return ds_fail("%s model: rank %lld is out of range (expected 1 .. d = %lld, or 0 for "
                       "full rank)",
                       ds_model_kind_name(kind), (long long)o->rank, (long long)data->d);
    if (kind != DS_MODEL_GMM) return 0;
    if (!(o->var_floor >= 0) || !isfinite(o->var_floor))
        return ds_fail("gmm: variance floor %g is invalid (expected a finite value >= 0)",
                       o->var_floor);
    if (o->from_labels && o->per_class)
        return ds_fail("gmm: --per-class and --gmm-from-labels exclude each other (one "
                       "component per class is --per-class --k 1)");
    if (o->from_labels) return 0;
    if (o->k < 1 || o->k > data->n)
        return ds_fail("gmm: K = %lld components is out of range (expected 1 .. N = %lld rows)",
                       (long long)o->k, (long long)data->n);
    if (o->kmeans_iters < 1)
        return ds_fail("gmm: %d k-means iterations (expected at least 1)", o->kmeans_iters);
    return 0;
}

int ds_model_fit(const ds_data *data, ds_model_kind kind, const ds_fit_opts *o, ds_model *out) {
    memset(out, 0, sizeof *out);
    DS_TRY(check_fit_opts(data, kind, o));
    out->kind = kind;
    out->d = data->d;
    out->channels = data->channels, out->height = data->height, out->width = data->width;
    out->mean = ds_try_alloc((size_t)data->d, sizeof(double), "fit");
    if (!out->mean) return -1;
    fit_mean_rms(data, out->mean, &out->sigma_data);
    int rc = 0;
    if (data->path[0])
        rc = ds_data_fingerprint(data->path, out->data_path, &out->data_bytes, &out->data_checksum);
    // The models that hold rows keep their own copy of the training rows and labels.
    if (!rc && ds_model_holds_rows(kind)) rc = ds_data_copy(data, &out->data);
    if (!rc && kind == DS_MODEL_GAUSSIAN) rc = fit_gaussian(data, o, out);
    if (!rc && kind == DS_MODEL_GMM) rc = fit_gmm(data, o, out);
    if (!rc && kind == DS_MODEL_PCA_LOCALITY) {
        out->temperature = o->temperature;
        out->mask_threshold = o->mask_threshold;
        rc = fit_wiener(data, out);
    }
    if (!rc && ds_model_uses_patches(kind)) {
        out->temperature = 1, out->patch_size = (int)o->patch_size;
        out->patch_steps = o->patch_steps;
        size_t bytes = sizeof(double) * (size_t)(2 * o->patch_steps);
        if (o->patch_steps && !(out->patch_schedule = ds_try_alloc(1, bytes, "fit"))) rc = -1;
        if (!rc && o->patch_steps) memcpy(out->patch_schedule, o->patch_schedule, bytes);
    }
    if (!rc && kind == DS_MODEL_LINEAR_FEATURES) rc = linear_features_fit(data, o, out);
    if (kind == DS_MODEL_VARIANCE) out->variance = o->variance, out->variance_seed = o->seed;
    if (kind == DS_MODEL_SMOOTHED) {
        out->smoothing = o->smoothing;
        out->smoothing_samples = o->smoothing_samples;
        out->smoothing_seed = o->seed;
    }
    if (rc) ds_model_free(out);
    return rc;
}

void ds_smoothed_noise(const ds_model *m, double *eps) {
    for (int64_t c = 0; c < m->smoothing_samples; c++)
        for (int64_t j = 0; j < m->d; j++)
            eps[c * m->d + j] = ds_philox_normal(m->smoothing_seed, c, j);
}

// The studio perturbs DDPM latents x_VP = sqrt(alpha_bar) x by smoothing_std; in sigma
// form that is smoothing / sqrt(alpha_bar) = smoothing sqrt(1 + sigma^2).
double ds_smoothed_scale(const ds_model *m, double sigma) {
    return m->smoothing * sqrt(1.0 + sigma * sigma);
}
