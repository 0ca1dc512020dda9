// The variance model on the device (maths: host/models/model_variance.c): one block per
// query row, in double from the float query and the centred double rows:
// l_k = (xc.y_k - |y_k|^2/2) / sigma^2, w = softmax(l), a_k = sqrt(w_k) z_k,
// out = mean + D + scale (P - S D) with D = sum w_k y_k, P = sum a_k y_k, S = sum a_k.
// The block writes only its own row, after reading it, so out may alias x.
#include "kernel_util.cuh"

__global__ void variance_kernel(float *out, const float *x, int64_t rows, ds_variance_rows v,
                                const double *z, double inv_s2, double scale, double *w,
                                double *a) {
    int64_t n = v.n, d = v.d;
    for (int64_t i = blockIdx.x; i < rows; i += gridDim.x) {
        const float *xi = x + i * d;
        double *wi = w + i * n, *ai = a + i * n, top = -INFINITY;
        int64_t arg = 0;
        for (int64_t k = threadIdx.x; k < n; k += blockDim.x) {
            const double *yk = v.y + k * d;
            double t = 0;
            for (int64_t j = 0; j < d; j++) t += ((double)xi[j] - v.mean[j]) * yk[j];
            double l = (t - v.half_sq[k]) * inv_s2;
            wi[k] = l;
            if (l > top) top = l, arg = k;
        }
        ds_block_argmax(&top, &arg);
        double part = 0;
        for (int64_t k = threadIdx.x; k < n; k += blockDim.x) part += (wi[k] = exp(wi[k] - top));
        double total = ds_block_sum(part), s_part = 0;
        for (int64_t k = threadIdx.x; k < n; k += blockDim.x) {
            wi[k] /= total;
            ai[k] = sqrt(wi[k]) * z[k];
            s_part += ai[k];
        }
        double s = ds_block_sum(s_part); // its barriers also publish w and a to the block
        for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
            double dn = 0, p = 0;
            for (int64_t k = 0; k < n; k++)
                dn += wi[k] * v.y[k * d + j], p += ai[k] * v.y[k * d + j];
            out[i * d + j] = (float)(v.mean[j] + dn + scale * (p - s * dn));
        }
        __syncthreads(); // the row is written before the next one starts
    }
}

extern "C" cudaError_t ds_launch_variance(float *out, const float *x, int64_t rows,
                                          ds_variance_rows v, const double *z, double sigma,
                                          double scale, double *w, double *a) {
    unsigned int blocks = (unsigned int)(rows < 1 ? 1 : rows < 65535 ? rows : 65535);
    variance_kernel<<<blocks, DS_THREADS>>>(out, x, rows, v, z, 1.0 / (sigma * sigma), scale, w, a);
    return cudaGetLastError();
}
