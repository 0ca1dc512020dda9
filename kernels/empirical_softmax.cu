// The row-wise steps of the empirical denoiser's GEMM path, per chunk of training rows:
// finalize the logits and find each row's max, then turn logits into weights and merge
// them into the running online-softmax state (rescaling the accumulator rows).
#include "kernel_util.cuh"

__global__ void softmax_init_kernel(ds_softmax_state st, int64_t rows, int64_t d) {
    DS_GRID_STRIDE(e, rows * d) {
        st.acc[e] = 0.0f;
        if (e < rows) st.max[e] = -INFINITY, st.arg[e] = 0, st.sum[e] = 0.0, st.zl[e] = 0.0;
    }
}

// One block per query row i: l_ij = (x_i . y_j - |y_j|^2 / 2) / sigma_i^2.
__global__ void logits_finalize_rowmax_kernel(float *logits, int64_t n, const float *half_sq,
                                              ds_sigma2 s2, float *chunk_max, int64_t *chunk_arg) {
    int64_t i = blockIdx.x;
    float inv_s2 = (float)(1.0 / ds_sigma2_of(s2, i));
    float *l = logits + i * n;
    float best = -INFINITY;
    int64_t arg = n;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
        float v = (l[j] - half_sq[j]) * inv_s2;
        l[j] = v;
        if (v > best) best = v, arg = j;
    }
    ds_block_argmax(&best, &arg);
    if (threadIdx.x == 0) chunk_max[i] = best, chunk_arg[i] = arg;
}

// One block per query row i.
__global__ void softmax_merge_kernel(float *logits, int64_t n, const float *chunk_max,
                                     const int64_t *chunk_arg, int64_t first, ds_softmax_state st,
                                     int64_t d) {
    int64_t i = blockIdx.x;
    float old_max = st.max[i]; // read by every thread before thread 0 updates it below
    float new_max = fmaxf(old_max, chunk_max[i]);
    float scale = ds_online_rescale(old_max, new_max);
    float *l = logits + i * n;
    double sum = 0, zl = 0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
        float shifted = l[j] - new_max, w = expf(shifted);
        l[j] = w;
        sum += w;
        zl += (double)w * shifted;
    }
    for (int64_t e = threadIdx.x; e < d; e += blockDim.x) st.acc[i * d + e] *= scale;
    sum = ds_block_sum(sum);
    zl = ds_block_sum(zl);
    if (threadIdx.x == 0) {
        if (chunk_max[i] > old_max) st.arg[i] = first + chunk_arg[i];
        ds_online_update(&st.max[i], &st.sum[i], &st.zl[i], new_max, scale, sum, zl);
    }
}

__global__ void empirical_finish_kernel(float *out, ds_softmax_state st, const float *mean,
                                        int64_t rows, int64_t d) {
    DS_GRID_STRIDE(e, rows * d) {
        int64_t i = e / d, j = e % d;
        out[e] = (float)(st.acc[e] / st.sum[i]) + mean[j];
    }
}

extern "C" cudaError_t ds_launch_softmax_init(ds_softmax_state st, int64_t rows, int64_t d) {
    softmax_init_kernel<<<ds_blocks_for(rows * d), DS_THREADS>>>(st, rows, d);
    return cudaGetLastError();
}

extern "C" cudaError_t ds_launch_logits_finalize_rowmax(float *logits, int64_t rows, int64_t n,
                                                        const float *half_sq, ds_sigma2 s2,
                                                        float *chunk_max, int64_t *chunk_arg) {
    logits_finalize_rowmax_kernel<<<(unsigned int)rows, DS_THREADS>>>(logits, n, half_sq, s2,
                                                                      chunk_max, chunk_arg);
    return cudaGetLastError();
}

extern "C" cudaError_t ds_launch_softmax_merge(float *logits, int64_t rows, int64_t n,
                                               const float *chunk_max, const int64_t *chunk_arg,
                                               int64_t first, ds_softmax_state st, int64_t d) {
    softmax_merge_kernel<<<(unsigned int)rows, DS_THREADS>>>(logits, n, chunk_max, chunk_arg, first,
                                                             st, d);
    return cudaGetLastError();
}

extern "C" cudaError_t ds_launch_empirical_finish(float *out, ds_softmax_state st,
                                                  const float *mean, int64_t rows, int64_t d) {
    empirical_finish_kernel<<<ds_blocks_for(rows * d), DS_THREADS>>>(out, st, mean, rows, d);
    return cudaGetLastError();
}
