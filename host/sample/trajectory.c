// Trajectory recording: x_i and D(x_i; sigma_i) at every schedule point, gathered from
// the solver hook batch by batch and written as .npy arrays.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_error.h"
#include "ds_sample.h"

int ds_trajectory_init(ds_trajectory *t, ds_backend *b, const double *sigmas, int points,
                       int64_t rows, int64_t d) {
    memset(t, 0, sizeof *t);
    size_t count = (size_t)points * (size_t)(rows * d);
    t->x = ds_try_alloc(count, sizeof(double), "trajectory");
    t->denoised = t->x ? ds_try_alloc(count, sizeof(double), "trajectory") : NULL;
    if (!t->denoised) {
        free(t->x);
        t->x = NULL;
        return -1;
    }
    t->points = points, t->rows = rows, t->d = d, t->b = b;
    t->sigmas = ds_try_alloc((size_t)points, sizeof(double), "trajectory");
    if (!t->sigmas) {
        ds_trajectory_free(t);
        return -1;
    }
    memcpy(t->sigmas, sigmas, sizeof(double) * (size_t)points);
    return 0;
}

int ds_trajectory_hook(void *user, int index, double sigma, const ds_batch *x,
                       const ds_batch *denoised) {
    ds_trajectory *t = user;
    (void)sigma;
    if (index < 0 || index >= t->points) return 0;
    size_t offset = ((size_t)index * (size_t)t->rows + (size_t)t->first_row) * (size_t)t->d;
    DS_TRY(t->b->download(t->b, x, t->x + offset));
    return denoised ? t->b->download(t->b, denoised, t->denoised + offset) : 0;
}

int ds_trajectory_write(const ds_trajectory *t, const char *prefix, int f64) {
    char path[DS_PATH_MAX];
    ds_dtype dtype = f64 ? DS_F64 : DS_F32;
    int64_t shape[3] = {t->points, t->rows, t->d};
    snprintf(path, sizeof path, "%s_x.npy", prefix);
    DS_TRY(ds_npy_write_f64(path, t->x, 3, shape, dtype));
    shape[0] = t->points - 1;
    snprintf(path, sizeof path, "%s_denoised.npy", prefix);
    DS_TRY(ds_npy_write_f64(path, t->denoised, 3, shape, dtype));
    int64_t n = t->points;
    snprintf(path, sizeof path, "%s_sigmas.npy", prefix);
    return ds_npy_write_f64(path, t->sigmas, 1, &n, DS_F64);
}

void ds_trajectory_free(ds_trajectory *t) {
    free(t->x);
    free(t->denoised);
    free(t->sigmas);
    memset(t, 0, sizeof *t);
}
