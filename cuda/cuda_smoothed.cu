// The models that the empirical denoiser of the same training rows evaluates, on the
// device: nearest (the top row of its softmax) and smoothed (its mean over perturbed
// queries). Each binds the rows once more as an empirical model through this backend's
// own table (an inner binding) and calls its denoise, so that every path of the
// empirical denoiser (chunks, query blocks, refinement, the fused kernel) serves them.
#include <stdlib.h>
#include <string.h>

#include "cuda_check.h"
#include "cuda_internal.h"

// Perturbed queries of the smoothed model per pass (bounds its two buffers).
#define DS_SMOOTHED_QUERIES 4096

struct ds_cuda_over {
    ds_backend *b;
    ds_model model;        // the same rows as an empirical model
    ds_bound_model *inner; // its binding on this backend
    double *eps;           // smoothed: samples x d perturbation directions (device)
    double *a;             // smoothed: the factor of the perturbations per query row (device)
    float *q, *dq;         // smoothed: the perturbed queries and their denoised rows (device)
    double *sigma;         // smoothed: the sigma of each perturbed query (host)
    double *scale;         // smoothed: a per query row (host)
    int64_t rows;          // query rows the buffers hold
};

int ds_cuda_over_kind(ds_model_kind kind) {
    return kind == DS_MODEL_NEAREST || kind == DS_MODEL_SMOOTHED;
}

// Query rows per pass: all perturbed queries of a row together, at most
// DS_SMOOTHED_QUERIES of them, or DIFFSAMP_CUDA_ROWS (the test aid that forces blocks).
static int64_t pass_rows(const ds_model *m, int64_t rows) {
    int64_t samples = m->kind == DS_MODEL_SMOOTHED ? m->smoothing_samples : 1;
    int64_t cap = ds_cuda_env_int("DIFFSAMP_CUDA_ROWS", 0);
    int64_t most = (cap > 0 && cap < DS_SMOOTHED_QUERIES ? cap : DS_SMOOTHED_QUERIES) / samples;
    most = most < 1 ? 1 : most;
    return rows < most ? rows : most;
}

static int upload_noise(ds_cuda_over *o) {
    const ds_model *m = &o->model;
    size_t count = (size_t)(m->smoothing_samples * m->d);
    double *eps = (double *)ds_try_alloc(count, sizeof(double), "cuda smoothed");
    if (!eps) return -1;
    ds_smoothed_noise(m, eps); // the Philox stream of ref and cpu
    int rc = ds_cuda_upload_doubles(&o->eps, eps, count, "the smoothing directions");
    free(eps);
    return rc;
}

int ds_cuda_over_bind(ds_backend *b, ds_bound_model *bm) {
    ds_cuda_over *o = (ds_cuda_over *)ds_try_alloc(1, sizeof *o, "cuda bind");
    if (!o) return -1;
    bm->over = o;
    o->b = b;
    o->model = *bm->m;
    o->model.kind = DS_MODEL_EMPIRICAL;
    o->inner = b->bind(b, &o->model);
    if (!o->inner) return -1;
    return bm->m->kind == DS_MODEL_SMOOTHED ? upload_noise(o) : 0;
}

static void free_buffers(ds_cuda_over *o) {
    CUDA_RELEASE(cudaFree(o->a));
    CUDA_RELEASE(cudaFree(o->q));
    CUDA_RELEASE(cudaFree(o->dq));
    free(o->sigma);
    free(o->scale);
    o->a = NULL, o->q = o->dq = NULL, o->sigma = o->scale = NULL, o->rows = 0;
}

void ds_cuda_over_unbind(ds_bound_model *bm) {
    ds_cuda_over *o = bm->over;
    if (!o) return;
    if (o->inner) o->b->unbind(o->b, o->inner);
    free_buffers(o);
    CUDA_RELEASE(cudaFree(o->eps));
    free(o);
    bm->over = NULL;
}

static int reserve(ds_cuda_over *o, int64_t rows) {
    if (rows <= o->rows) return 0;
    free_buffers(o);
    size_t queries = (size_t)(rows * o->model.smoothing_samples), d = (size_t)o->model.d;
    DS_TRY(ds_cuda_alloc((void **)&o->a, sizeof(double) * (size_t)rows, "smoothing factors"));
    DS_TRY(ds_cuda_alloc((void **)&o->q, sizeof(float) * queries * d, "perturbed queries"));
    DS_TRY(ds_cuda_alloc((void **)&o->dq, sizeof(float) * queries * d, "denoised queries"));
    o->sigma = (double *)ds_try_alloc(queries, sizeof(double), "cuda smoothed");
    o->scale = (double *)ds_try_alloc((size_t)rows, sizeof(double), "cuda smoothed");
    if (!o->sigma || !o->scale) return -1;
    o->rows = rows;
    return 0;
}

// The empirical denoiser at rows x samples queries x + a eps_c (a = smoothing
// sqrt(1 + sigma^2) per row), averaged in double, a pass of rows at a time (out may alias x:
// a pass reads its rows before it writes them).
static int smoothed(ds_bound_model *bm, const float *x, int64_t rows, const double *sigma,
                    int64_t n_sigma, float *out) {
    ds_cuda_over *o = bm->over;
    const ds_model *m = bm->m;
    int64_t d = m->d, samples = m->smoothing_samples, step = pass_rows(m, rows);
    DS_TRY(reserve(o, step));
    for (int64_t r0 = 0; r0 < rows; r0 += step) {
        int64_t len = rows - r0 < step ? rows - r0 : step, count = len * samples;
        for (int64_t i = 0; i < len; i++) {
            double s = sigma[n_sigma == 1 ? 0 : r0 + i];
            o->scale[i] = ds_smoothed_scale(m, s);
            for (int64_t c = 0; c < samples; c++) o->sigma[i * samples + c] = s;
        }
        CUDA_TRY(cudaMemcpy(o->a, o->scale, sizeof(double) * (size_t)len, cudaMemcpyHostToDevice));
        DS_TRY(ds_cuda_poison(bm->ctx, o->q, sizeof(float) * (size_t)(count * d)));
        CUDA_TRY(ds_launch_smoothed_queries(o->q, x + r0 * d, o->a, o->eps, len, samples, d));
        ds_batch q = {count, d, o->q}, dq = {count, d, o->dq};
        DS_TRY(o->b->denoise(o->b, o->inner, &q, o->sigma, count, &dq, NULL));
        DS_TRY(ds_cuda_poison(bm->ctx, out + r0 * d, sizeof(float) * (size_t)(len * d)));
        CUDA_TRY(ds_launch_sample_mean(out + r0 * d, o->dq, len, samples, d));
    }
    return 0;
}

// The top row of the empirical softmax, which does not depend on sigma; at a small sigma
// the empirical path recomputes the products near the maximum in double, so the choice
// carries no SGEMM error. The row itself comes from the data set (exact).
static int nearest(ds_bound_model *bm, const ds_batch *x, ds_batch *out) {
    ds_cuda_over *o = bm->over;
    const ds_model *m = bm->m;
    int64_t rows = x->rows, d = m->d;
    int64_t *top = (int64_t *)ds_try_alloc((size_t)rows, sizeof(int64_t), "cuda nearest row");
    if (!top) return -1;
    ds_diag diag = {top, NULL, NULL};
    double sigma = 1e-3;
    int rc = o->b->denoise(o->b, o->inner, x, &sigma, 1, out, &diag);
    float *h = rc == 0 ? ds_cuda_staging(bm->ctx, (size_t)(rows * d)) : NULL;
    if (rc == 0 && !h) rc = -1;
    for (int64_t i = 0; rc == 0 && i < rows; i++) ds_data_rows_f32(&m->data, top[i], 1, h + i * d);
    free(top);
    if (rc == 0)
        CUDA_TRY(
            cudaMemcpy(out->data, h, sizeof(float) * (size_t)(rows * d), cudaMemcpyHostToDevice));
    return rc;
}

int ds_cuda_over_denoise(ds_bound_model *bm, const ds_batch *x, const double *sigma,
                         int64_t n_sigma, ds_batch *out) {
    if (bm->m->kind == DS_MODEL_NEAREST) return nearest(bm, x, out);
    return smoothed(bm, (const float *)x->data, x->rows, sigma, n_sigma, (float *)out->data);
}

void ds_cuda_over_memory(ds_backend *b, const ds_model *m, int64_t rows, ds_backend_memory *out) {
    ds_model e = *m;
    e.kind = DS_MODEL_EMPIRICAL;
    if (m->kind == DS_MODEL_NEAREST) {
        b->memory(b, &e, rows, out);
        return;
    }
    int64_t step = pass_rows(m, rows), queries = step * m->smoothing_samples;
    b->memory(b, &e, queries, out);
    out->model_bytes += sizeof(double) * (uint64_t)(m->smoothing_samples * m->d);
    out->batch_bytes += (uint64_t)queries * (2 * sizeof(float) * (uint64_t)m->d + sizeof(double)) +
                        sizeof(double) * (uint64_t)step;
}
