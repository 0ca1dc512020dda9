// The variance model on the device: the training rows centred in double (as the cpu
// backend keeps them, so the logits carry no float32 product error), the unit normals
// z(sigma) drawn on the host (ds_variance_z) for the rows of a batch that share a sigma,
// and the direct kernel (kernels/variance.cu) in blocks of queries whose two rows x n
// weight arrays fit DS_VARIANCE_WORK_BYTES.
#include <math.h>
#include <stdlib.h>

#include "cuda_check.h"
#include "cuda_internal.h"

#define DS_VARIANCE_WORK_BYTES ((int64_t)256 << 20)

struct ds_cuda_variance {
    double *y, *half_sq, *mean; // n x d centred rows, |y|^2 / 2, the mean (device)
    double *z;                  // n normals of sigma (device)
    double *zh;                 // the same on the host
    double z_sigma;             // their sigma, 0: none yet
    double *w, *a;              // block x n weights and sqrt(w) z (device)
    int64_t block;              // query rows w and a hold
};

static int64_t block_rows(const ds_model *m, int64_t rows) {
    int64_t most = DS_VARIANCE_WORK_BYTES / (2 * (int64_t)sizeof(double) * m->data.n);
    most = most < 1 ? 1 : most;
    return rows < most ? rows : most;
}

static int upload_rows(ds_cuda_variance *v, const ds_model *m) {
    int64_t n = m->data.n, d = m->d;
    double *h = (double *)ds_try_alloc((size_t)(n * d + n), sizeof(double), "cuda variance");
    if (!h) return -1;
    double *hs = h + n * d;
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t j = 0; j < d; j++) {
            double c = ds_data_value(&m->data, i, j) - m->mean[j];
            h[i * d + j] = c;
            s += c * c;
        }
        hs[i] = 0.5 * s;
    }
    int rc = ds_cuda_upload_doubles(&v->y, h, (size_t)(n * d), "centred training rows");
    if (rc == 0) rc = ds_cuda_upload_doubles(&v->half_sq, hs, (size_t)n, "row norms");
    free(h);
    return rc;
}

int ds_cuda_variance_bind(ds_bound_model *bm) {
    const ds_model *m = bm->m;
    ds_cuda_variance *v = (ds_cuda_variance *)ds_try_alloc(1, sizeof *v, "cuda bind");
    if (!v) return -1;
    bm->variance = v;
    DS_TRY(upload_rows(v, m));
    DS_TRY(ds_cuda_upload_doubles(&v->mean, m->mean, (size_t)m->d, "the data mean"));
    DS_TRY(ds_cuda_alloc((void **)&v->z, sizeof(double) * (size_t)m->data.n, "unit normals"));
    v->zh = (double *)ds_try_alloc((size_t)m->data.n, sizeof(double), "cuda bind");
    return v->zh ? 0 : -1;
}

static void free_work(ds_cuda_variance *v) {
    CUDA_RELEASE(cudaFree(v->w));
    CUDA_RELEASE(cudaFree(v->a));
    v->w = v->a = NULL, v->block = 0;
}

void ds_cuda_variance_unbind(ds_bound_model *bm) {
    ds_cuda_variance *v = bm->variance;
    if (!v) return;
    free_work(v);
    double *bufs[] = {v->y, v->half_sq, v->mean, v->z};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) CUDA_RELEASE(cudaFree(bufs[i]));
    free(v->zh);
    free(v);
    bm->variance = NULL;
}

static int reserve(ds_cuda_variance *v, int64_t rows, int64_t n) {
    if (rows <= v->block) return 0;
    free_work(v);
    size_t bytes = sizeof(double) * (size_t)(rows * n);
    DS_TRY(ds_cuda_alloc((void **)&v->w, bytes, "variance weights"));
    DS_TRY(ds_cuda_alloc((void **)&v->a, bytes, "variance weights"));
    v->block = rows;
    return 0;
}

int ds_cuda_variance_denoise(ds_bound_model *bm, const ds_batch *x, const double *sigma,
                             int64_t n_sigma, ds_batch *out) {
    const ds_model *m = bm->m;
    ds_cuda_variance *v = bm->variance;
    int64_t n = m->data.n, d = m->d, rows = x->rows, step = block_rows(m, rows);
    DS_TRY(reserve(v, step, n));
    ds_variance_rows vr = {v->y, v->half_sq, v->mean, n, d};
    for (int64_t first = 0; first < rows;) {
        double s = sigma[n_sigma == 1 ? 0 : first];
        int64_t end = first + 1; // rows that share a sigma share z, step at a time
        while (end < rows && end - first < step && (n_sigma == 1 || sigma[end] == s)) end++;
        if (v->z_sigma != s) {
            ds_variance_z(m, s, v->zh);
            CUDA_TRY(cudaMemcpy(v->z, v->zh, sizeof(double) * (size_t)n, cudaMemcpyHostToDevice));
            v->z_sigma = s;
        }
        float *o = (float *)out->data + first * d;
        if (o != (float *)x->data + first * d)
            DS_TRY(ds_cuda_poison(bm->ctx, o, sizeof(float) * (size_t)((end - first) * d)));
        DS_TRY(ds_cuda_poison(bm->ctx, v->w, sizeof(double) * (size_t)(step * n)));
        CUDA_TRY(ds_launch_variance(o, (const float *)x->data + first * d, end - first, vr, v->z, s,
                                    sqrt(m->variance), v->w, v->a));
        first = end;
    }
    return 0;
}

void ds_cuda_variance_memory(const ds_model *m, int64_t rows, ds_backend_memory *out) {
    uint64_t n = (uint64_t)m->data.n, d = (uint64_t)m->d;
    out->model_bytes = sizeof(double) * (n * d + 2 * n + d);
    out->batch_bytes = 2 * sizeof(double) * n * (uint64_t)block_rows(m, rows);
}
