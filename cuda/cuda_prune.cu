// Certified pruning of the empirical denoiser on the cuda backend: the certificate, the
// bounds and the cost model of host/backends/cpu_prune.c over the same index
// (prune_index.c, fitted on the host from the float rows the device holds), evaluated
// on the device (kernels/prune.cu). Per block of queries: the projections and the
// precheck; when some query may skip rows, the bounds by SGEMM over chunks of the
// index (a first pass for each query's smallest bound, whose exact distance sets the
// threshold, a second to collect the survivors; one SGEMM serves both when the index is
// one chunk); the pruned queries evaluated over their survivors in double, the others
// gathered into one dense evaluation and scattered back.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_check.h"
#include "cuda_internal.h"
#include "ds_cuda_debug.h"
#include "prune_index.h"

// Index rows per bound SGEMM (its products are rows x chunk floats).
#define PRUNE_CHUNK 8192

struct ds_cuda_prune {
    ds_prune_index ix; // host copy (directions, projections, facts)
    ds_prune_dev dev;  // device view; the arrays below are owned
    double *basis, *py_sq;
    float *py;
    float **y_pieces;
    double **hs_pieces;
    int64_t chunk, chunks;
    ds_prune_stats *stats;
    // The block workspace, for `rows` query rows.
    int64_t rows;
    ds_prune_rows r;
    float *g, *cx, *cout;
    int64_t *top, *dense_rows;
    double *stat;
};

static int64_t prune_chunk(int64_t n) {
    int64_t c = ds_cuda_env_int("DIFFSAMP_CUDA_PRUNE_CHUNK", PRUNE_CHUNK); // test aid: chunks
    if (c < 1) c = PRUNE_CHUNK;
    return c < n ? c : n;
}

// The index reads the rows as the device holds them: centred in double, rounded to float.
static void index_rows(void *user, int64_t first, int64_t count, float *out) {
    const ds_bound_model *bm = (const ds_bound_model *)user;
    const ds_model *m = bm->m;
    for (int64_t i = 0; i < count; i++)
        for (int64_t j = 0; j < m->d; j++)
            out[i * m->d + j] = (float)(ds_data_value(&m->data, first + i, j) - m->mean[j]);
}

static void free_workspace(ds_cuda_prune *p) {
    void **bufs[] = {(void **)&p->r.a,     (void **)&p->r.pxx,      (void **)&p->r.live,
                     (void **)&p->r.lmin,  (void **)&p->r.amin,     (void **)&p->r.thr,
                     (void **)&p->r.count, (void **)&p->r.list,     (void **)&p->r.ell,
                     (void **)&p->g,       (void **)&p->cx,         (void **)&p->cout,
                     (void **)&p->top,     (void **)&p->dense_rows, (void **)&p->stat};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        CUDA_RELEASE(cudaFree(*bufs[i]));
        *bufs[i] = NULL;
    }
    p->rows = 0;
}

size_t ds_cuda_prune_row_bytes(const ds_cuda_prune *p) {
    if (!p) return 0;
    size_t k = (size_t)p->ix.k, d = (size_t)p->ix.d, cap = (size_t)p->r.cap;
    // a, the products, the gathered queries and outputs; pxx, lmin, thr, ell, stat; amin,
    // count, top, dense_rows, list; live
    return sizeof(float) * (k + (size_t)p->chunk + 2 * d) + sizeof(double) * (3 + cap + 4) +
           sizeof(int64_t) * (4 + cap) + sizeof(int);
}

static int reserve(ds_cuda_prune *p, int64_t rows) {
    if (rows <= p->rows) return 0;
    free_workspace(p);
    size_t n = (size_t)rows, k = (size_t)p->ix.k, d = (size_t)p->ix.d, cap = (size_t)p->r.cap;
    const char *what = "cuda pruning workspace";
    DS_TRY(ds_cuda_alloc((void **)&p->r.a, sizeof(float) * n * k, what));
    DS_TRY(ds_cuda_alloc((void **)&p->r.pxx, sizeof(double) * n, what));
    DS_TRY(ds_cuda_alloc((void **)&p->r.live, sizeof(int) * n, what));
    DS_TRY(ds_cuda_alloc((void **)&p->r.lmin, sizeof(double) * n, what));
    DS_TRY(ds_cuda_alloc((void **)&p->r.amin, sizeof(int64_t) * n, what));
    DS_TRY(ds_cuda_alloc((void **)&p->r.thr, sizeof(double) * n, what));
    DS_TRY(ds_cuda_alloc((void **)&p->r.count, sizeof(int64_t) * n, what));
    DS_TRY(ds_cuda_alloc((void **)&p->r.list, sizeof(int64_t) * n * (cap ? cap : 1), what));
    DS_TRY(ds_cuda_alloc((void **)&p->r.ell, sizeof(double) * n * (cap ? cap : 1), what));
    DS_TRY(ds_cuda_alloc((void **)&p->g, sizeof(float) * n * (size_t)p->chunk, what));
    DS_TRY(ds_cuda_alloc((void **)&p->cx, sizeof(float) * n * d, what));
    DS_TRY(ds_cuda_alloc((void **)&p->cout, sizeof(float) * n * d, what));
    DS_TRY(ds_cuda_alloc((void **)&p->top, sizeof(int64_t) * n, what));
    DS_TRY(ds_cuda_alloc((void **)&p->dense_rows, sizeof(int64_t) * n, what));
    DS_TRY(ds_cuda_alloc((void **)&p->stat, sizeof(double) * 4 * n, what));
    p->rows = rows;
    return 0;
}

void ds_cuda_prune_free(ds_cuda_prune *p) {
    if (!p) return;
    free_workspace(p);
    CUDA_RELEASE(cudaFree(p->basis));
    CUDA_RELEASE(cudaFree(p->py_sq));
    CUDA_RELEASE(cudaFree(p->py));
    CUDA_RELEASE(cudaFree(p->y_pieces));
    CUDA_RELEASE(cudaFree(p->hs_pieces));
    ds_prune_index_free(&p->ix);
    free(p);
}

static int upload(void **dst, const void *src, size_t bytes, const char *what) {
    DS_TRY(ds_cuda_alloc(dst, bytes, what));
    CUDA_TRY(cudaMemcpy(*dst, src, bytes, cudaMemcpyHostToDevice));
    return 0;
}

static int upload_index(ds_cuda_prune *p, const ds_bound_model *bm) {
    const ds_prune_index *ix = &p->ix;
    size_t n = (size_t)ix->n, d = (size_t)ix->d, k = (size_t)ix->k, pieces = (size_t)bm->n_pieces;
    const char *what = "cuda pruning index";
    DS_TRY(upload((void **)&p->basis, ix->basis, sizeof(double) * d * k, what));
    DS_TRY(upload((void **)&p->py, ix->py, sizeof(float) * n * k, what));
    DS_TRY(upload((void **)&p->py_sq, ix->py_sq, sizeof(double) * n, what));
    DS_TRY(upload((void **)&p->y_pieces, bm->y, sizeof(float *) * pieces, what));
    DS_TRY(upload((void **)&p->hs_pieces, bm->half_sq, sizeof(double *) * pieces, what));
    p->dev = (ds_prune_dev){.n = ix->n,
                            .d = ix->d,
                            .k = ix->k,
                            .basis = p->basis,
                            .py = p->py,
                            .py_sq = p->py_sq,
                            .omega = ix->omega,
                            .py_max = ix->py_max,
                            .res_max = ix->res_max,
                            .eps = p->dev.eps,
                            .log_ratio = log((double)ix->n / p->dev.eps),
                            .y_norm = bm->y_norm,
                            .y = p->y_pieces,
                            .half_sq = p->hs_pieces,
                            .piece_rows = bm->piece_rows,
                            .mean = bm->mean};
    return 0;
}

ds_cuda_prune *ds_cuda_prune_new(const ds_bound_model *bm, double eps, ds_prune_stats *stats) {
    // A rank holds part of the rows; the certificate is over all of them (as on cpu).
    if (bm->sharded) {
        ds_fail("cuda backend: certified pruning is not available with --shard-data (each rank "
                "holds part of the training rows)");
        return NULL;
    }
    ds_cuda_prune *p = (ds_cuda_prune *)ds_try_alloc(1, sizeof *p, "cuda pruning");
    if (!p) return NULL;
    p->dev.eps = eps;
    p->stats = stats;
    int64_t n = bm->n, d = bm->m->d;
    if (ds_prune_index_new(&p->ix, n, d, index_rows, (void *)bm, "cuda pruning index")) {
        free(p);
        return NULL;
    }
    p->chunk = prune_chunk(n);
    p->chunks = (n + p->chunk - 1) / p->chunk;
    // Two bound passes when the products do not stay in one chunk's buffer.
    p->r.cap = ds_prune_cap(n, d, p->ix.k, p->chunks > 1 ? 2 : 1);
    if (upload_index(p, bm)) {
        ds_cuda_prune_free(p);
        return NULL;
    }
    memset(stats, 0, sizeof *stats);
    stats->eps = eps;
    return p;
}

// g (rows x len, row-major) = a (rows x k) times the chunk's projections (len x k)^T: for
// column-major cuBLAS, g^T = py_c (k x len, transposed) a^T (k x rows).
static int bound_products(const ds_bound_model *bm, int64_t rows, int64_t start, int64_t len) {
    const ds_cuda_prune *p = bm->prune;
    const float one = 1.0f, zero = 0.0f;
    int k = (int)p->ix.k;
    CUBLAS_TRY(cublasSgemm(bm->ctx->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)len, (int)rows, k, &one,
                           p->py + start * k, k, p->r.a, k, &zero, p->g, (int)len));
    return 0;
}

static int bound_pass(const ds_bound_model *bm, const float *x, int64_t rows, ds_sigma2 s2) {
    const ds_cuda_prune *p = bm->prune;
    for (int64_t c = 0; c < p->chunks; c++) {
        int64_t start = c * p->chunk, len = p->ix.n - start < p->chunk ? p->ix.n - start : p->chunk;
        DS_TRY(bound_products(bm, rows, start, len));
        CUDA_TRY(ds_launch_prune_min(p->dev, p->g, rows, len, start, p->r));
    }
    CUDA_TRY(ds_launch_prune_threshold(p->dev, x, rows, s2, p->r));
    for (int64_t c = 0; c < p->chunks; c++) {
        int64_t start = c * p->chunk, len = p->ix.n - start < p->chunk ? p->ix.n - start : p->chunk;
        if (p->chunks > 1) DS_TRY(bound_products(bm, rows, start, len));
        CUDA_TRY(ds_launch_prune_collect(p->dev, p->g, rows, len, start, p->r));
    }
    return 0;
}

// The counts of one block (cpu_prune.c: add_counts).
static void add_counts(const ds_cuda_prune *p, int64_t rows, const int *live, const int64_t *count,
                       const double *stat) {
    ds_prune_stats *st = p->stats;
    double n = (double)p->ix.n, d = (double)p->ix.d, k = (double)p->ix.k;
    double dense = 4.0 * n * d, passes = p->chunks > 1 ? 2 : 1;
    for (int64_t i = 0; i < rows; i++) {
        int done = live[i] && count[i] <= p->r.cap;
        st->queries++;
        st->pairs += p->ix.n;
        st->flops_dense += dense;
        st->flops += 2 * d * k + (live[i] ? passes * n * (2 * k + 4) + 3 * d : 0) +
                     (done ? 4 * d * (double)count[i] : dense);
        if (!done) continue;
        st->queries_pruned++;
        st->pairs_skipped += p->ix.n - count[i];
        st->mass_max = fmax(st->mass_max, stat[4 * i + 2]);
        st->change_max = fmax(st->change_max, stat[4 * i + 3]);
    }
}

// The queries the pruned path left, gathered, evaluated densely, scattered back.
static int dense_rest(ds_bound_model *bm, const float *x, int64_t rows, const double *sigma,
                      int per_row, ds_sigma2 s2, float *out, ds_diag *diag, int64_t r0,
                      const int64_t *rest, int64_t n_rest) {
    ds_cuda_prune *p = bm->prune;
    int64_t d = p->ix.d;
    if (n_rest == rows) { // nothing pruned: no gather
        DS_TRY(ds_cuda_empirical_denoise(bm, x, rows, s2, out));
        return diag ? ds_cuda_empirical_diag(bm, diag, r0, NULL, rows) : 0;
    }
    CUDA_TRY(
        cudaMemcpy(p->dense_rows, rest, sizeof(int64_t) * (size_t)n_rest, cudaMemcpyHostToDevice));
    CUDA_TRY(ds_launch_move_rows(p->cx, NULL, x, p->dense_rows, n_rest, d));
    if (per_row) {
        double *sub = (double *)ds_try_alloc((size_t)n_rest, sizeof(double), "cuda pruning");
        if (!sub) return -1;
        for (int64_t k = 0; k < n_rest; k++) sub[k] = sigma[rest[k]];
        int rc = ds_cuda_upload_squares(bm->ws.s2, sub, n_rest);
        free(sub);
        DS_TRY(rc);
        s2.rows = bm->ws.s2;
    }
    DS_TRY(ds_cuda_empirical_denoise(bm, p->cx, n_rest, s2, p->cout));
    if (diag) DS_TRY(ds_cuda_empirical_diag(bm, diag, r0, rest, n_rest));
    CUDA_TRY(ds_launch_move_rows(out, p->dense_rows, p->cout, NULL, n_rest, d));
    return 0;
}

// Host copies of one block's per-query results.
typedef struct {
    int *live;
    int64_t *count, *top, *rest;
    double *stat;
} block_host;

static int download_results(const ds_cuda_prune *p, int64_t rows, block_host *h) {
    size_t n = (size_t)rows;
    CUDA_TRY(cudaMemcpy(h->count, p->r.count, sizeof(int64_t) * n, cudaMemcpyDeviceToHost));
    CUDA_TRY(cudaMemcpy(h->top, p->top, sizeof(int64_t) * n, cudaMemcpyDeviceToHost));
    CUDA_TRY(cudaMemcpy(h->stat, p->stat, sizeof(double) * 4 * n, cudaMemcpyDeviceToHost));
    return 0;
}

static int denoise_block(ds_bound_model *bm, const float *x, int64_t rows, const double *sigma,
                         int per_row, ds_sigma2 s2, float *out, ds_diag *diag, int64_t r0,
                         block_host *h) {
    ds_cuda_prune *p = bm->prune;
    DS_TRY(reserve(p, rows));
    size_t n = (size_t)rows;
    CUDA_TRY(ds_launch_prune_project(p->dev, x, rows, s2, p->r));
    CUDA_TRY(cudaMemcpy(h->live, p->r.live, sizeof(int) * n, cudaMemcpyDeviceToHost));
    int64_t n_live = 0, n_rest = 0;
    for (int64_t i = 0; i < rows; i++) n_live += h->live[i];
    memset(h->count, 0, sizeof(int64_t) * n);
    if (n_live) {
        DS_TRY(bound_pass(bm, x, rows, s2));
        CUDA_TRY(ds_launch_prune_evaluate(p->dev, x, rows, s2, p->r, out, p->top, p->stat));
        DS_TRY(download_results(p, rows, h));
    }
    for (int64_t i = 0; i < rows; i++) {
        int done = h->live[i] && h->count[i] <= p->r.cap;
        if (!done) {
            h->rest[n_rest++] = i;
            continue;
        }
        if (!diag) continue;
        if (diag->top_index) diag->top_index[r0 + i] = h->top[i];
        if (diag->top_weight) diag->top_weight[r0 + i] = h->stat[4 * i];
        if (diag->entropy) diag->entropy[r0 + i] = h->stat[4 * i + 1];
    }
    add_counts(p, rows, h->live, h->count, h->stat);
    if (!n_rest) return 0;
    return dense_rest(bm, x, rows, sigma, per_row, s2, out, diag, r0, h->rest, n_rest);
}

int ds_cuda_prune_denoise(ds_bound_model *bm, const float *x, int64_t rows, const double *sigma,
                          int per_row, ds_sigma2 s2, float *out, ds_diag *diag, int64_t r0) {
    size_t n = (size_t)rows;
    block_host h;
    void *mem =
        ds_try_alloc(n, sizeof(int) + 3 * sizeof(int64_t) + 4 * sizeof(double), "cuda pruning");
    if (!mem) return -1;
    h.stat = (double *)mem;
    h.count = (int64_t *)(h.stat + 4 * n);
    h.top = h.count + n;
    h.rest = h.top + n;
    h.live = (int *)(h.rest + n);
    int rc = denoise_block(bm, x, rows, sigma, per_row, s2, out, diag, r0, &h);
    free(mem);
    return rc;
}

// The test aid of ds_cuda_debug.h: one query's survivors.
static int kept_rows(ds_bound_model *bm, const float *xd, double sigma, uint8_t *keep) {
    ds_cuda_prune *p = bm->prune;
    ds_sigma2 s2 = {NULL, sigma * sigma};
    int live = 0;
    int64_t count = 0, n = p->ix.n;
    DS_TRY(reserve(p, 1));
    CUDA_TRY(ds_launch_prune_project(p->dev, xd, 1, s2, p->r));
    CUDA_TRY(cudaMemcpy(&live, p->r.live, sizeof live, cudaMemcpyDeviceToHost));
    if (live) {
        DS_TRY(bound_pass(bm, xd, 1, s2));
        CUDA_TRY(cudaMemcpy(&count, p->r.count, sizeof count, cudaMemcpyDeviceToHost));
    }
    int pruned = live && count <= p->r.cap;
    memset(keep, !pruned, (size_t)n);
    if (!pruned) return 0;
    int64_t *list =
        (int64_t *)ds_try_alloc((size_t)(count ? count : 1), sizeof(int64_t), "cuda pruning");
    if (!list) return -1;
    cudaError_t err =
        cudaMemcpy(list, p->r.list, sizeof(int64_t) * (size_t)count, cudaMemcpyDeviceToHost);
    for (int64_t j = 0; err == cudaSuccess && j < count; j++) keep[list[j]] = 1;
    free(list);
    CUDA_TRY(err);
    return 1;
}

extern "C" int ds_cuda_prune_kept(ds_bound_model *bm, const float *x, double sigma, uint8_t *keep) {
    if (!bm->prune) return ds_fail("cuda pruning: not turned on for this model");
    size_t bytes = sizeof(float) * (size_t)bm->m->d;
    float *xd = NULL;
    DS_TRY(ds_cuda_alloc((void **)&xd, bytes, "a pruning query"));
    int rc = cudaMemcpy(xd, x, bytes, cudaMemcpyHostToDevice) == cudaSuccess
                 ? kept_rows(bm, xd, sigma, keep)
                 : ds_fail("cuda pruning: uploading the query failed");
    CUDA_TRY(cudaFree(xd));
    return rc;
}
