// Row accessors of a data set kept in its own precision (uint8, float32 or float64).
#include <stdlib.h>
#include <string.h>

#include "ds_data.h"
#include "ds_error.h"

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
    dst->values = dst->labels = dst->map_base = NULL;
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

int ds_data_select_class(const ds_data *src, int64_t label, ds_data *dst) {
    memset(dst, 0, sizeof *dst);
    if (!src->labels)
        return ds_fail("%s: --class %lld needs class labels, but this data set has none (IDX "
                       "label files are found next to the images; CIFAR-10 has its own)",
                       src->path, (long long)label);
    int64_t count = 0, lo = INT32_MAX, hi = INT32_MIN;
    for (int64_t i = 0; i < src->n; i++) {
        count += src->labels[i] == label;
        lo = src->labels[i] < lo ? src->labels[i] : lo;
        hi = src->labels[i] > hi ? src->labels[i] : hi;
    }
    if (count == 0)
        return ds_fail("%s: no row has class %lld (its labels lie in %lld .. %lld)", src->path,
                       (long long)label, (long long)lo, (long long)hi);
    *dst = *src;
    dst->values = dst->map_base = NULL, dst->map_bytes = 0, dst->n = count;
    size_t row = (size_t)src->d * ds_dtype_size(src->dtype);
    dst->values = ds_try_alloc((size_t)count, row, src->path);
    dst->labels = ds_try_alloc((size_t)count, sizeof(int32_t), src->path);
    if (!dst->values || !dst->labels) {
        free(dst->values), free(dst->labels);
        memset(dst, 0, sizeof *dst);
        return -1;
    }
    for (int64_t i = 0, k = 0; i < src->n; i++)
        if (src->labels[i] == label) {
            memcpy((char *)dst->values + k * row, (const char *)src->values + i * row, row);
            dst->labels[k++] = src->labels[i];
        }
    return 0;
}
