// Device memory for the cuda backend's files: allocation with a clear message, NaN
// poisoning and the other test aids' settings, and the host staging buffer of float
// conversions.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "cuda_check.h"
#include "cuda_internal.h"

int64_t ds_cuda_env_int(const char *name, int64_t fallback) {
    const char *s = getenv(name);
    return s && *s ? strtoll(s, NULL, 10) : fallback;
}

int ds_cuda_poison(const ds_cuda_ctx *ctx, void *p, size_t n) {
    if (ctx->poison) CUDA_TRY(cudaMemset(p, 0xFF, n)); // all-ones floats are NaN
    return 0;
}

int ds_cuda_release_failed(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("diffsamp: warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (while releasing device resources)\n", stderr);
    va_end(ap);
    return -1;
}

int ds_cuda_alloc(void **p, size_t bytes, const char *what) {
    cudaError_t err = cudaMalloc(p, bytes);
    if (err == cudaSuccess) return 0;
    *p = NULL;
    cudaGetLastError(); // clear the error so later calls are not affected
    return ds_fail("cuda: cannot allocate %.1f MiB of device memory for %s: %s",
                   (double)bytes / (1 << 20), what, cudaGetErrorString(err));
}

float *ds_cuda_staging(ds_cuda_ctx *ctx, size_t count) {
    if (ctx->staging_len < count) {
        free(ctx->staging);
        ctx->staging = (float *)ds_try_alloc(count, sizeof(float), "cuda staging buffer");
        ctx->staging_len = ctx->staging ? count : 0;
    }
    return ctx->staging;
}

int ds_cuda_upload_floats(ds_cuda_ctx *ctx, float *dst, const double *src, size_t count) {
    float *h = ds_cuda_staging(ctx, count);
    if (!h) return -1;
    for (size_t i = 0; i < count; i++) h[i] = (float)src[i];
    CUDA_TRY(cudaMemcpy(dst, h, count * sizeof(float), cudaMemcpyHostToDevice));
    return 0;
}

int ds_cuda_upload_squares(double *dst, const double *sigma, int64_t rows) {
    double *s2 = (double *)ds_try_alloc((size_t)rows, sizeof(double), "cuda denoise");
    if (!s2) return -1;
    for (int64_t i = 0; i < rows; i++) s2[i] = sigma[i] * sigma[i];
    cudaError_t err = cudaMemcpy(dst, s2, sizeof(double) * (size_t)rows, cudaMemcpyHostToDevice);
    free(s2);
    if (err != cudaSuccess)
        return ds_fail("cuda: cudaMemcpy of the per-row sigmas failed: %s",
                       cudaGetErrorString(err));
    return 0;
}

int ds_cuda_upload_doubles(double **dst, const double *src, size_t count, const char *what) {
    DS_TRY(ds_cuda_alloc((void **)dst, sizeof(double) * count, what));
    CUDA_TRY(cudaMemcpy(*dst, src, sizeof(double) * count, cudaMemcpyHostToDevice));
    return 0;
}
