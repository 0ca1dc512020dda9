// The masked local models (pca_locality, ls) on the device, directly: one block per
// (query, output pixel) runs the softmax over the n training rows of
//   l_k = -sum_{e in column j} w_e (x_{n_e} - y_{k n_e})^2 / (2 sigma^2 T),
// each thread an online softmax in double over the rows k = thread, thread + blockDim, ...,
// and the block's states folded in thread order (ds_online_fold). Distances, weights and
// sums are in double from the float rows and queries: the error is the float output's
// rounding. The work is 2 B N sum_j |S_j| (the mask's support) and nothing of size B x N
// is formed.
#include "kernel_util.cuh"

__global__ void local_softmax_kernel(float *out, const float *x, int64_t rows, const float *y,
                                     int64_t n, int64_t d, ds_local_mask_dev mask, double scale) {
    for (int64_t pair = blockIdx.x; pair < rows * d; pair += gridDim.x) {
        int64_t i = pair / d, j = pair % d, e0 = mask.start[j], e1 = mask.start[j + 1];
        const float *xi = x + i * d;
        ds_online s = ds_online_empty();
        for (int64_t k = threadIdx.x; k < n; k += blockDim.x) {
            const float *yk = y + k * d;
            double dist = 0, v = yk[j];
            for (int64_t e = e0; e < e1; e++) {
                double diff = (double)xi[mask.row[e]] - (double)yk[mask.row[e]];
                dist += mask.weight[e] * diff * diff;
            }
            ds_online_add(&s, -dist * scale, &v, 1);
        }
        s = ds_online_fold(s, 1);
        if (threadIdx.x == 0) out[pair] = (float)(s.acc[0] / s.sum);
    }
}

extern "C" cudaError_t ds_launch_local_softmax(float *out, const float *x, int64_t rows,
                                               const float *y, int64_t n, int64_t d,
                                               ds_local_mask_dev mask, double scale) {
    int64_t pairs = rows * d;
    unsigned int blocks = (unsigned int)(pairs < 65535 ? (pairs < 1 ? 1 : pairs) : 65535);
    local_softmax_kernel<<<blocks, DS_ONLINE_THREADS>>>(out, x, rows, y, n, d, mask, scale);
    return cudaGetLastError();
}
