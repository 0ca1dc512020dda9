// Posterior weights of the mixture components for noisy queries: the log density of
// each component under N(mu_c, U diag(lam) U^T + residual P_perp + sigma^2 I), then a
// softmax over components.
#include "kernel_util.cuh"

// One block per (row i, component c), blockIdx.x = i k + c (a 1-D grid: gridDim.y would
// cap k at 65,535). The quadratic form splits into the span of U_c,
// sum_j p_j^2 / (lam_j + s2), and its complement, (|x - mu_c|^2 - |p|^2) / (res + s2).
__global__ void gmm_log_density_kernel(double *logp, const float *x, const float *proj,
                                       const float *means, const double *eigvals,
                                       const double *residual, const double *log_weights, int64_t d,
                                       int64_t k, int64_t r, ds_sigma2 s2) {
    int64_t i = blockIdx.x / k, c = blockIdx.x % k;
    double s = ds_sigma2_of(s2, i);
    const float *xi = x + i * d, *mu = means + c * d, *p = proj + i * k * r + c * r;
    const double *lam = eigvals + c * r;
    double sq = 0, quad = 0, in_sq = 0, logdet = 0;
    for (int64_t e = threadIdx.x; e < d; e += blockDim.x) {
        double dx = (double)xi[e] - (double)mu[e];
        sq += dx * dx;
    }
    for (int64_t j = threadIdx.x; j < r; j += blockDim.x) {
        double pj = p[j];
        quad += pj * pj / (lam[j] + s);
        in_sq += pj * pj;
        logdet += log(lam[j] + s);
    }
    sq = ds_block_sum(sq);
    quad = ds_block_sum(quad);
    in_sq = ds_block_sum(in_sq);
    logdet = ds_block_sum(logdet);
    if (threadIdx.x != 0) return;
    if (r < d) {
        quad += fmax(sq - in_sq, 0.0) / (residual[c] + s);
        logdet += (double)(d - r) * log(residual[c] + s);
    }
    logp[i * k + c] = log_weights[c] - 0.5 * (quad + logdet);
}

// One thread per row.
__global__ void gmm_softmax_kernel(float *rho, const double *logp, int64_t rows, int64_t k) {
    DS_GRID_STRIDE(i, rows) {
        const double *l = logp + i * k;
        double max = l[0], z = 0;
        for (int64_t c = 1; c < k; c++) max = fmax(max, l[c]);
        for (int64_t c = 0; c < k; c++) z += exp(l[c] - max);
        for (int64_t c = 0; c < k; c++) rho[i * k + c] = (float)(exp(l[c] - max) / z);
    }
}

extern "C" cudaError_t ds_launch_gmm_log_density(double *logp, const float *x, const float *proj,
                                                 const float *means, const double *eigvals,
                                                 const double *residual, const double *log_weights,
                                                 int64_t rows, int64_t d, int64_t k, int64_t r,
                                                 ds_sigma2 s2) {
    // The workspace keeps rows k r < 2^31 (cuda_workspace.cu), so this never refuses.
    if (rows * k > 2147483647) return cudaErrorInvalidValue;
    gmm_log_density_kernel<<<(unsigned int)(rows * k), DS_THREADS>>>(
        logp, x, proj, means, eigvals, residual, log_weights, d, k, r, s2);
    return cudaGetLastError();
}

extern "C" cudaError_t ds_launch_gmm_softmax(float *rho, const double *logp, int64_t rows,
                                             int64_t k) {
    gmm_softmax_kernel<<<ds_blocks_for(rows), DS_THREADS>>>(rho, logp, rows, k);
    return cudaGetLastError();
}
