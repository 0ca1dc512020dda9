// The cuda backend's function table: batches in device float32, upload/download with
// conversion from/to host double, copies, lincomb, randn, and the dispatch of denoise
// and the Gaussian flow to the model-specific files, in query blocks that fit the
// workspace. NVTX ranges mark each primitive on an Nsight Systems timeline.
#include <math.h>
#include <nvtx3/nvToolsExt.h>
#include <stdlib.h>
#include <string.h>

#include "backend_common.h"
#include "cuda_check.h"
#include "cuda_internal.h"
#include "dist.h"

// An NVTX range over the scope it is declared in: popped on every return, errors included.
struct nvtx_scope {
    explicit nvtx_scope(const char *name) {
        nvtxRangePushA(name);
    }
    ~nvtx_scope() {
        nvtxRangePop();
    }
};

ds_cuda_ctx *ds_cuda_ctx_of(ds_backend *b) {
    return (ds_cuda_ctx *)b->impl;
}

static size_t batch_count(const ds_batch *v) {
    return (size_t)(v->rows * v->cols);
}

static int check_same_shape(const char *what, const ds_batch *a, const ds_batch *b) {
    if (a->rows != b->rows || a->cols != b->cols)
        return ds_fail("cuda %s: batches of %lld x %lld and %lld x %lld", what, (long long)a->rows,
                       (long long)a->cols, (long long)b->rows, (long long)b->cols);
    return 0;
}

static ds_batch *cuda_batch_new(ds_backend *b, int64_t rows, int64_t cols) {
    (void)b;
    ds_batch *v = (ds_batch *)ds_try_alloc(1, sizeof *v, "a batch");
    if (!v) return NULL;
    v->rows = rows;
    v->cols = cols;
    if (ds_cuda_alloc(&v->data, sizeof(float) * (size_t)(rows * cols), "a batch") != 0) {
        ds_fail("%s (%lld x %lld)", ds_error(), (long long)rows, (long long)cols);
        free(v);
        return NULL;
    }
    return v;
}

static void cuda_batch_free(ds_backend *b, ds_batch *v) {
    (void)b;
    if (!v) return;
    CUDA_RELEASE(cudaFree(v->data));
    free(v);
}

static int cuda_upload(ds_backend *b, ds_batch *dst, const double *src) {
    nvtx_scope range("upload");
    return ds_cuda_upload_floats(ds_cuda_ctx_of(b), (float *)dst->data, src, batch_count(dst));
}

static int cuda_download(ds_backend *b, const ds_batch *src, double *dst) {
    nvtx_scope range("download");
    size_t count = batch_count(src);
    float *h = ds_cuda_staging(ds_cuda_ctx_of(b), count);
    if (!h) return -1;
    CUDA_TRY(cudaMemcpy(h, src->data, count * sizeof(float), cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < count; i++) dst[i] = h[i];
    return 0;
}

static int cuda_copy(ds_backend *b, ds_batch *dst, const ds_batch *src) {
    (void)b;
    DS_TRY(check_same_shape("copy", dst, src));
    CUDA_TRY(cudaMemcpy(dst->data, src->data, batch_count(src) * sizeof(float),
                        cudaMemcpyDeviceToDevice));
    return 0;
}

// The index lists go to the device in one copy (dst's, then src's, in ctx->rows_dev).
static int cuda_move_rows(ds_backend *b, ds_batch *dst, const int64_t *dst_rows,
                          const ds_batch *src, const int64_t *src_rows, int64_t n) {
    DS_TRY(ds_check_move_rows("cuda move_rows", dst, dst_rows, src, src_rows, n));
    if (n < 1) return 0;
    ds_cuda_ctx *ctx = ds_cuda_ctx_of(b);
    size_t need = 2 * (size_t)n;
    if (ctx->rows_len < need) {
        CUDA_TRY(cudaFree(ctx->rows_dev));
        ctx->rows_dev = NULL, ctx->rows_len = 0;
        DS_TRY(ds_cuda_alloc((void **)&ctx->rows_dev, need * sizeof(int64_t), "row indices"));
        ctx->rows_len = need;
    }
    int64_t *h = (int64_t *)ds_try_alloc(need, sizeof(int64_t), "cuda move_rows");
    if (!h) return -1;
    for (int64_t k = 0; k < n; k++)
        h[k] = dst_rows ? dst_rows[k] : k, h[n + k] = src_rows ? src_rows[k] : k;
    cudaError_t err = cudaMemcpy(ctx->rows_dev, h, need * sizeof(int64_t), cudaMemcpyHostToDevice);
    free(h);
    CUDA_TRY(err);
    nvtxRangePushA("move_rows");
    err = ds_launch_move_rows((float *)dst->data, ctx->rows_dev, (const float *)src->data,
                              ctx->rows_dev + n, n, src->cols);
    nvtxRangePop();
    CUDA_TRY(err);
    return 0;
}

static int cuda_lincomb(ds_backend *b, ds_batch *out, int n, const double *coef,
                        const ds_batch *const *v) {
    (void)b;
    if (n < 1 || n > DS_LINCOMB_MAX)
        return ds_fail("cuda lincomb: %d inputs (expected 1 to %d)", n, DS_LINCOMB_MAX);
    const float *inputs[DS_LINCOMB_MAX];
    for (int i = 0; i < n; i++) {
        DS_TRY(check_same_shape("lincomb", out, v[i]));
        inputs[i] = (const float *)v[i]->data;
    }
    nvtx_scope range("lincomb");
    CUDA_TRY(ds_launch_lincomb((float *)out->data, n, coef, inputs, (int64_t)batch_count(out)));
    return 0;
}

static int cuda_randn(ds_backend *b, ds_batch *out, uint64_t seed, int64_t first_row) {
    (void)b;
    nvtx_scope range("randn");
    CUDA_TRY(ds_launch_randn((float *)out->data, out->rows, out->cols, seed, first_row));
    return 0;
}

static ds_bound_model *cuda_bind(ds_backend *b, const ds_model *m) {
    if (ds_backend_check_bind("cuda backend", m)) return NULL;
    if (m->kind != DS_MODEL_EMPIRICAL && m->kind != DS_MODEL_GAUSSIAN && m->kind != DS_MODEL_GMM &&
        m->kind != DS_MODEL_VARIANCE && !ds_cuda_over_kind(m->kind) &&
        !ds_cuda_local_kind(m->kind)) {
        ds_fail("backend cuda: the %s model has no CUDA path yet (use --backend cpu)",
                ds_model_kind_name(m->kind));
        return NULL;
    }
    ds_bound_model *bm = (ds_bound_model *)ds_try_alloc(1, sizeof *bm, "cuda bind");
    if (!bm) return NULL;
    bm->m = m;
    bm->ctx = ds_cuda_ctx_of(b);
    nvtxRangePushA("bind: model upload");
    int rc = m->kind == DS_MODEL_EMPIRICAL  ? ds_cuda_empirical_bind(bm)
             : ds_cuda_over_kind(m->kind)   ? ds_cuda_over_bind(b, bm)
             : ds_cuda_local_kind(m->kind)  ? ds_cuda_local_bind(bm)
             : m->kind == DS_MODEL_VARIANCE ? ds_cuda_variance_bind(bm)
                                            : ds_cuda_gmm_bind(bm);
    nvtxRangePop();
    if (rc == 0) return bm;
    b->unbind(b, bm);
    return NULL;
}

static void cuda_unbind(ds_backend *b, ds_bound_model *bm) {
    (void)b;
    if (!bm) return;
    ds_cuda_workspace_free(&bm->ws);
    ds_cuda_prune_free(bm->prune);
    if (bm->m->kind == DS_MODEL_EMPIRICAL)
        ds_cuda_empirical_unbind(bm);
    else if (ds_cuda_over_kind(bm->m->kind))
        ds_cuda_over_unbind(bm);
    else if (ds_cuda_local_kind(bm->m->kind))
        ds_cuda_local_unbind(bm);
    else if (bm->m->kind == DS_MODEL_VARIANCE)
        ds_cuda_variance_unbind(bm);
    else
        ds_cuda_gmm_unbind(bm);
    CUDA_RELEASE(cudaFree(bm->mean));
    free(bm);
}

static int denoise_blocks(ds_bound_model *bm, const ds_batch *x, const double *sigma,
                          int64_t n_sigma, ds_batch *out, ds_diag *diag) {
    const ds_model *m = bm->m;
    int64_t d = m->d;
    DS_TRY(ds_cuda_workspace_reserve(bm, x->rows));
    for (int64_t r0 = 0; r0 < x->rows; r0 += bm->ws.rows) {
        int64_t rows = x->rows - r0 < bm->ws.rows ? x->rows - r0 : bm->ws.rows;
        ds_sigma2 s2 = {NULL, sigma[0] * sigma[0]};
        if (n_sigma > 1) {
            DS_TRY(ds_cuda_upload_squares(bm->ws.s2, sigma + r0, rows));
            s2.rows = bm->ws.s2;
        }
        const float *xb = (const float *)x->data + r0 * d;
        float *ob = (float *)out->data + r0 * d;
        if (m->kind == DS_MODEL_EMPIRICAL && bm->prune) {
            DS_TRY(ds_cuda_prune_denoise(bm, xb, rows, sigma + (n_sigma > 1 ? r0 : 0), n_sigma > 1,
                                         s2, ob, diag, r0));
        } else if (m->kind == DS_MODEL_EMPIRICAL) {
            DS_TRY(ds_cuda_empirical_denoise(bm, xb, rows, s2, ob));
            if (diag) DS_TRY(ds_cuda_empirical_diag(bm, diag, r0, NULL, rows));
        } else {
            ds_gauss_map map = {0, m->r == d, 0.0, 0.0, s2};
            DS_TRY(ds_cuda_gmm_apply(bm, xb, rows, map, ob));
        }
    }
    return 0;
}

static int cuda_denoise(ds_backend *b, ds_bound_model *bm, const ds_batch *x, const double *sigma,
                        int64_t n_sigma, ds_batch *out, ds_diag *diag) {
    (void)b;
    DS_TRY(ds_backend_check_denoise("cuda denoise", bm->m, x, sigma, n_sigma, out));
    if (x->rows == 0) return 0;
    nvtxRangePushA("denoise");
    int rc = bm->over       ? ds_cuda_over_denoise(bm, x, sigma, n_sigma, out)
             : bm->local    ? ds_cuda_local_denoise(bm, x, sigma, n_sigma, out)
             : bm->variance ? ds_cuda_variance_denoise(bm, x, sigma, n_sigma, out)
                            : denoise_blocks(bm, x, sigma, n_sigma, out, diag);
    nvtxRangePop();
    return rc;
}

// Certified pruning (cuda_prune.cu); the workspace is refitted to hold its buffers too.
static int cuda_prune_on(ds_backend *b, ds_bound_model *bm, double eps, ds_prune_stats *stats) {
    (void)b;
    DS_TRY(ds_backend_check_prune("cuda backend", bm->m, eps));
    ds_cuda_prune *p = ds_cuda_prune_new(bm, eps, stats);
    if (!p) return -1;
    ds_cuda_prune_free(bm->prune);
    bm->prune = p;
    bm->prune_row_bytes = ds_cuda_prune_row_bytes(p);
    ds_cuda_workspace_free(&bm->ws);
    return 0;
}

static int flow_blocks(ds_bound_model *bm, const ds_batch *x, double sigma_from, double sigma_to,
                       ds_batch *out) {
    int64_t d = bm->m->d;
    ds_gauss_map map = {1, bm->m->r == d, sigma_from * sigma_from, sigma_to * sigma_to, {NULL, 0}};
    DS_TRY(ds_cuda_workspace_reserve(bm, x->rows));
    for (int64_t r0 = 0; r0 < x->rows; r0 += bm->ws.rows) {
        int64_t rows = x->rows - r0 < bm->ws.rows ? x->rows - r0 : bm->ws.rows;
        DS_TRY(ds_cuda_gmm_apply(bm, (const float *)x->data + r0 * d, rows, map,
                                 (float *)out->data + r0 * d));
    }
    return 0;
}

static int cuda_gaussian_flow(ds_backend *b, ds_bound_model *bm, const ds_batch *x,
                              double sigma_from, double sigma_to, ds_batch *out) {
    (void)b;
    DS_TRY(ds_backend_check_flow("cuda gaussian flow", bm->m, x, sigma_from, sigma_to, out));
    if (x->rows == 0) return 0;
    nvtxRangePushA("gaussian_flow (teleport)");
    int rc = flow_blocks(bm, x, sigma_from, sigma_to, out);
    nvtxRangePop();
    return rc;
}

// The model on the device and the per-row workspace; without a limit the workspace is
// fitted to the device's free memory at bind time (available = 0).
static void cuda_memory(ds_backend *b, const ds_model *m, int64_t rows, ds_backend_memory *out) {
    if (ds_cuda_over_kind(m->kind)) {
        ds_cuda_over_memory(b, m, rows, out); // the empirical model's, on its queries
        return;
    }
    if (ds_cuda_local_kind(m->kind) || m->kind == DS_MODEL_VARIANCE) {
        if (m->kind == DS_MODEL_VARIANCE)
            ds_cuda_variance_memory(m, rows, out);
        else
            ds_cuda_local_memory(m, rows, out);
        out->available = 0;
        out->available_what = "the device";
        return;
    }
    uint64_t d = (uint64_t)m->d, k = (uint64_t)m->k, r = (uint64_t)m->r;
    int empirical = m->kind == DS_MODEL_EMPIRICAL;
    int64_t first, held; // this rank's training rows under --shard-data
    ds_dist_data_rows(m->data.n, &first, &held);
    if (empirical)
        out->model_bytes =
            (uint64_t)held * (sizeof(float) * d + sizeof(double)) + sizeof(float) * d;
    else
        out->model_bytes =
            sizeof(float) * (d * k * r + k * r + k * d + d) + sizeof(double) * (k * r + 2 * k);
    out->batch_bytes =
        (uint64_t)rows * ds_cuda_row_bytes(m, empirical ? ds_cuda_piece_rows(m, held) : 0);
    out->available = 0;
    out->available_what = "the device";
}

static void cuda_destroy(ds_backend *b) {
    ds_cuda_ctx *ctx = ds_cuda_ctx_of(b);
    CUBLAS_RELEASE(cublasDestroy(ctx->blas));
    CUDA_RELEASE(cudaFree(ctx->rows_dev));
    free(ctx->staging);
    free(ctx);
    free(b);
}

extern "C" ds_backend *ds_backend_cuda_new(void) {
    ds_cuda_ctx *ctx = (ds_cuda_ctx *)ds_try_alloc(1, sizeof *ctx, "backend cuda");
    if (!ctx) return NULL;
    cublasStatus_t st = cublasCreate(&ctx->blas);
    if (st != CUBLAS_STATUS_SUCCESS) {
        ds_fail("backend cuda: cublasCreate failed: %s", cublasGetStatusString(st));
        free(ctx);
        return NULL;
    }
    // Plain FP32 SGEMM (no TF32): the accuracy tests are set for float32 products.
    st = cublasSetMathMode(ctx->blas, CUBLAS_DEFAULT_MATH);
    if (st != CUBLAS_STATUS_SUCCESS) {
        ds_fail("backend cuda: cublasSetMathMode failed: %s", cublasGetStatusString(st));
        cublasDestroy(ctx->blas);
        free(ctx);
        return NULL;
    }
    const char *poison = getenv("DIFFSAMP_CUDA_POISON");
    ctx->poison = poison && !strcmp(poison, "1");
    ds_backend *b = (ds_backend *)ds_try_alloc(1, sizeof *b, "backend cuda");
    if (!b) {
        cublasDestroy(ctx->blas);
        free(ctx);
        return NULL;
    }
    b->name = "cuda";
    b->f64 = 0;
    b->impl = ctx;
    b->bind = cuda_bind;
    b->unbind = cuda_unbind;
    b->batch_new = cuda_batch_new;
    b->batch_free = cuda_batch_free;
    b->upload = cuda_upload;
    b->download = cuda_download;
    b->copy = cuda_copy;
    b->move_rows = cuda_move_rows;
    b->lincomb = cuda_lincomb;
    b->randn = cuda_randn;
    b->denoise = cuda_denoise;
    b->prune = cuda_prune_on;
    b->prune_default = 0; // only when asked (--prune) until it is measured on a GPU
    b->gaussian_flow = cuda_gaussian_flow;
    b->memory = cuda_memory;
    b->destroy = cuda_destroy;
    return b;
}
