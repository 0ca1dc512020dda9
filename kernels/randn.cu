// Standard normal noise from the shared Philox stream (include/ds_philox.h), so the
// cuda backend draws the same noise as cpu and ref for the same seed.
#include "ds_philox.h"
#include "kernel_util.cuh"

__global__ void randn_kernel(float *out, int64_t rows, int64_t cols, uint64_t seed,
                             int64_t first_row) {
    DS_GRID_STRIDE(e, rows * cols) {
        int64_t i = e / cols, j = e % cols;
        out[e] = (float)ds_philox_normal(seed, first_row + i, j);
    }
}

__global__ void philox_raw_kernel(uint32_t *out, int64_t rows, int64_t cols, uint64_t seed,
                                  int64_t first_row) {
    DS_GRID_STRIDE(e, rows * cols) {
        int64_t i = e / cols, j = e % cols;
        out[e] = ds_philox_block(seed, first_row + i, j).v[j & 3];
    }
}

extern "C" cudaError_t ds_launch_randn(float *out, int64_t rows, int64_t cols, uint64_t seed,
                                       int64_t first_row) {
    randn_kernel<<<ds_blocks_for(rows * cols), DS_THREADS>>>(out, rows, cols, seed, first_row);
    return cudaGetLastError();
}

extern "C" cudaError_t ds_launch_philox_raw(uint32_t *out, int64_t rows, int64_t cols,
                                            uint64_t seed, int64_t first_row) {
    philox_raw_kernel<<<ds_blocks_for(rows * cols), DS_THREADS>>>(out, rows, cols, seed, first_row);
    return cudaGetLastError();
}
