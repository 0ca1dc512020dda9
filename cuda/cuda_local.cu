// The local models on the device: the training rows in float32 (the data's values, as the
// cpu backend keeps them) and, for the rows of a batch that share a sigma at a time,
// - pca_locality and ls: the mask of the last sigma (local_mask.h, built on the host) and
//   the direct softmax kernel (kernels/local_softmax.cu);
// - els and pspc: the patch of that sigma and the direct kernels of
//   kernels/patch_softmax.cu (pspc with its buffer of patch means).
#include <stdlib.h>
#include <string.h>

#include "cuda_check.h"
#include "cuda_internal.h"
#include "local_mask.h"

struct ds_cuda_local {
    float *y;       // n x d training rows (device)
    double sigma;   // of the mask on the device, 0: none yet
    int64_t *start; // the mask on the device (local_mask.h)
    int32_t *row;
    double *weight;
    float *x;       // a copy of the queries when the output aliases them
    int64_t x_rows; // rows x holds
    double *means;  // pspc: the patch means of means_rows query rows
    int64_t means_rows;
};

// pspc's means buffer holds at most this much (a batch runs in blocks of rows beyond it).
#define PSPC_MEANS_BYTES ((int64_t)256 << 20)

int ds_cuda_local_kind(ds_model_kind kind) {
    return ds_model_is_local(kind) || ds_model_uses_patches(kind);
}

static ds_patch_images images_of(const ds_model *m, const float *y) {
    return (ds_patch_images){y, m->data.n, m->channels, m->height, m->width};
}

// The most doubles of patch means a pspc query row needs, over its patch sizes.
static int64_t pspc_means_most(const ds_model *m) {
    ds_patch_images im = images_of(m, NULL);
    int64_t most = ds_pspc_means_per_row(im, m->patch_size);
    for (int64_t k = 0; k < m->patch_steps; k++) {
        int64_t len = ds_pspc_means_per_row(im, (int)m->patch_schedule[2 * k + 1]);
        most = len > most ? len : most;
    }
    return most;
}

// Query rows per pspc launch: what PSPC_MEANS_BYTES holds (at least 1), or fewer under
// DIFFSAMP_CUDA_ROWS (the test aid that forces blocks), at most rows.
static int64_t pspc_block_rows(const ds_model *m, int64_t rows) {
    int64_t fit = PSPC_MEANS_BYTES / ((int64_t)sizeof(double) * pspc_means_most(m));
    int64_t cap = ds_cuda_env_int("DIFFSAMP_CUDA_ROWS", 0);
    fit = cap > 0 && cap < fit ? cap : fit;
    fit = fit < 1 ? 1 : fit;
    return rows < fit ? rows : fit;
}

int ds_cuda_local_bind(ds_bound_model *bm) {
    const ds_model *m = bm->m;
    ds_cuda_local *l = (ds_cuda_local *)ds_try_alloc(1, sizeof *l, "cuda bind");
    if (!l) return -1;
    bm->local = l;
    size_t count = (size_t)(m->data.n * m->d);
    float *h = ds_cuda_staging(bm->ctx, count);
    if (!h) return -1;
    ds_data_rows_f32(&m->data, 0, m->data.n, h);
    DS_TRY(ds_cuda_alloc((void **)&l->y, sizeof(float) * count, "training rows"));
    CUDA_TRY(cudaMemcpy(l->y, h, sizeof(float) * count, cudaMemcpyHostToDevice));
    return 0;
}

static void free_mask(ds_cuda_local *l) {
    CUDA_RELEASE(cudaFree(l->start));
    CUDA_RELEASE(cudaFree(l->row));
    CUDA_RELEASE(cudaFree(l->weight));
    l->start = NULL, l->row = NULL, l->weight = NULL, l->sigma = 0;
}

void ds_cuda_local_unbind(ds_bound_model *bm) {
    ds_cuda_local *l = bm->local;
    if (!l) return;
    free_mask(l);
    CUDA_RELEASE(cudaFree(l->y));
    CUDA_RELEASE(cudaFree(l->x));
    CUDA_RELEASE(cudaFree(l->means));
    free(l);
    bm->local = NULL;
}

static int upload_mask(ds_cuda_local *l, const ds_local_mask *mask) {
    int64_t d = mask->d, nnz = mask->start[d];
    size_t entries = (size_t)(nnz > 0 ? nnz : 1);
    DS_TRY(ds_cuda_alloc((void **)&l->start, sizeof(int64_t) * (size_t)(d + 1), "the mask"));
    DS_TRY(ds_cuda_alloc((void **)&l->row, sizeof(int32_t) * entries, "the mask"));
    DS_TRY(ds_cuda_alloc((void **)&l->weight, sizeof(double) * entries, "the mask"));
    CUDA_TRY(cudaMemcpy(l->start, mask->start, sizeof(int64_t) * (size_t)(d + 1),
                        cudaMemcpyHostToDevice));
    CUDA_TRY(cudaMemcpy(l->row, mask->row, sizeof(int32_t) * (size_t)nnz, cudaMemcpyHostToDevice));
    CUDA_TRY(
        cudaMemcpy(l->weight, mask->weight, sizeof(double) * (size_t)nnz, cudaMemcpyHostToDevice));
    return 0;
}

// The mask of sigma on the device (kept while sigma repeats).
static int use_mask(const ds_model *m, ds_cuda_local *l, double sigma) {
    if (l->sigma == sigma) return 0;
    free_mask(l);
    ds_local_mask mask;
    DS_TRY(ds_local_mask_build(m, sigma, &mask));
    int rc = upload_mask(l, &mask);
    ds_local_mask_free(&mask);
    if (rc == 0) l->sigma = sigma;
    return rc;
}

// The queries to read: x itself, or a copy when out aliases it.
static const float *queries(ds_cuda_local *l, const float *x, int64_t rows, int64_t d,
                            const float *out) {
    if (x != out) return x;
    if (l->x_rows < rows) {
        cudaError_t freed = cudaFree(l->x);
        l->x = NULL, l->x_rows = 0;
        if (freed != cudaSuccess) {
            ds_fail("cuda local denoiser: freeing the query copy failed: %s",
                    cudaGetErrorString(freed));
            return NULL;
        }
        if (ds_cuda_alloc((void **)&l->x, sizeof(float) * (size_t)(rows * d), "query copy"))
            return NULL;
        l->x_rows = rows;
    }
    cudaError_t err =
        cudaMemcpy(l->x, x, sizeof(float) * (size_t)(rows * d), cudaMemcpyDeviceToDevice);
    if (err != cudaSuccess) {
        ds_fail("cuda local denoiser: copying the queries failed: %s", cudaGetErrorString(err));
        return NULL;
    }
    return l->x;
}

// pspc's means buffer for at least rows query rows.
static int reserve_means(const ds_model *m, ds_cuda_local *l, int64_t rows) {
    if (l->means_rows >= rows) return 0;
    CUDA_TRY(cudaFree(l->means));
    l->means = NULL, l->means_rows = 0;
    DS_TRY(ds_cuda_alloc((void **)&l->means, sizeof(double) * (size_t)(rows * pspc_means_most(m)),
                         "pspc patch means"));
    l->means_rows = rows;
    return 0;
}

// The rows of x (device queries, all at noise level s) into o.
static int denoise_at(const ds_model *m, ds_cuda_local *l, const float *q, int64_t rows, double s,
                      float *o) {
    ds_patch_images im = images_of(m, l->y);
    double scale = 1.0 / (2.0 * s * s);
    if (m->kind == DS_MODEL_ELS) {
        CUDA_TRY(ds_launch_els(o, q, rows, im, ds_patch_at(m, s), scale));
    } else if (m->kind == DS_MODEL_PSPC) {
        int64_t block = pspc_block_rows(m, rows);
        DS_TRY(reserve_means(m, l, block));
        for (int64_t r0 = 0; r0 < rows; r0 += block) {
            int64_t n = rows - r0 < block ? rows - r0 : block;
            CUDA_TRY(ds_launch_pspc(o + r0 * m->d, q + r0 * m->d, n, im, ds_patch_at(m, s), scale,
                                    l->means));
        }
    } else {
        DS_TRY(use_mask(m, l, s));
        ds_local_mask_dev mask = {l->start, l->row, l->weight};
        CUDA_TRY(ds_launch_local_softmax(o, q, rows, l->y, m->data.n, m->d, mask,
                                         scale / m->temperature));
    }
    return 0;
}

int ds_cuda_local_denoise(ds_bound_model *bm, const ds_batch *x, const double *sigma,
                          int64_t n_sigma, ds_batch *out) {
    const ds_model *m = bm->m;
    ds_cuda_local *l = bm->local;
    int64_t d = m->d, rows = x->rows;
    // Rows that share a sigma share one mask or patch.
    for (int64_t first = 0; first < rows;) {
        double s = sigma[n_sigma == 1 ? 0 : first];
        int64_t end = first + 1;
        while (end < rows && (n_sigma == 1 || sigma[end] == s)) end++;
        float *o = (float *)out->data + first * d;
        const float *q = queries(l, (const float *)x->data + first * d, end - first, d, o);
        if (!q) return -1;
        DS_TRY(ds_cuda_poison(bm->ctx, o, sizeof(float) * (size_t)((end - first) * d)));
        DS_TRY(denoise_at(m, l, q, end - first, s, o));
        first = end;
    }
    return 0;
}

// The rows and, for an in-place call, the copy of the queries; pca_locality and ls: the
// largest mask (d^2 entries); pspc: its buffer of patch means.
void ds_cuda_local_memory(const ds_model *m, int64_t rows, ds_backend_memory *out) {
    uint64_t d = (uint64_t)m->d;
    out->model_bytes = sizeof(float) * (uint64_t)m->data.n * d;
    if (ds_model_is_local(m->kind))
        out->model_bytes += d * d * (sizeof(int32_t) + sizeof(double)) + (d + 1) * sizeof(int64_t);
    out->batch_bytes = sizeof(float) * (uint64_t)rows * d;
    if (m->kind == DS_MODEL_PSPC)
        out->batch_bytes +=
            sizeof(double) * (uint64_t)pspc_block_rows(m, rows) * (uint64_t)pspc_means_most(m);
}
