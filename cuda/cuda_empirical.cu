// The empirical denoiser on the device. The centred training rows live in pieces of at
// most piece_rows rows (separate allocations, so a training set larger than one
// allocation works); each piece is one chunk of the online softmax: products by SGEMM,
// the row maximum, the refinement in double of the products near it, the merge, then
// weights x rows by SGEMM into the accumulator. For d <= 128 a fused kernel does a chunk
// in one pass (products in double), chosen at bind by timing both.
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_check.h"
#include "cuda_internal.h"
#include "bytes.h"
#include "dist.h"

// Default piece size: 1 GiB of rows.
#define DS_CUDA_PIECE_BYTES ((int64_t)1 << 30)
// Rows up to which the host converts and uploads at a time.
#define DS_CUDA_UPLOAD_ROWS 4096

static int64_t piece_len(const ds_bound_model *bm, int64_t p) {
    int64_t first = p * bm->piece_rows, n = bm->n;
    return n - first < bm->piece_rows ? n - first : bm->piece_rows;
}

// Centres training rows first .. first + rows - 1 on the host (double, then float) and uploads
// them with |y|^2 / 2 (in double) of the float rows that the device will use.
static int upload_rows(ds_bound_model *bm, float *y, double *half_sq, int64_t first, int64_t rows,
                       float *hy, double *hs) {
    const ds_model *m = bm->m;
    int64_t d = m->d;
    for (int64_t i = 0; i < rows; i++) {
        double s = 0;
        for (int64_t j = 0; j < d; j++) {
            float v = (float)(ds_data_value(&m->data, first + i, j) - m->mean[j]);
            hy[i * d + j] = v;
            s += (double)v * v;
        }
        hs[i] = 0.5 * s;
        bm->y_norm = fmax(bm->y_norm, sqrt(s));
    }
    CUDA_TRY(cudaMemcpy(y, hy, sizeof(float) * (size_t)(rows * d), cudaMemcpyHostToDevice));
    CUDA_TRY(cudaMemcpy(half_sq, hs, sizeof(double) * (size_t)rows, cudaMemcpyHostToDevice));
    return 0;
}

static int upload_piece(ds_bound_model *bm, int64_t p, float *hy, double *hs) {
    int64_t len = piece_len(bm, p), d = bm->m->d;
    DS_TRY(ds_cuda_alloc((void **)&bm->y[p], sizeof(float) * (size_t)(len * d), "training rows"));
    DS_TRY(ds_cuda_alloc((void **)&bm->half_sq[p], sizeof(double) * (size_t)len, "row norms"));
    for (int64_t i = 0; i < len; i += DS_CUDA_UPLOAD_ROWS) {
        int64_t rows = len - i < DS_CUDA_UPLOAD_ROWS ? len - i : DS_CUDA_UPLOAD_ROWS;
        DS_TRY(upload_rows(bm, bm->y[p] + i * d, bm->half_sq[p] + i,
                           bm->first + p * bm->piece_rows + i, rows, hy, hs));
    }
    return 0;
}

static int upload_training_set(ds_bound_model *bm) {
    int64_t n = bm->n, d = bm->m->d;
    size_t free_bytes, total_bytes;
    CUDA_TRY(cudaMemGetInfo(&free_bytes, &total_bytes));
    uint64_t need = (uint64_t)n * ((uint64_t)d * sizeof(float) + sizeof(double));
    if (need > free_bytes) {
        char need_s[32], free_s[32];
        ds_format_bytes(need, need_s, sizeof need_s);
        ds_format_bytes(free_bytes, free_s, sizeof free_s);
        return ds_fail("cuda: the training set (%lld rows x %lld, %s) does not fit in the %s of "
                       "free device memory (use --backend cpu)",
                       (long long)n, (long long)d, need_s, free_s);
    }
    bm->half_sq = (double **)ds_try_alloc((size_t)bm->n_pieces, sizeof(double *), "cuda bind");
    bm->y = (float **)ds_try_alloc((size_t)bm->n_pieces, sizeof(float *), "cuda bind");
    float *hy =
        (float *)ds_try_alloc((size_t)(DS_CUDA_UPLOAD_ROWS * d), sizeof(float), "cuda bind");
    double *hs = (double *)ds_try_alloc(DS_CUDA_UPLOAD_ROWS, sizeof(double), "cuda bind");
    int rc = bm->half_sq && bm->y && hy && hs ? 0 : -1;
    for (int64_t p = 0; rc == 0 && p < bm->n_pieces; p++) rc = upload_piece(bm, p, hy, hs);
    free(hy);
    free(hs);
    return rc;
}

static int poison_refine(const ds_bound_model *bm, int64_t rows) {
    const ds_refine_buf *rb = &bm->ws.refine;
    size_t r = (size_t)rows, c = r * DS_REFINE_MAX;
    DS_TRY(ds_cuda_poison(bm->ctx, rb->count, sizeof(int) * r));
    DS_TRY(ds_cuda_poison(bm->ctx, rb->index, sizeof(int) * c));
    DS_TRY(ds_cuda_poison(bm->ctx, rb->dot, sizeof(float) * c));
    return ds_cuda_poison(bm->ctx, rb->t, sizeof(double) * c);
}

// One chunk by the GEMM path. Row-major L (rows x np) = Xc Y_p^T is, for column-major
// cuBLAS, L^T = Y_p (as d x np, transposed) times Xc^T (d x rows); likewise
// acc^T += Y_p^T (d x np) W^T (np x rows).
static int gemm_chunk(ds_bound_model *bm, int64_t rows, int64_t p, ds_sigma2 s2) {
    ds_cuda_workspace *ws = &bm->ws;
    const ds_cuda_ctx *ctx = bm->ctx;
    int64_t np = piece_len(bm, p), d = bm->m->d;
    const float one = 1.0f, zero = 0.0f;
    DS_TRY(ds_cuda_poison(ctx, ws->logits, sizeof(float) * (size_t)(rows * np)));
    CUBLAS_TRY(cublasSgemm(ctx->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)np, (int)rows, (int)d, &one,
                           bm->y[p], (int)d, ws->xc, (int)d, &zero, ws->logits, (int)np));
    DS_TRY(ds_cuda_poison(ctx, ws->chunk_max, sizeof(double) * (size_t)rows));
    DS_TRY(ds_cuda_poison(ctx, ws->chunk_arg, sizeof(int64_t) * (size_t)rows));
    DS_TRY(poison_refine(bm, rows));
    CUDA_TRY(ds_launch_chunk_max_refine(ws->logits, rows, np, ws->xc, bm->y[p], d, bm->half_sq[p],
                                        bm->y_norm, s2, ws->chunk_max, ws->chunk_arg, ws->refine));
    CUDA_TRY(ds_launch_softmax_merge(ws->logits, rows, np, bm->half_sq[p], ws->chunk_max,
                                     ws->chunk_arg, ws->refine, bm->first + p * bm->piece_rows, s2,
                                     ws->st, d));
    CUBLAS_TRY(cublasSgemm(ctx->blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)d, (int)rows, (int)np, &one,
                           bm->y[p], (int)d, ws->logits, (int)np, &one, ws->st.acc, (int)d));
    return 0;
}

static int poison_state(const ds_bound_model *bm, int64_t rows) {
    const ds_softmax_state *st = &bm->ws.st;
    size_t r = (size_t)rows;
    DS_TRY(ds_cuda_poison(bm->ctx, st->max, sizeof(double) * r));
    DS_TRY(ds_cuda_poison(bm->ctx, st->arg, sizeof(int64_t) * r));
    DS_TRY(ds_cuda_poison(bm->ctx, st->sum, sizeof(double) * r));
    DS_TRY(ds_cuda_poison(bm->ctx, st->zl, sizeof(double) * r));
    return ds_cuda_poison(bm->ctx, st->acc, sizeof(float) * r * (size_t)bm->m->d);
}

int ds_cuda_empirical_denoise(ds_bound_model *bm, const float *x, int64_t rows, ds_sigma2 s2,
                              float *out) {
    ds_cuda_workspace *ws = &bm->ws;
    int64_t d = bm->m->d;
    size_t bytes = sizeof(float) * (size_t)(rows * d);
    DS_TRY(ds_cuda_poison(bm->ctx, ws->xc, bytes));
    CUDA_TRY(ds_launch_centre_rows(ws->xc, x, bm->mean, rows, d));
    DS_TRY(poison_state(bm, rows));
    CUDA_TRY(ds_launch_softmax_init(ws->st, rows, d));
    for (int64_t p = 0; p < bm->n_pieces; p++) {
        if (bm->fused)
            CUDA_TRY(ds_launch_empirical_fused(ws->xc, rows, d, bm->y[p], bm->half_sq[p],
                                               piece_len(bm, p), bm->first + p * bm->piece_rows, s2,
                                               ws->st));
        else
            DS_TRY(gemm_chunk(bm, rows, p, s2));
    }
    if (bm->sharded) DS_TRY(ds_cuda_shard_merge(bm, rows, s2));
    if (out != x) DS_TRY(ds_cuda_poison(bm->ctx, out, bytes));
    CUDA_TRY(ds_launch_empirical_finish(out, ws->st, bm->mean, rows, d));
    return 0;
}

// Milliseconds of one denoise of rows queries by the current path, after a warm-up.
static int time_path(ds_bound_model *bm, const float *x, int64_t rows, float *out, float *ms) {
    ds_sigma2 s2 = {NULL, 1.0};
    DS_TRY(ds_cuda_empirical_denoise(bm, x, rows, s2, out));
    cudaEvent_t start = NULL, stop = NULL;
    cudaError_t err = cudaEventCreate(&start);
    if (err == cudaSuccess) err = cudaEventCreate(&stop);
    if (err == cudaSuccess) err = cudaEventRecord(start);
    int rc = err == cudaSuccess ? ds_cuda_empirical_denoise(bm, x, rows, s2, out) : 0;
    if (rc == 0 && err == cudaSuccess) err = cudaEventRecord(stop);
    if (rc == 0 && err == cudaSuccess) err = cudaEventSynchronize(stop);
    if (rc == 0 && err == cudaSuccess) err = cudaEventElapsedTime(ms, start, stop);
    if (rc == 0 && err != cudaSuccess)
        rc = ds_fail("cuda: timing the empirical denoiser paths failed: %s",
                     cudaGetErrorString(err));
    // Destroyed on every path (a NULL event was never created).
    if (start) CUDA_TRY(cudaEventDestroy(start));
    if (stop) CUDA_TRY(cudaEventDestroy(stop));
    return rc;
}

// Times the GEMM and the fused path on the first (up to 1024) training rows as
// queries and keeps the fused one only when it is clearly (10%) faster, so that timing
// noise between runs of the same command rarely flips the path (and the last bits).
static int choose_path(ds_bound_model *bm) {
    const ds_model *m = bm->m;
    int64_t rows = bm->n < 1024 ? bm->n : 1024, d = m->d;
    DS_TRY(ds_cuda_workspace_reserve(bm, rows));
    rows = rows < bm->ws.rows ? rows : bm->ws.rows;
    size_t bytes = sizeof(float) * (size_t)(rows * d);
    float *x = NULL, *out = NULL, ms[2] = {0, 0};
    float *hx = (float *)ds_try_alloc((size_t)(rows * d), sizeof(float), "path timing queries");
    int rc = hx ? ds_cuda_alloc((void **)&x, bytes, "path timing queries") : -1;
    if (rc == 0) rc = ds_cuda_alloc((void **)&out, bytes, "path timing output");
    if (rc == 0) ds_data_rows_f32(&m->data, 0, rows, hx);
    if (rc == 0 && cudaMemcpy(x, hx, bytes, cudaMemcpyHostToDevice) != cudaSuccess)
        rc = ds_fail("cuda: uploading the path timing queries failed");
    free(hx);
    for (int fused = 0; rc == 0 && fused < 2; fused++) {
        bm->fused = fused;
        rc = time_path(bm, x, rows, out, &ms[fused]);
    }
    bm->fused = ms[1] < 0.9f * ms[0];
    CUDA_TRY(cudaFree(x));
    CUDA_TRY(cudaFree(out));
    return rc;
}

int64_t ds_cuda_piece_rows(const ds_model *m, int64_t held) {
    int64_t n = held, d = m->d;
    int64_t piece =
        ds_cuda_env_int("DIFFSAMP_CUDA_CHUNK", 0); // rows per piece; unset or < 1: 1 GiB
    if (piece < 1) piece = DS_CUDA_PIECE_BYTES / (int64_t)(sizeof(float) * d);
    if (piece > INT_MAX / d) piece = INT_MAX / d; // cuBLAS sizes are int
    return piece < 1 ? 1 : piece > n ? n : piece;
}

int ds_cuda_empirical_bind(ds_bound_model *bm) {
    const ds_model *m = bm->m;
    int64_t n = m->data.n, d = m->d;
    if (n < 1 || d < 1 || m->data.d != d || !m->mean)
        return ds_fail("cuda: empirical model needs training rows of dimension d and their mean "
                       "(got %lld rows of %lld for d = %lld)",
                       (long long)n, (long long)m->data.d, (long long)d);
    ds_dist_data_rows(n, &bm->first, &bm->n);
    if (bm->n < 1)
        return ds_fail("cuda: --shard-data over %d ranks needs at least one training row per rank "
                       "(the model has %lld)",
                       ds_dist_size(), (long long)n);
    bm->sharded = ds_dist_data_sharding();
    if (bm->sharded) DS_TRY(ds_cuda_nccl_new(&bm->nccl));
    bm->piece_rows = ds_cuda_piece_rows(m, bm->n);
    bm->n_pieces = (bm->n + bm->piece_rows - 1) / bm->piece_rows;
    DS_TRY(ds_cuda_upload_doubles(&bm->mean, m->mean, (size_t)d, "the data mean"));
    DS_TRY(upload_training_set(bm));
    int64_t fused = ds_cuda_env_int("DIFFSAMP_CUDA_FUSED", -1); // 0 / 1 force a path
    if (fused == 1 && d > DS_FUSED_MAX_D)
        return ds_fail("cuda: DIFFSAMP_CUDA_FUSED=1 needs d <= %d (the model has d = %lld)",
                       DS_FUSED_MAX_D, (long long)d);
    if (fused == 0 || fused == 1) {
        bm->fused = (int)fused;
        return 0;
    }
    return d <= DS_FUSED_MAX_D ? choose_path(bm) : 0;
}

void ds_cuda_empirical_unbind(ds_bound_model *bm) {
    ds_cuda_nccl_free(bm->nccl);
    for (int64_t p = 0; bm->y && p < bm->n_pieces; p++) {
        CUDA_RELEASE(cudaFree(bm->y[p]));
        CUDA_RELEASE(cudaFree(bm->half_sq[p]));
    }
    free(bm->y);
    free(bm->half_sq);
}

int ds_cuda_empirical_diag(ds_bound_model *bm, ds_diag *diag, int64_t first, const int64_t *at,
                           int64_t rows) {
    const ds_softmax_state *st = &bm->ws.st;
    size_t n = (size_t)rows;
    void *h = ds_try_alloc(n, sizeof(int64_t) + 2 * sizeof(double), "cuda denoise");
    if (!h) return -1;
    double *sum = (double *)h, *zl = sum + n;
    int64_t *arg = (int64_t *)(zl + n);
    cudaError_t err = cudaMemcpy(arg, st->arg, sizeof(int64_t) * n, cudaMemcpyDeviceToHost);
    if (err == cudaSuccess)
        err = cudaMemcpy(sum, st->sum, sizeof(double) * n, cudaMemcpyDeviceToHost);
    if (err == cudaSuccess)
        err = cudaMemcpy(zl, st->zl, sizeof(double) * n, cudaMemcpyDeviceToHost);
    for (int64_t i = 0; err == cudaSuccess && i < rows; i++) {
        int64_t o = first + (at ? at[i] : i);
        if (diag->top_index) diag->top_index[o] = arg[i];
        if (diag->top_weight) diag->top_weight[o] = 1.0 / sum[i];
        if (diag->entropy) diag->entropy[o] = log(sum[i]) - zl[i] / sum[i];
    }
    free(h);
    if (err != cudaSuccess)
        return ds_fail("cuda: cudaMemcpy of the denoiser diagnostics failed: %s",
                       cudaGetErrorString(err));
    return 0;
}
