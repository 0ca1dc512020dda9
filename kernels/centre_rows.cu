// Subtracts one vector from every row: centring queries on the data mean, and shifting
// projections by U_c^T (mu_c - mean). The vector is double and the difference is formed
// in double, then rounded once, as the host centres the training rows: a float mean
// would shift every query by its rounding (~u |mean|), an error the training rows lack.
#include "kernel_util.cuh"

__global__ void centre_rows_kernel(float *out, const float *x, const double *v, int64_t rows,
                                   int64_t cols) {
    DS_GRID_STRIDE(e, rows * cols) out[e] = (float)((double)x[e] - v[e % cols]);
}

extern "C" cudaError_t ds_launch_centre_rows(float *out, const float *x, const double *v,
                                             int64_t rows, int64_t cols) {
    centre_rows_kernel<<<ds_blocks_for(rows * cols), DS_THREADS>>>(out, x, v, rows, cols);
    return cudaGetLastError();
}
