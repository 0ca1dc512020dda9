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
