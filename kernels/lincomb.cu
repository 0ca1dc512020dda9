// out = sum_i coef[i] v[i]: the one fused linear-combination kernel of every sampler.
#include "kernel_util.cuh"

typedef struct {
    const float *v[DS_LINCOMB_MAX];
    double coef[DS_LINCOMB_MAX];
} lincomb_args;

// Each element is read and written by one thread, so out may alias an input.
__global__ void lincomb_kernel(float *out, int n, lincomb_args a, int64_t count) {
    DS_GRID_STRIDE(e, count) {
        double s = 0;
        for (int i = 0; i < n; i++) s += a.coef[i] * (double)a.v[i][e];
        out[e] = (float)s;
    }
}

extern "C" cudaError_t ds_launch_lincomb(float *out, int n, const double *coef,
                                         const float *const *v, int64_t count) {
    if (n < 1 || n > DS_LINCOMB_MAX) return cudaErrorInvalidValue;
    lincomb_args a;
    for (int i = 0; i < n; i++) a.v[i] = v[i], a.coef[i] = coef[i];
    for (int i = n; i < DS_LINCOMB_MAX; i++) a.v[i] = NULL, a.coef[i] = 0;
    lincomb_kernel<<<ds_blocks_for(count), DS_THREADS>>>(out, n, a, count);
    return cudaGetLastError();
}
