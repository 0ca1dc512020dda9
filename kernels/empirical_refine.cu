// Each query's maximum over a chunk of the GEMM path's products, refined: the SGEMM
// error of x.y, divided by sigma^2, can reach many logits at small sigma, so the few
// rows whose logits may lie within DS_REFINE_WINDOW of the maximum get x.y in double
// (see host/backends/empirical_refine.h, shared with the cpu backend).
#include "empirical_refine.h"
#include "kernel_util.cuh"

// One block per query row i; one warp per candidate for the double products.
__global__ void chunk_max_refine_kernel(const float *dots, int64_t n, const float *xc,
                                        const float *y, int64_t d, const double *half_sq,
                                        double y_norm, ds_sigma2 s2, double *chunk_max,
                                        int64_t *chunk_arg, ds_refine_buf rb) {
    __shared__ int count;
    __shared__ int index[DS_REFINE_MAX];
    __shared__ double t[DS_REFINE_MAX];
    const int64_t i = blockIdx.x;
    const float *x = xc + i * d, *dot = dots + i * n;
    const double inv_s2 = 1.0 / ds_sigma2_of(s2, i);
    double tmax = -INFINITY;
    int64_t tmax_arg = n;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
        double tj = (double)dot[j] - half_sq[j];
        if (tj > tmax) tmax = tj, tmax_arg = j;
    }
    ds_block_argmax(&tmax, &tmax_arg);
    double x2 = 0;
    for (int64_t e = threadIdx.x; e < d; e += blockDim.x) x2 += (double)x[e] * x[e];
    double eps = DS_DOT_ERROR_FACTOR * sqrt(ds_block_sum(x2)) * y_norm;
    if (threadIdx.x == 0) count = 0;
    __syncthreads();
    if (eps * inv_s2 >= DS_REFINE_MIN_ERROR) {
        double cut = tmax - (DS_REFINE_WINDOW / inv_s2 + 2 * eps);
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
            if ((double)dot[j] - half_sq[j] < cut) continue;
            int k = atomicAdd(&count, 1);
            if (k < DS_REFINE_MAX) index[k] = (int)j;
        }
    }
    __syncthreads();
    // More candidates than fit: a broad softmax, whose float logits are kept.
    const int c = count <= DS_REFINE_MAX ? count : 0;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    for (int k = warp; k < c; k += blockDim.x / 32) {
        const float *yj = y + (int64_t)index[k] * d;
        double s = 0;
        for (int64_t e = lane; e < d; e += 32) s += (double)x[e] * (double)yj[e];
        s = ds_warp_sum(s);
        if (lane == 0) t[k] = s - half_sq[index[k]];
    }
    __syncthreads();
    if (threadIdx.x != 0) return;
    rb.count[i] = c;
    double best = c > 0 ? -INFINITY : tmax;
    int64_t arg = c > 0 ? 0 : tmax_arg;
    for (int k = 0; k < c; k++) {
        int64_t o = i * DS_REFINE_MAX + k;
        rb.index[o] = index[k];
        rb.dot[o] = dot[index[k]];
        rb.t[o] = t[k];
        if (t[k] > best || (t[k] == best && index[k] < arg)) best = t[k], arg = index[k];
    }
    chunk_max[i] = best, chunk_arg[i] = arg;
}

extern "C" cudaError_t ds_launch_chunk_max_refine(const float *dot, int64_t rows, int64_t n,
                                                  const float *xc, const float *y, int64_t d,
                                                  const double *half_sq, double y_norm,
                                                  ds_sigma2 s2, double *chunk_max,
                                                  int64_t *chunk_arg, ds_refine_buf rb) {
    if (n > 2147483647) return cudaErrorInvalidValue; // candidate columns are int
    chunk_max_refine_kernel<<<(unsigned int)rows, DS_THREADS>>>(dot, n, xc, y, d, half_sq, y_norm,
                                                                s2, chunk_max, chunk_arg, rb);
    return cudaGetLastError();
}
