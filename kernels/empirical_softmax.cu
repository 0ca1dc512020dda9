// The row-wise steps of the empirical denoiser's GEMM path, per chunk of training rows,
// after each row's largest t = x.y - |y|^2/2 is found (empirical_refine.cu): turn the
// products into weights and merge them into the running online-softmax state
// (rescaling the accumulator rows).
// t and the logits l = t / sigma^2 are formed in double from the float products, so the
// float rounding of a large t never reaches a weight; the products near the maximum are
// refined in double in between (empirical_refine.cu).
#include "kernel_util.cuh"

__global__ void softmax_init_kernel(ds_softmax_state st, int64_t rows, int64_t d) {
    DS_GRID_STRIDE(e, rows * d) {
        st.acc[e] = 0.0f;
        if (e < rows) st.max[e] = -INFINITY, st.arg[e] = 0, st.sum[e] = 0.0, st.zl[e] = 0.0;
    }
}

// One block per query row i.
__global__ void softmax_merge_kernel(float *dots, int64_t n, const double *half_sq,
                                     const double *chunk_max, const int64_t *chunk_arg,
                                     ds_refine_buf rb, int64_t first, ds_sigma2 s2,
                                     ds_softmax_state st, int64_t d) {
    int64_t i = blockIdx.x;
    double inv_s2 = 1.0 / ds_sigma2_of(s2, i);
    double old_max = st.max[i]; // read by every thread before thread 0 updates it below
    double new_max = fmax(old_max, chunk_max[i]);
    double scale = ds_online_rescale(old_max, new_max, inv_s2);
    float *w = dots + i * n;
    double sum = 0, zl = 0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
        double l = ((double)w[j] - half_sq[j] - new_max) * inv_s2;
        float wj = ds_weight(l);
        w[j] = wj;
        sum += wj;
        zl += (double)wj * l;
    }
    for (int64_t e = threadIdx.x; e < d; e += blockDim.x) st.acc[i * d + e] *= (float)scale;
    __syncthreads(); // every float weight is written before the refined ones replace theirs
    // The refined rows: the weight from the float product is replaced by the one from t.
    for (int k = threadIdx.x; k < rb.count[i]; k += blockDim.x) {
        int64_t c = i * DS_REFINE_MAX + k, j = rb.index[c];
        double l_old = ((double)rb.dot[c] - half_sq[j] - new_max) * inv_s2;
        double l_new = (rb.t[c] - new_max) * inv_s2;
        float w_old = ds_weight(l_old), w_new = ds_weight(l_new);
        w[j] = w_new;
        sum += (double)w_new - w_old;
        zl += (double)w_new * l_new - (double)w_old * l_old;
    }
    sum = ds_block_sum(sum);
    zl = ds_block_sum(zl);
    if (threadIdx.x == 0) {
        if (chunk_max[i] > old_max) st.arg[i] = first + chunk_arg[i];
        ds_online_update(&st.max[i], &st.sum[i], &st.zl[i], new_max, scale, inv_s2, sum, zl);
    }
}

// The accumulator entries, grid-stride: each row's scale from its old maximum.
__global__ void softmax_rebase_kernel(ds_softmax_state st, const double *new_max, int64_t rows,
                                      int64_t d, ds_sigma2 s2) {
    DS_GRID_STRIDE(e, rows * d) {
        int64_t i = e / d;
        st.acc[e] *= (float)ds_online_rescale(st.max[i], new_max[i], 1.0 / ds_sigma2_of(s2, i));
    }
}

// One thread per query row: the sums, zl, top row and maximum.
__global__ void softmax_rebase_rows_kernel(ds_softmax_state st, const double *new_max, int64_t rows,
                                           ds_sigma2 s2) {
    DS_GRID_STRIDE(i, rows) {
        double inv_s2 = 1.0 / ds_sigma2_of(s2, i), old = st.max[i];
        double scale = ds_online_rescale(old, new_max[i], inv_s2);
        if (old != new_max[i]) st.arg[i] = INT64_MAX; // another rank holds the maximum
        ds_online_update(&st.max[i], &st.sum[i], &st.zl[i], new_max[i], scale, inv_s2, 0, 0);
    }
}

__global__ void empirical_finish_kernel(float *out, ds_softmax_state st, const double *mean,
                                        int64_t rows, int64_t d) {
    DS_GRID_STRIDE(e, rows * d) {
        int64_t i = e / d, j = e % d;
        out[e] = (float)((double)st.acc[e] / st.sum[i] + mean[j]);
    }
}

extern "C" cudaError_t ds_launch_softmax_init(ds_softmax_state st, int64_t rows, int64_t d) {
    softmax_init_kernel<<<ds_blocks_for(rows * d), DS_THREADS>>>(st, rows, d);
    return cudaGetLastError();
}

extern "C" cudaError_t ds_launch_softmax_merge(float *dot, int64_t rows, int64_t n,
                                               const double *half_sq, const double *chunk_max,
                                               const int64_t *chunk_arg, ds_refine_buf rb,
                                               int64_t first, ds_sigma2 s2, ds_softmax_state st,
                                               int64_t d) {
    softmax_merge_kernel<<<(unsigned int)rows, DS_THREADS>>>(dot, n, half_sq, chunk_max, chunk_arg,
                                                             rb, first, s2, st, d);
    return cudaGetLastError();
}

extern "C" cudaError_t ds_launch_softmax_rebase(ds_softmax_state st, const double *new_max,
                                                int64_t rows, int64_t d, ds_sigma2 s2) {
    // The accumulator first: its scale reads the old maxima.
    softmax_rebase_kernel<<<ds_blocks_for(rows * d), DS_THREADS>>>(st, new_max, rows, d, s2);
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return err;
    softmax_rebase_rows_kernel<<<ds_blocks_for(rows), DS_THREADS>>>(st, new_max, rows, s2);
    return cudaGetLastError();
}

extern "C" cudaError_t ds_launch_empirical_finish(float *out, ds_softmax_state st,
                                                  const double *mean, int64_t rows, int64_t d) {
    empirical_finish_kernel<<<ds_blocks_for(rows * d), DS_THREADS>>>(out, st, mean, rows, d);
    return cudaGetLastError();
}
