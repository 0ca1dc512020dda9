// The empirical denoiser for small d in one kernel: each block takes a tile of queries,
// walks a chunk of training rows tile by tile in shared memory, and keeps an online
// softmax and the weighted sum of rows for its queries, so no logits reach global memory.
#include "kernel_util.cuh"

#define FUSED_QUERIES 16               // queries per block
#define FUSED_ROWS 32                  // training rows per shared-memory tile
#define FUSED_PAD (DS_FUSED_MAX_D + 1) // odd row stride: no bank conflicts across rows

__global__ void empirical_fused_kernel(const float *xc, int64_t rows, int d, const float *y,
                                       const float *half_sq, int64_t n, int64_t first, ds_sigma2 s2,
                                       ds_softmax_state st) {
    __shared__ float xq[FUSED_QUERIES][DS_FUSED_MAX_D];
    __shared__ float acc[FUSED_QUERIES][DS_FUSED_MAX_D];
    __shared__ float ys[FUSED_ROWS][FUSED_PAD];
    __shared__ float hs[FUSED_ROWS];
    __shared__ float w[FUSED_QUERIES][FUSED_ROWS]; // logits, then weights
    __shared__ float run_max[FUSED_QUERIES], scale[FUSED_QUERIES], inv_s2[FUSED_QUERIES];
    __shared__ double run_sum[FUSED_QUERIES], run_zl[FUSED_QUERIES];
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
        inv_s2[q] = q < nq ? (float)(1.0 / ds_sigma2_of(s2, q0 + q)) : 0.0f;
    }

    for (int64_t t0 = 0; t0 < n; t0 += FUSED_ROWS) {
        const int nt = (int)min((int64_t)FUSED_ROWS, n - t0);
        __syncthreads(); // the previous tile is no longer read
        for (int e = tid; e < FUSED_ROWS * d; e += blockDim.x) {
            int r = e / d, k = e % d;
            ys[r][k] = r < nt ? y[(t0 + r) * d + k] : 0.0f;
        }
        if (tid < FUSED_ROWS) hs[tid] = tid < nt ? half_sq[t0 + tid] : 0.0f;
        __syncthreads();

        // Logits (x . y - |y|^2 / 2) / sigma^2, as in the GEMM path.
        for (int p = tid; p < FUSED_QUERIES * FUSED_ROWS; p += blockDim.x) {
            int q = p / FUSED_ROWS, r = p % FUSED_ROWS;
            float dot = 0.0f;
            for (int k = 0; k < d; k++) dot += xq[q][k] * ys[r][k];
            w[q][r] = (dot - hs[r]) * inv_s2[q];
        }
        __syncthreads();

        // Online softmax, one thread per query over the tile's nt rows.
        if (tid < FUSED_QUERIES) {
            int q = tid, best = 0;
            for (int r = 1; r < nt; r++)
                if (w[q][r] > w[q][best]) best = r;
            float tile_max = w[q][best];
            float new_max = fmaxf(run_max[q], tile_max);
            float sc = ds_online_rescale(run_max[q], new_max);
            double sum = 0, zl = 0;
            for (int r = 0; r < nt; r++) {
                float shifted = w[q][r] - new_max, wt = expf(shifted);
                w[q][r] = wt;
                sum += wt;
                zl += (double)wt * shifted;
            }
            if (tile_max > run_max[q]) run_arg[q] = first + t0 + best;
            ds_online_update(&run_max[q], &run_sum[q], &run_zl[q], new_max, sc, sum, zl);
            scale[q] = sc;
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
                                                 const float *y, const float *half_sq, int64_t n,
                                                 int64_t first, ds_sigma2 s2, ds_softmax_state st) {
    if (d < 1 || d > DS_FUSED_MAX_D) return cudaErrorInvalidValue;
    unsigned int blocks = (unsigned int)((rows + FUSED_QUERIES - 1) / FUSED_QUERIES);
    empirical_fused_kernel<<<blocks, DS_THREADS>>>(xc, rows, (int)d, y, half_sq, n, first, s2, st);
    return cudaGetLastError();
}
