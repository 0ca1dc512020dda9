// Data set loading: dispatch on the path, and the .npy reader. The IDX, CIFAR-10 and
// PNG-folder readers are still to come.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_data.h"
#include "ds_error.h"

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

// Rows of an array: (N, d...) flattened to N x prod(d...); (N,H,W) and (N,C,H,W)
// keep their image shape. uint8 maps to [-1, 1].
static int data_from_array(const char *path, const ds_array *a, ds_data *out) {
    if (a->ndim < 1) return ds_fail("%s: array is a scalar (expected N rows)", path);
    int64_t n = a->shape[0], d = 1;
    for (int i = 1; i < a->ndim; i++) d *= a->shape[i];
    if (n < 1 || d < 1) return ds_fail("%s: array has no data (shape with a zero)", path);
    out->n = n;
    out->d = d;
    if (a->ndim == 3)
        out->channels = 1, out->height = (int)a->shape[1], out->width = (int)a->shape[2];
    if (a->ndim == 4)
        out->channels = (int)a->shape[1], out->height = (int)a->shape[2],
        out->width = (int)a->shape[3];
    if (!(out->x = ds_try_alloc((size_t)(n * d), sizeof(float), path))) return -1;
    for (int64_t i = 0; i < n * d; i++) {
        if (a->dtype == DS_U8)
            out->x[i] = (float)(((const unsigned char *)a->data)[i] / 127.5 - 1.0);
        else if (a->dtype == DS_F32)
            out->x[i] = ((const float *)a->data)[i];
        else
            out->x[i] = (float)((const double *)a->data)[i];
    }
    return 0;
}

int ds_data_load(const char *path, ds_data *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->path, sizeof out->path, "%s", path);
    if (!ends_with(path, ".npy"))
        return ds_fail("%s: unsupported data format (expected .npy for now)", path);
    ds_array a;
    DS_TRY(ds_npy_read(path, &a));
    int rc = data_from_array(path, &a, out);
    ds_array_free(&a);
    if (rc) ds_data_free(out);
    return rc;
}

void ds_data_free(ds_data *d) {
    free(d->x);
    free(d->labels);
    d->x = NULL;
    d->labels = NULL;
    d->n = d->d = 0;
}
