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
#include "fit_common.h"

void ds_fit_opts_default(ds_fit_opts *o) {
    memset(o, 0, sizeof *o);
    o->k = 10;
    o->rank = 0;
    o->seed = 0;
    o->kmeans_iters = 50;
    o->var_floor = 1e-4;
}

static const char *kind_names[] = {"empirical", "gaussian", "gmm", "callback"};

const char *ds_model_kind_name(ds_model_kind k) {
    return kind_names[k];
}

int ds_model_kind_parse(const char *name, ds_model_kind *out) {
    for (int k = 0; k < 3; k++)
        if (!strcmp(name, kind_names[k])) {
            *out = (ds_model_kind)k;
            return 0;
        }
    return ds_fail("unknown model kind '%s' (expected empirical, gaussian or gmm)", name);
}

void ds_model_free(ds_model *m) {
    ds_data_free(&m->data);
    free(m->mean);
    free(m->weights);
    free(m->means);
    free(m->eigvals);
    free(m->eigvecs);
    free(m->residual);
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

static int check_fit_opts(const ds_data *data, ds_model_kind kind, const ds_fit_opts *o) {
    if (kind == DS_MODEL_CALLBACK)
        return ds_fail("callback model: not fitted to data (use ds_model_callback)");
    if (data->n < 1 || data->d < 1 || !data->values)
        return ds_fail("%s: no training rows to fit", data->path);
    if (kind == DS_MODEL_EMPIRICAL) return 0;
    if (o->rank < 0 || o->rank > data->d)
        return ds_fail("%s model: rank %lld is out of range (expected 1 .. d = %lld, or 0 for "
                       "full rank)",
                       ds_model_kind_name(kind), (long long)o->rank, (long long)data->d);
    if (kind != DS_MODEL_GMM) return 0;
    if (!(o->var_floor >= 0) || !isfinite(o->var_floor))
        return ds_fail("gmm: variance floor %g is invalid (expected a finite value >= 0)",
                       o->var_floor);
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
    out->mean = ds_alloc((size_t)data->d, sizeof(double));
    fit_mean_rms(data, out->mean, &out->sigma_data);
    int rc = 0;
    if (data->path[0])
        rc = ds_data_fingerprint(data->path, out->data_path, &out->data_bytes, &out->data_checksum);
    // The empirical model keeps its own copy of the training rows and labels.
    if (!rc && kind == DS_MODEL_EMPIRICAL) rc = ds_data_copy(data, &out->data);
    if (!rc && kind == DS_MODEL_GAUSSIAN) rc = fit_gaussian(data, o, out);
    if (!rc && kind == DS_MODEL_GMM) rc = fit_gmm(data, o, out);
    if (rc) ds_model_free(out);
    return rc;
}
