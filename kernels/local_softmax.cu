// The masked local models (pca_locality, ls) on the device, directly: one block per
// (query, output pixel) runs the softmax over the n training rows of
//   l_k = -sum_{e in column j} w_e (x_{n_e} - y_{k n_e})^2 / (2 sigma^2 T),
// each thread an online softmax in double over the rows k = thread, thread + blockDim, ...,
// and the block's states folded in thread order (so the result does not depend on the
// order the threads run in). Distances, weights and sums are in double from the float
// rows and queries: the error is the float output's rounding. The work is
// 2 B N sum_j |S_j| (the mask's support) and nothing of size B x N is formed.
#include "kernel_util.cuh"

#define LOCAL_THREADS 128

__global__ void local_softmax_kernel(float *out, const float *x, int64_t rows, const float *y,
                                     int64_t n, int64_t d, ds_local_mask_dev mask, double scale) {
    __shared__ double part_max[LOCAL_THREADS], part_sum[LOCAL_THREADS], part_acc[LOCAL_THREADS];
    for (int64_t pair = blockIdx.x; pair < rows * d; pair += gridDim.x) {
        int64_t i = pair / d, j = pair % d, e0 = mask.start[j], e1 = mask.start[j + 1];
        const float *xi = x + i * d;
        double max = -INFINITY, sum = 0, acc = 0;
        for (int64_t k = threadIdx.x; k < n; k += blockDim.x) {
            const float *yk = y + k * d;
            double dist = 0;
            for (int64_t e = e0; e < e1; e++) {
                double diff = (double)xi[mask.row[e]] - (double)yk[mask.row[e]];
                dist += mask.weight[e] * diff * diff;
            }
            double l = -dist * scale;
            if (l > max) {
                double r = exp(max - l); // 0 for the first row
                sum = sum * r + 1, acc = acc * r + yk[j], max = l;
            } else {
                double w = exp(l - max);
                sum += w, acc += w * yk[j];
            }
        }
        __syncthreads(); // the previous pair's fold has read the parts
        part_max[threadIdx.x] = max, part_sum[threadIdx.x] = sum, part_acc[threadIdx.x] = acc;
        __syncthreads();
        if (threadIdx.x == 0) {
            double top = -INFINITY, z = 0, a = 0;
            for (int t = 0; t < LOCAL_THREADS; t++) top = fmax(top, part_max[t]);
            for (int t = 0; t < LOCAL_THREADS; t++) {
                double r = part_max[t] == -INFINITY ? 0.0 : exp(part_max[t] - top);
                z += part_sum[t] * r, a += part_acc[t] * r;
            }
            out[pair] = (float)(a / z);
        }
    }
}

extern "C" cudaError_t ds_launch_local_softmax(float *out, const float *x, int64_t rows,
                                               const float *y, int64_t n, int64_t d,
                                               ds_local_mask_dev mask, double scale) {
    int64_t pairs = rows * d;
    unsigned int blocks = (unsigned int)(pairs < 65535 ? (pairs < 1 ? 1 : pairs) : 65535);
    local_softmax_kernel<<<blocks, LOCAL_THREADS>>>(out, x, rows, y, n, d, mask, scale);
    return cudaGetLastError();
}
