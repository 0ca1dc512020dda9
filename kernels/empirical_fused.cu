// The empirical denoiser for small d in one kernel: each block takes a tile of queries,
// walks a chunk of training rows tile by tile in shared memory, and keeps an online
// softmax and the weighted sum of rows for its queries, so no logits reach global memory.
// The products x.y are summed in double (float x float is exact in double), so the
// logits carry no SGEMM error and need no refinement.
#include "kernel_util.cuh"

#define FUSED_QUERIES 16               // queries per block
#define FUSED_ROWS 32                  // training rows per shared-memory tile
#define FUSED_PAD (DS_FUSED_MAX_D + 1) // odd row stride: no bank conflicts across rows

__global__ void empirical_fused_kernel(const float *xc, int64_t rows, int d, const float *y,
                                       const double *half_sq, int64_t n, int64_t first,
                                       ds_sigma2 s2, ds_softmax_state st) {
    __shared__ float xq[FUSED_QUERIES][DS_FUSED_MAX_D];
    __shared__ float acc[FUSED_QUERIES][DS_FUSED_MAX_D];
    __shared__ float ys[FUSED_ROWS][FUSED_PAD];
    __shared__ double hs[FUSED_ROWS];
    __shared__ double t[FUSED_QUERIES][FUSED_ROWS]; // x.y - |y|^2/2
    __shared__ float w[FUSED_QUERIES][FUSED_ROWS];  // weights
    __shared__ float scale[FUSED_QUERIES];
    __shared__ double run_max[FUSED_QUERIES], run_sum[FUSED_QUERIES], run_zl[FUSED_QUERIES];
    __shared__ double inv_s2[FUSED_QUERIES];
    __shared__ int64_t run_arg[FUSED_QUERIES];

    const int tid = threadIdx.x;
    const int64_t q0 = (int64_t)blockIdx.x * FUSED_QUERIES;
    const int nq = (int)min((int64_t)FUSED_QUERIES, rows - q0);

    // Load this block's queries and their running state; padding queries get zeros.
    for (int e = tid; e < FUSED_QUERIES * d; e += blockDim.x) {
        int q = e / d, k = e % d;
        xq[q][k] = q < nq ? xc[(q0 + q) * d + k] : 0.0f;
        acc[q][k] = q < nq ? st.acc[(q0 + q) * d + k] : 0.0f;
    }
    if (tid < FUSED_QUERIES) {
        int q = tid;
        run_max[q] = q < nq ? st.max[q0 + q] : -INFINITY;
        run_sum[q] = q < nq ? st.sum[q0 + q] : 0.0;
        run_zl[q] = q < nq ? st.zl[q0 + q] : 0.0;
        run_arg[q] = q < nq ? st.arg[q0 + q] : 0;
        inv_s2[q] = q < nq ? 1.0 / ds_sigma2_of(s2, q0 + q) : 0.0;
    }

    for (int64_t t0 = 0; t0 < n; t0 += FUSED_ROWS) {
        const int nt = (int)min((int64_t)FUSED_ROWS, n - t0);
        __syncthreads(); // the previous tile is no longer read
        for (int e = tid; e < FUSED_ROWS * d; e += blockDim.x) {
            int r = e / d, k = e % d;
            ys[r][k] = r < nt ? y[(t0 + r) * d + k] : 0.0f;
        }
        if (tid < FUSED_ROWS) hs[tid] = tid < nt ? half_sq[t0 + tid] : 0.0;
        __syncthreads();

        for (int p = tid; p < FUSED_QUERIES * FUSED_ROWS; p += blockDim.x) {
            int q = p / FUSED_ROWS, r = p % FUSED_ROWS;
            double dot = 0.0;
            for (int k = 0; k < d; k++) dot += (double)xq[q][k] * (double)ys[r][k];
            t[q][r] = dot - hs[r];
        }
        __syncthreads();

        // Online softmax, one thread per query over the tile's nt rows.
        if (tid < FUSED_QUERIES) {
            int q = tid, best = 0;
            for (int r = 1; r < nt; r++)
                if (t[q][r] > t[q][best]) best = r;
            double tile_max = t[q][best];
            double new_max = fmax(run_max[q], tile_max);
            double sc = ds_online_rescale(run_max[q], new_max, inv_s2[q]);
            double sum = 0, zl = 0;
            for (int r = 0; r < nt; r++) {
                double l = (t[q][r] - new_max) * inv_s2[q];
                float wt = ds_weight(l);
                w[q][r] = wt;
                sum += wt;
                zl += (double)wt * l;
            }
            if (tile_max > run_max[q]) run_arg[q] = first + t0 + best;
            ds_online_update(&run_max[q], &run_sum[q], &run_zl[q], new_max, sc, inv_s2[q], sum, zl);
            scale[q] = (float)sc;
        }
        __syncthreads();

        // acc = acc * scale + weights x tile rows.
        for (int e = tid; e < FUSED_QUERIES * d; e += blockDim.x) {
            int q = e / d, k = e % d;
            float a = acc[q][k] * scale[q];
            for (int r = 0; r < nt; r++) a += w[q][r] * ys[r][k];
            acc[q][k] = a;
        }
    }
    __syncthreads();

    for (int e = tid; e < nq * d; e += blockDim.x) {
        int q = e / d, k = e % d;
        st.acc[(q0 + q) * d + k] = acc[q][k];
    }
    if (tid < nq) {
        int q = tid;
        st.max[q0 + q] = run_max[q];
        st.sum[q0 + q] = run_sum[q];
        st.zl[q0 + q] = run_zl[q];
        st.arg[q0 + q] = run_arg[q];
    }
}

extern "C" cudaError_t ds_launch_empirical_fused(const float *xc, int64_t rows, int64_t d,
                                                 const float *y, const double *half_sq, int64_t n,
                                                 int64_t first, ds_sigma2 s2, ds_softmax_state st) {
    if (d < 1 || d > DS_FUSED_MAX_D) return cudaErrorInvalidValue;
    unsigned int blocks = (unsigned int)((rows + FUSED_QUERIES - 1) / FUSED_QUERIES);
    empirical_fused_kernel<<<blocks, DS_THREADS>>>(xc, rows, (int)d, y, half_sq, n, first, s2, st);
    return cudaGetLastError();
}
