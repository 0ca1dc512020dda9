// dst[dst_rows[k]] = src[src_rows[k]] row by row: the gather and scatter of live rows.
#include "kernel_util.cuh"

// One thread per element of the n moved rows; dst and src are distinct buffers.
__global__ void move_rows_kernel(float *dst, const int64_t *dst_rows, const float *src,
                                 const int64_t *src_rows, int64_t n, int64_t cols) {
    DS_GRID_STRIDE(e, n * cols) {
        int64_t k = e / cols, j = e % cols;
        int64_t to = dst_rows ? dst_rows[k] : k, from = src_rows ? src_rows[k] : k;
        dst[to * cols + j] = src[from * cols + j];
    }
}

extern "C" cudaError_t ds_launch_move_rows(float *dst, const int64_t *dst_rows, const float *src,
                                           const int64_t *src_rows, int64_t n, int64_t cols) {
    if (n < 1) return cudaSuccess;
    move_rows_kernel<<<ds_blocks_for(n * cols), DS_THREADS>>>(dst, dst_rows, src, src_rows, n,
                                                              cols);
    return cudaGetLastError();
}
