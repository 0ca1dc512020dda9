// The patch models els and pspc on the device, directly from the formulas (README,
// Models; the float64 loops of host/backends/ref_patch.c): patch distances summed term by
// term in double from the float rows and queries, each softmax an online one per thread
// folded in thread order (ds_online_fold), so the error is the float output's rounding.
// Nothing of size B x N is formed.
//   els: one block per (query, pixel p) over the N H W candidates (image k, position q);
//     work per query N (HW)^2 C P^2.
//   pspc: one block per (query, patch corner a) over the N images, twice (the maximum and
//     normaliser, then the weights times the images' patches: the patch's posterior mean,
//     C P^2 doubles into a buffer); a second kernel averages, for every pixel, the means
//     of the patches that hold it. Work per query 3 N positions C P^2.
#include "kernel_util.cuh"

// Value (c, i, j) of one image (channels x height x width floats), 0 outside the image
// (the zero padding of ls and els).
__device__ __forceinline__ double image_pixel(const float *img, const ds_patch_images *im, int c,
                                              int i, int j) {
    if (i < 0 || i >= im->height || j < 0 || j >= im->width) return 0;
    return img[((int64_t)c * im->height + i) * im->width + j];
}

// |patch(a) - patch(b)|^2 over every channel: the side x side patches with top-left
// corners (ai, aj) of image a and (bi, bj) of image b.
__device__ __forceinline__ double patch_distance(const float *a, int ai, int aj, const float *b,
                                                 int bi, int bj, const ds_patch_images *im,
                                                 int side) {
    double sum = 0;
    for (int c = 0; c < im->channels; c++)
        for (int u = 0; u < side; u++)
            for (int v = 0; v < side; v++) {
                double diff =
                    image_pixel(a, im, c, ai + u, aj + v) - image_pixel(b, im, c, bi + u, bj + v);
                sum += diff * diff;
            }
    return sum;
}

// els, channels c0 .. c0 + nc of every pixel: softmax over (k, q) of -scale |Pi_p x -
// Pi_q y_k|^2 weighting y_k[c, q]; the patches centred (half = patch / 2).
__global__ void els_kernel(float *out, const float *x, int64_t rows, ds_patch_images im, int half,
                           double scale, int c0, int nc) {
    int64_t hw = (int64_t)im.height * im.width, d = im.channels * hw, candidates = im.n * hw;
    for (int64_t pair = blockIdx.x; pair < rows * hw; pair += gridDim.x) {
        int64_t i = pair / hw, p = pair % hw;
        int pi = (int)(p / im.width) - half, pj = (int)(p % im.width) - half;
        const float *xi = x + i * d;
        ds_online s = ds_online_empty();
        for (int64_t t = threadIdx.x; t < candidates; t += blockDim.x) {
            int64_t k = t / hw, q = t % hw;
            const float *yk = im.y + k * d;
            double dist = patch_distance(xi, pi, pj, yk, (int)(q / im.width) - half,
                                         (int)(q % im.width) - half, &im, 2 * half + 1);
            double v[DS_ONLINE_VALUES];
            for (int c = 0; c < nc; c++) v[c] = yk[(c0 + c) * hw + q];
            ds_online_add(&s, -dist * scale, v, nc);
        }
        s = ds_online_fold(s, nc);
        if ((int)threadIdx.x < nc)
            out[i * d + (c0 + threadIdx.x) * hw + p] = (float)(s.acc[threadIdx.x] / s.sum);
    }
}

// pspc, step 1: means[(i positions + a) C P^2 + (c P + u) P + v] = the posterior mean of
// pixel (c, ai + u, aj + v) under patch a's softmax over the images.
__global__ void pspc_means_kernel(double *means, const float *x, int64_t rows, ds_patch_images im,
                                  int patch, double scale) {
    __shared__ double weight[DS_ONLINE_THREADS];
    int w_pos = im.width - patch + 1;
    int64_t hw = (int64_t)im.height * im.width, d = im.channels * hw;
    int64_t positions = (int64_t)(im.height - patch + 1) * w_pos;
    int64_t len = (int64_t)im.channels * patch * patch;
    for (int64_t pair = blockIdx.x; pair < rows * positions; pair += gridDim.x) {
        int64_t i = pair / positions;
        int ai = (int)(pair % positions / w_pos), aj = (int)(pair % positions % w_pos);
        const float *xi = x + i * d;
        ds_online s = ds_online_empty();
        for (int64_t k = threadIdx.x; k < im.n; k += blockDim.x)
            ds_online_add(&s, -patch_distance(xi, ai, aj, im.y + k * d, ai, aj, &im, patch) * scale,
                          NULL, 0);
        s = ds_online_fold(s, 0);
        double *mean = means + pair * len; // element e belongs to thread e % blockDim
        for (int64_t e = threadIdx.x; e < len; e += blockDim.x) mean[e] = 0;
        for (int64_t k0 = 0; k0 < im.n; k0 += blockDim.x) {
            int64_t k = k0 + threadIdx.x, tile = im.n - k0 < blockDim.x ? im.n - k0 : blockDim.x;
            __syncthreads(); // the previous tile's weights have been read
            weight[threadIdx.x] =
                k < im.n
                    ? exp(-patch_distance(xi, ai, aj, im.y + k * d, ai, aj, &im, patch) * scale -
                          s.max) /
                          s.sum
                    : 0.0;
            __syncthreads();
            for (int64_t e = threadIdx.x; e < len; e += blockDim.x) {
                int64_t c = e / (patch * patch), uv = e % (patch * patch);
                const float *at =
                    im.y + k0 * d + c * hw + (ai + uv / patch) * im.width + aj + uv % patch;
                double sum = 0;
                for (int64_t j = 0; j < tile; j++) sum += weight[j] * at[j * d];
                mean[e] += sum;
            }
        }
    }
}

// pspc, step 2: each pixel the average of the means of the patches that hold it.
__global__ void pspc_average_kernel(float *out, const double *means, int64_t rows,
                                    ds_patch_images im, int patch) {
    int h = im.height, w = im.width, w_pos = w - patch + 1;
    int64_t hw = (int64_t)h * w, d = im.channels * hw;
    int64_t positions = (int64_t)(h - patch + 1) * w_pos,
            len = (int64_t)im.channels * patch * patch;
    DS_GRID_STRIDE(e, rows * d) {
        int64_t i = e / d, c = e % d / hw;
        int pi = (int)(e % hw / w), pj = (int)(e % w);
        int i0 = pi - patch + 1 > 0 ? pi - patch + 1 : 0, i1 = pi < h - patch ? pi : h - patch;
        int j0 = pj - patch + 1 > 0 ? pj - patch + 1 : 0, j1 = pj < w - patch ? pj : w - patch;
        double sum = 0;
        for (int ai = i0; ai <= i1; ai++)
            for (int aj = j0; aj <= j1; aj++)
                sum += means[(i * positions + (int64_t)ai * w_pos + aj) * len +
                             (c * patch + pi - ai) * patch + pj - aj];
        out[e] = (float)(sum / ((double)(i1 - i0 + 1) * (j1 - j0 + 1)));
    }
}

static unsigned int blocks_for_pairs(int64_t pairs) {
    return (unsigned int)(pairs < 65535 ? (pairs < 1 ? 1 : pairs) : 65535);
}

extern "C" cudaError_t ds_launch_els(float *out, const float *x, int64_t rows, ds_patch_images im,
                                     int patch, double scale) {
    unsigned int blocks = blocks_for_pairs(rows * im.height * im.width);
    for (int c0 = 0; c0 < im.channels; c0 += DS_ONLINE_VALUES) {
        int nc = im.channels - c0 < DS_ONLINE_VALUES ? im.channels - c0 : DS_ONLINE_VALUES;
        els_kernel<<<blocks, DS_ONLINE_THREADS>>>(out, x, rows, im, patch / 2, scale, c0, nc);
        cudaError_t err = cudaGetLastError();
        if (err != cudaSuccess) return err;
    }
    return cudaSuccess;
}

extern "C" int64_t ds_pspc_means_per_row(ds_patch_images im, int patch) {
    return (int64_t)(im.height - patch + 1) * (im.width - patch + 1) * im.channels * patch * patch;
}

extern "C" cudaError_t ds_launch_pspc(float *out, const float *x, int64_t rows, ds_patch_images im,
                                      int patch, double scale, double *means) {
    int64_t positions = (int64_t)(im.height - patch + 1) * (im.width - patch + 1);
    pspc_means_kernel<<<blocks_for_pairs(rows * positions), DS_ONLINE_THREADS>>>(means, x, rows, im,
                                                                                 patch, scale);
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return err;
    int64_t elements = rows * im.channels * im.height * im.width;
    pspc_average_kernel<<<ds_blocks_for(elements), DS_THREADS>>>(out, means, rows, im, patch);
    return cudaGetLastError();
}
