// Device helpers shared by the kernels: launch geometry, per-row sigma, block
// reductions and the online-softmax update.
#ifndef DS_KERNEL_UTIL_CUH
#define DS_KERNEL_UTIL_CUH

#include <math.h>
#include <stdint.h>

#include "ds_kernels.h"

#define DS_THREADS 256

// Blocks for a grid-stride loop over count elements (capped: the loop covers the rest).
static inline unsigned int ds_blocks_for(int64_t count) {
    int64_t blocks = (count + DS_THREADS - 1) / DS_THREADS;
    if (blocks > 65535) blocks = 65535;
    return (unsigned int)(blocks < 1 ? 1 : blocks);
}

#define DS_GRID_STRIDE(e, count)                                                                   \
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < (count);                  \
         e += (int64_t)gridDim.x * blockDim.x)

__device__ __forceinline__ double ds_sigma2_of(ds_sigma2 s, int64_t row) {
    return s.rows ? s.rows[row] : s.value;
}

// Sum of one double per thread over a block of DS_THREADS threads; every thread gets
// the total. Contains __syncthreads: call from all threads of the block.
__device__ __forceinline__ double ds_block_sum(double v) {
    __shared__ double part[DS_THREADS / 32];
    for (int off = 16; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    __syncthreads(); // part[] may still be read by a previous call
    if (lane == 0) part[warp] = v;
    __syncthreads();
    double total = 0;
    for (int w = 0; w < DS_THREADS / 32; w++) total += part[w];
    return total;
}

// Sum of one double over the 32 lanes of a warp, in lane 0. Call from all lanes.
__device__ __forceinline__ double ds_warp_sum(double v) {
    for (int off = 16; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
    return v;
}

// Largest value over the block and its index (the smallest index among ties); every
// thread gets the result. Call from all threads of the block.
__device__ __forceinline__ void ds_block_argmax(double *v, int64_t *arg) {
    __shared__ double part_v[DS_THREADS / 32];
    __shared__ int64_t part_a[DS_THREADS / 32];
    for (int off = 16; off > 0; off /= 2) {
        double ov = __shfl_down_sync(0xffffffffu, *v, off);
        int64_t oa = __shfl_down_sync(0xffffffffu, *arg, off);
        if (ov > *v || (ov == *v && oa < *arg)) *v = ov, *arg = oa;
    }
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    __syncthreads();
    if (lane == 0) part_v[warp] = *v, part_a[warp] = *arg;
    __syncthreads();
    *v = part_v[0], *arg = part_a[0];
    for (int w = 1; w < DS_THREADS / 32; w++)
        if (part_v[w] > *v || (part_v[w] == *v && part_a[w] < *arg))
            *v = part_v[w], *arg = part_a[w];
}

// The weight exp(l) of a logit l relative to the running maximum, in float. Only the
// float products of rows that are then refined can give l > 0 (their weights are
// replaced); those count as 0, so that no weight overflows.
__device__ __forceinline__ float ds_weight(double l) {
    return l > 0 ? 0.0f : expf((float)l);
}

// Factor exp((old_max - new_max) / sigma^2) by which the old sums and accumulator of a
// row are multiplied when its running maximum of t grows; 0 for an empty state.
__device__ __forceinline__ double ds_online_rescale(double old_max, double new_max, double inv_s2) {
    return old_max == -INFINITY ? 0.0 : exp((old_max - new_max) * inv_s2);
}

// Updates a row's running (max, sum, zl) with a block of rows whose weights relative to
// new_max sum to csum and whose sum of w (l - l_max) is czl.
__device__ __forceinline__ void ds_online_update(double *max, double *sum, double *zl,
                                                 double new_max, double scale, double inv_s2,
                                                 double csum, double czl) {
    double old_zl = *max == -INFINITY ? 0.0 : scale * (*zl + *sum * (*max - new_max) * inv_s2);
    *zl = old_zl + czl;
    *sum = *sum * scale + csum;
    *max = new_max;
}

// One thread's online softmax over its share of a block's candidates, in double: the
// running maximum logit, the sum of exp(l - max) and up to DS_ONLINE_VALUES weighted
// values. Every candidate's weight is formed once, relative to the maximum so far.
#define DS_ONLINE_VALUES 4
#define DS_ONLINE_THREADS 128 // the block size of the kernels that fold these states

typedef struct {
    double max, sum, acc[DS_ONLINE_VALUES];
} ds_online;

__device__ __forceinline__ ds_online ds_online_empty(void) {
    ds_online s;
    s.max = -INFINITY, s.sum = 0;
    for (int c = 0; c < DS_ONLINE_VALUES; c++) s.acc[c] = 0;
    return s;
}

// Adds the candidate of logit l and values v[0 .. nv) (nv <= DS_ONLINE_VALUES).
__device__ __forceinline__ void ds_online_add(ds_online *s, double l, const double *v, int nv) {
    if (l > s->max) {
        double r = exp(s->max - l); // 0 for the first candidate
        s->sum = s->sum * r + 1, s->max = l;
        for (int c = 0; c < nv; c++) s->acc[c] = s->acc[c] * r + v[c];
    } else {
        double w = exp(l - s->max);
        s->sum += w;
        for (int c = 0; c < nv; c++) s->acc[c] += w * v[c];
    }
}

// The states of a block's DS_ONLINE_THREADS threads folded in thread order (so the result
// does not depend on the order the threads ran in); every thread gets the total. Contains
// __syncthreads: call from all threads of the block.
__device__ __forceinline__ ds_online ds_online_fold(ds_online s, int nv) {
    __shared__ ds_online part[DS_ONLINE_THREADS];
    __shared__ ds_online total;
    __syncthreads(); // a previous fold has read part[] and total
    part[threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.x == 0) {
        ds_online t = ds_online_empty();
        for (int k = 0; k < DS_ONLINE_THREADS; k++) t.max = fmax(t.max, part[k].max);
        for (int k = 0; k < DS_ONLINE_THREADS; k++) {
            double r = part[k].max == -INFINITY ? 0.0 : exp(part[k].max - t.max);
            t.sum += part[k].sum * r;
            for (int c = 0; c < nv; c++) t.acc[c] += part[k].acc[c] * r;
        }
        total = t;
    }
    __syncthreads();
    return total;
}

#endif
