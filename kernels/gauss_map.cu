// The Gaussian linear map x -> mu + g dx + U diag(f - g) U^T dx, shared by the Gaussian
// and mixture denoisers (f = lam / (lam + sigma^2)) and the exact Gaussian flow
// (f = sqrt((lam + b2) / (lam + a2))). The U products are GEMMs on the host side; these
// kernels scale the projections and form the mu + g dx part.
#include "kernel_util.cuh"

__device__ __forceinline__ double map_factor(const ds_gauss_map &m, int64_t row, double lam) {
    if (m.flow) return sqrt((lam + m.b2) / (lam + m.a2));
    return lam / (lam + ds_sigma2_of(m.s2, row));
}

// g_c: the factor on the complement of the span of U_c (none when U_c spans R^d).
__device__ __forceinline__ double map_residual_factor(const ds_gauss_map &m, int64_t row,
                                                      double res) {
    return m.full_rank ? 0.0 : map_factor(m, row, res);
}

__global__ void gauss_scale_projections_kernel(float *proj, const float *rho, const double *eigvals,
                                               const double *residual, int64_t rows, int64_t k,
                                               int64_t r, ds_gauss_map map) {
    DS_GRID_STRIDE(e, rows * k * r) {
        int64_t i = e / (k * r), cj = e % (k * r), c = cj / r;
        double weight = rho ? (double)rho[i * k + c] : 1.0;
        double f = map_factor(map, i, eigvals[cj]), g = map_residual_factor(map, i, residual[c]);
        proj[e] = (float)(weight * (f - g) * (double)proj[e]);
    }
}

__global__ void gauss_base_kernel(float *out, const float *x, const float *rho, const float *means,
                                  const double *residual, int64_t rows, int64_t d, int64_t k,
                                  ds_gauss_map map) {
    DS_GRID_STRIDE(e, rows * d) {
        int64_t i = e / d, j = e % d;
        double xe = x[e], s = 0;
        for (int64_t c = 0; c < k; c++) {
            double weight = rho ? (double)rho[i * k + c] : 1.0, mu = means[c * d + j];
            s += weight * (mu + map_residual_factor(map, i, residual[c]) * (xe - mu));
        }
        out[e] = (float)s;
    }
}

extern "C" cudaError_t ds_launch_gauss_scale_projections(float *proj, const float *rho,
                                                         const double *eigvals,
                                                         const double *residual, int64_t rows,
                                                         int64_t k, int64_t r, ds_gauss_map map) {
    gauss_scale_projections_kernel<<<ds_blocks_for(rows * k * r), DS_THREADS>>>(
        proj, rho, eigvals, residual, rows, k, r, map);
    return cudaGetLastError();
}

extern "C" cudaError_t ds_launch_gauss_base(float *out, const float *x, const float *rho,
                                            const float *means, const double *residual,
                                            int64_t rows, int64_t d, int64_t k, ds_gauss_map map) {
    gauss_base_kernel<<<ds_blocks_for(rows * d), DS_THREADS>>>(out, x, rho, means, residual, rows,
                                                               d, k, map);
    return cudaGetLastError();
}
