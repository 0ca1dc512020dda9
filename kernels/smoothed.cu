// The smoothed model's two steps around the empirical denoiser (cuda/cuda_smoothed.cu):
// the perturbed queries x_i + a_i eps_c, and the mean of each row's denoised queries,
// both formed in double and rounded once, as the cpu backend forms them.
#include "kernel_util.cuh"

__global__ void smoothed_queries_kernel(float *q, const float *x, const double *a,
                                        const double *eps, int64_t rows, int64_t samples,
                                        int64_t d) {
    DS_GRID_STRIDE(e, rows * samples * d) {
        int64_t j = e % d, query = e / d, i = query / samples, c = query % samples;
        q[e] = (float)((double)x[i * d + j] + a[i] * eps[c * d + j]);
    }
}

__global__ void sample_mean_kernel(float *out, const float *dq, int64_t rows, int64_t samples,
                                   int64_t d) {
    DS_GRID_STRIDE(e, rows * d) {
        int64_t i = e / d, j = e % d;
        double sum = 0;
        for (int64_t c = 0; c < samples; c++) sum += dq[(i * samples + c) * d + j];
        out[e] = (float)(sum / (double)samples);
    }
}

extern "C" cudaError_t ds_launch_smoothed_queries(float *q, const float *x, const double *a,
                                                  const double *eps, int64_t rows, int64_t samples,
                                                  int64_t d) {
    smoothed_queries_kernel<<<ds_blocks_for(rows * samples * d), DS_THREADS>>>(q, x, a, eps, rows,
                                                                               samples, d);
    return cudaGetLastError();
}

extern "C" cudaError_t ds_launch_sample_mean(float *out, const float *dq, int64_t rows,
                                             int64_t samples, int64_t d) {
    sample_mean_kernel<<<ds_blocks_for(rows * d), DS_THREADS>>>(out, dq, rows, samples, d);
    return cudaGetLastError();
}
