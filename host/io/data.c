// Data set loading: choose the reader from the path, and the .npy -> rows step.
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "data_readers.h"
#include "data_rows.h"
#include "ds_data.h"
#include "ds_error.h"

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static int is_channel_count(int64_t c) {
    return c == 1 || c == 3 || c == 4;
}

// Reorders each of n rows from H-W-C to C-H-W (in place, through one row's buffer), for
// values of any dtype.
static int rows_to_chw(ds_data *out, const char *path) {
    int64_t c = out->channels, hw = (int64_t)out->height * out->width;
    size_t size = ds_dtype_size(out->dtype), row_bytes = (size_t)out->d * size;
    unsigned char *row = ds_try_alloc(row_bytes, 1, path);
    if (!row) return -1;
    for (int64_t i = 0; i < out->n; i++) {
        unsigned char *x = (unsigned char *)out->values + (size_t)i * row_bytes;
        for (int64_t p = 0; p < hw; p++)
            for (int64_t k = 0; k < c; k++)
                memcpy(row + (size_t)(k * hw + p) * size, x + (size_t)(p * c + k) * size, size);
        memcpy(x, row, row_bytes);
    }
    free(row);
    return 0;
}

// Rows of an array: (N, d...) flattened to N x prod(d...); (N,H,W) and (N,C,H,W)
// keep their image shape. A 4-D array whose last axis is 1, 3 or 4 and whose second is
// not is numpy's usual (N,H,W,C): its rows are reordered to C-H-W and channels_last set.
// The values are taken over as stored, in their dtype.
static int data_from_array(const char *path, ds_array *a, ds_data *out) {
    if (a->ndim < 1) return ds_fail("%s: array is a scalar (expected N rows)", path);
    int64_t n = a->shape[0], d = 1;
    // Bounded here too: with zero rows the element count is 0 whatever the row width.
    for (int i = 1; i < a->ndim; i++) {
        if (a->shape[i] > 0 && d > INT64_MAX / (int64_t)sizeof(double) / a->shape[i])
            return ds_fail("%s: dimension %d of the npy shape is %lld: the row width overflows "
                           "(expected rows that fit in memory)",
                           path, i, (long long)a->shape[i]);
        d *= a->shape[i];
    }
    if (a->ndim == 3)
        out->channels = 1, out->height = (int)a->shape[1], out->width = (int)a->shape[2];
    if (a->ndim == 4) {
        out->channels_last = is_channel_count(a->shape[3]) && !is_channel_count(a->shape[1]);
        int c = out->channels_last ? 3 : 1, h = out->channels_last ? 1 : 2;
        out->channels = (int)a->shape[c], out->height = (int)a->shape[h],
        out->width = (int)a->shape[h + 1];
    }
    if (n < 1 || d < 1)
        return ds_fail("%s: data set has no data (%lld rows of %lld values; expected at least 1)",
                       path, (long long)n, (long long)d);
    // The float backends round the rows to float32: a value beyond its range would be Inf
    // there (found by fuzzing).
    for (int64_t i = 0; a->dtype == DS_F64 && i < n * d; i++)
        if (fabs(((const double *)a->data)[i]) > FLT_MAX)
            return ds_fail("%s: element %lld is %g, outside the float32 range (expected |x| <= "
                           "%g)",
                           path, (long long)i, ((const double *)a->data)[i], FLT_MAX);
    out->n = n, out->d = d, out->dtype = a->dtype;
    out->values = a->data, out->map_base = a->map_base, out->map_bytes = a->map_bytes;
    a->data = a->map_base = NULL;
    return out->channels_last ? rows_to_chw(out, path) : 0;
}

static int load_npy(const char *path, ds_data *out) {
    ds_array a;
    DS_TRY(ds_npy_map(path, &a));
    int rc = data_from_array(path, &a, out);
    ds_array_free(&a);
    return rc;
}

typedef enum { FMT_UNKNOWN, FMT_NPY, FMT_IDX, FMT_CIFAR } data_format;

// IDX magic: two zero bytes, an element type (0x08..0x0E), a dimension count 1..4.
static int is_idx_magic(const unsigned char m[4]) {
    return m[0] == 0 && m[1] == 0 && m[2] >= 0x08 && m[2] <= 0x0E && m[3] >= 1 && m[3] <= 4;
}

// The format a file name announces: .npy, .bin (CIFAR-10), -ubyte or .gz (IDX).
static data_format format_by_name(const char *path) {
    if (ends_with(path, ".npy")) return FMT_NPY;
    if (ends_with(path, ".bin")) return FMT_CIFAR;
    if (ends_with(path, "-ubyte") || ends_with(path, ".gz")) return FMT_IDX;
    return FMT_UNKNOWN;
}

// The format of a regular file: by its first bytes (seen through zlib, which reads
// uncompressed files as they are) where they tell, else by its name.
static data_format file_format(const char *path) {
    unsigned char m[4] = {0};
    int direct = 1, got = 0;
    gzFile f = gzopen(path, "rb");
    if (f) {
        got = gzread(f, m, 4);
        direct = gzdirect(f);
        gzclose(f);
    }
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (ends_with(name, ".bin")) return FMT_CIFAR;
    if (got == 4 && direct && !memcmp(m, "\x93NUM", 4)) return FMT_NPY;
    if (got == 4 && is_idx_magic(m)) return FMT_IDX;
    if (strstr(name, "idx")) return FMT_IDX;
    return format_by_name(path);
}

static int load_path(const char *path, ds_data *out) {
    if (strchr(path, ',')) return ds_read_cifar(path, out);
    struct stat st;
    if (stat(path, &st) != 0)
        return ds_fail("%s: cannot open: %s (expected a .npy, IDX or CIFAR-10 .bin file, or a "
                       "folder of PNGs)",
                       path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        if (format_by_name(path) != FMT_UNKNOWN)
            return ds_fail("%s: is a folder (expected a file, as its name says)", path);
        return ds_read_png_folder(path, out);
    }
    if (!S_ISREG(st.st_mode)) return ds_check_regular(path, "a data file", NULL);
    switch (file_format(path)) {
    case FMT_NPY:
        return load_npy(path, out);
    case FMT_IDX:
        return ds_read_idx(path, out);
    case FMT_CIFAR:
        return ds_read_cifar(path, out);
    default:
        return ds_fail("%s: unrecognised data format (expected a .npy, IDX[.gz] or CIFAR-10 .bin "
                       "file, or a folder of PNGs)",
                       path);
    }
}

int ds_data_load(const char *path, ds_data *out) {
    memset(out, 0, sizeof *out);
    int rc = load_path(path, out);
    if (rc) ds_data_free(out);
    snprintf(out->path, sizeof out->path, "%s", path);
    return rc;
}

void ds_data_free(ds_data *d) {
    ds_array_release(d->values, d->map_base, d->map_bytes);
    free(d->labels);
    d->values = d->map_base = NULL;
    d->labels = NULL;
    d->n = d->d = 0;
    d->channels = d->height = d->width = d->channels_last = 0;
}
