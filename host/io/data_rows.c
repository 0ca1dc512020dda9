// Rows of a data set kept in its own precision (uint8, float32 or float64): the checked
// allocation every reader fills, and the accessors that read the rows as double or float.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data_rows.h"
#include "ds_error.h"

int ds_data_alloc_rows(ds_data *out, const char *what, int64_t n, int64_t d, ds_dtype dtype) {
    if (n < 1 || d < 1)
        return ds_fail("%s: data set has no data (%lld rows of %lld values; expected at least 1)",
                       what, (long long)n, (long long)d);
    int64_t size = (int64_t)ds_dtype_size(dtype);
    if (n > INT64_MAX / size / d)
        return ds_fail("%s: %lld rows of %lld values overflow the size of an array", what,
                       (long long)n, (long long)d);
    double need = (double)n * (double)d * (double)size;
    double have = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGE_SIZE);
    if (have > 0 && need > have)
        return ds_fail("%s: %lld rows of %lld values need %.1f GiB but this machine has %.1f GiB "
                       "of memory",
                       what, (long long)n, (long long)d, need / 1073741824.0, have / 1073741824.0);
    if (!(out->values = ds_try_alloc((size_t)(n * d), (size_t)size, what))) return -1;
    out->n = n;
    out->d = d;
    out->dtype = dtype;
    return 0;
}

void ds_u8_gather(const unsigned char *src, int64_t stride, unsigned char *dst, int64_t count) {
    for (int64_t i = 0; i < count; i++) dst[i] = src[i * stride];
}

void ds_data_rows_f64(const ds_data *data, int64_t first, int64_t count, double *out) {
    int64_t d = data->d;
    for (int64_t i = 0; i < count; i++)
        for (int64_t j = 0; j < d; j++) out[i * d + j] = ds_data_value(data, first + i, j);
}

void ds_data_rows_f32(const ds_data *data, int64_t first, int64_t count, float *out) {
    int64_t d = data->d;
    for (int64_t i = 0; i < count; i++)
        for (int64_t j = 0; j < d; j++) out[i * d + j] = (float)ds_data_value(data, first + i, j);
}

int64_t ds_data_value_bytes(const ds_data *data) {
    return data->n * data->d * (int64_t)ds_dtype_size(data->dtype);
}

int ds_data_copy(const ds_data *src, ds_data *dst) {
    *dst = *src;
    dst->values = dst->labels = NULL;
    size_t bytes = (size_t)ds_data_value_bytes(src);
    if (!(dst->values = ds_try_alloc(bytes, 1, src->path))) return -1;
    memcpy(dst->values, src->values, bytes);
    if (src->labels) {
        if (!(dst->labels = ds_try_alloc((size_t)src->n, sizeof(int32_t), src->path))) {
            free(dst->values);
            dst->values = NULL;
            return -1;
        }
        memcpy(dst->labels, src->labels, (size_t)src->n * sizeof(int32_t));
    }
    return 0;
}
