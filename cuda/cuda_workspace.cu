// Per-query-row device workspace, allocated for the largest batch seen and reused:
// sized from cudaMemGetInfo so that a batch that does not fit is processed in blocks
// of query rows, with a clear refusal when not even one row fits.
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_check.h"
#include "cuda_internal.h"
#include "bytes.h"
#include "dist.h"

// Device memory left for cuBLAS's own workspace and for batches allocated later.
#define DS_CUDA_RESERVE_BYTES ((size_t)256 << 20)

size_t ds_cuda_row_bytes(const ds_model *m, int64_t piece_rows) {
    size_t d = (size_t)m->d, common = sizeof(float) * d + sizeof(double);
    // logits, chunk max and arg, refinement candidates, state (max, arg, sum, zl, acc)
    if (m->kind == DS_MODEL_EMPIRICAL)
        return common + sizeof(float) * (size_t)piece_rows + sizeof(double) + sizeof(int64_t) +
               sizeof(int) + DS_REFINE_MAX * (sizeof(int) + sizeof(float) + sizeof(double)) +
               sizeof(double) * 3 + sizeof(int64_t) + sizeof(float) * d;
    return common + sizeof(float) * (size_t)(m->k * m->r + m->k) + sizeof(double) * (size_t)m->k;
}

// The widest per-query matrix row (logits, queries, projections): cuBLAS takes int
// sizes, so a block of query rows must keep rows x widest below 2^31 elements.
static int64_t widest_row(const ds_bound_model *bm) {
    const ds_model *m = bm->m;
    int64_t other = m->kind == DS_MODEL_EMPIRICAL ? bm->piece_rows : m->k * m->r;
    return other > m->d ? other : m->d;
}

void ds_cuda_workspace_free(ds_cuda_workspace *ws) {
    void *bufs[] = {ws->xc,        ws->s2,           ws->logits,       ws->chunk_max,
                    ws->chunk_arg, ws->refine.count, ws->refine.index, ws->refine.dot,
                    ws->refine.t,  ws->st.max,       ws->st.arg,       ws->st.sum,
                    ws->st.zl,     ws->st.acc,       ws->proj,         ws->logp,
                    ws->rho};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) CUDA_RELEASE(cudaFree(bufs[i]));
    memset(ws, 0, sizeof *ws);
}

static int alloc_rows(void **p, int64_t rows, size_t row_bytes, const char *what) {
    return ds_cuda_alloc(p, (size_t)rows * row_bytes, what);
}

static int workspace_alloc(ds_bound_model *bm, int64_t rows) {
    const ds_model *m = bm->m;
    ds_cuda_workspace *ws = &bm->ws;
    size_t d = (size_t)m->d;
    DS_TRY(alloc_rows((void **)&ws->xc, rows, sizeof(float) * d, "centred queries"));
    DS_TRY(alloc_rows((void **)&ws->s2, rows, sizeof(double), "per-row sigmas"));
    if (m->kind == DS_MODEL_EMPIRICAL) {
        DS_TRY(alloc_rows((void **)&ws->logits, rows, sizeof(float) * (size_t)bm->piece_rows,
                          "logits"));
        DS_TRY(alloc_rows((void **)&ws->chunk_max, rows, sizeof(double), "row maxima"));
        DS_TRY(alloc_rows((void **)&ws->chunk_arg, rows, sizeof(int64_t), "row arg-maxima"));
        DS_TRY(alloc_rows((void **)&ws->refine.count, rows, sizeof(int), "refinement"));
        DS_TRY(alloc_rows((void **)&ws->refine.index, rows, sizeof(int) * DS_REFINE_MAX,
                          "refinement"));
        DS_TRY(alloc_rows((void **)&ws->refine.dot, rows, sizeof(float) * DS_REFINE_MAX,
                          "refinement"));
        DS_TRY(
            alloc_rows((void **)&ws->refine.t, rows, sizeof(double) * DS_REFINE_MAX, "refinement"));
        DS_TRY(alloc_rows((void **)&ws->st.max, rows, sizeof(double), "softmax state"));
        DS_TRY(alloc_rows((void **)&ws->st.arg, rows, sizeof(int64_t), "softmax state"));
        DS_TRY(alloc_rows((void **)&ws->st.sum, rows, sizeof(double), "softmax state"));
        DS_TRY(alloc_rows((void **)&ws->st.zl, rows, sizeof(double), "softmax state"));
        DS_TRY(alloc_rows((void **)&ws->st.acc, rows, sizeof(float) * d, "accumulator"));
    } else {
        DS_TRY(alloc_rows((void **)&ws->proj, rows, sizeof(float) * (size_t)(m->k * m->r),
                          "projections"));
        DS_TRY(alloc_rows((void **)&ws->logp, rows, sizeof(double) * (size_t)m->k,
                          "component log densities"));
        DS_TRY(
            alloc_rows((void **)&ws->rho, rows, sizeof(float) * (size_t)m->k, "component weights"));
    }
    ws->rows = rows;
    return 0;
}

static int refuse_workspace(const ds_bound_model *bm, size_t per_row, size_t free_bytes) {
    char row_s[32], reserve_s[32], free_s[32];
    ds_format_bytes(per_row, row_s, sizeof row_s);
    ds_format_bytes(DS_CUDA_RESERVE_BYTES, reserve_s, sizeof reserve_s);
    ds_format_bytes(free_bytes, free_s, sizeof free_s);
    // Fewer training rows per chunk shrink a query row, not the reserve.
    const char *advice = free_bytes > DS_CUDA_RESERVE_BYTES
                             ? "set DIFFSAMP_CUDA_CHUNK to fewer rows or use --backend cpu"
                             : "use --backend cpu";
    return ds_fail("cuda: not enough device memory for the denoiser workspace: one query row "
                   "needs %s (training rows per chunk: %lld) beyond the %s kept for cuBLAS, and "
                   "%s is free; %s",
                   row_s, (long long)bm->piece_rows, reserve_s, free_s, advice);
}

// Under --shard-data the ranks' query blocks meet in every merge, so they must be the
// same: the ranks re-fit together when any of them needs to, and take the smallest block
// that every one can hold (a refusal or a failed allocation on one stops them all).
static int agreed(const ds_bound_model *bm, int rc, int64_t *smallest) {
    if (!bm->sharded) return rc;
    DS_TRY(ds_dist_agree(rc));
    if (!smallest) return 0;
    int64_t neg = -*smallest;
    DS_TRY(ds_dist_max_i64(&neg, 1));
    *smallest = -neg;
    return 0;
}

int ds_cuda_workspace_reserve(ds_bound_model *bm, int64_t rows) {
    ds_cuda_workspace *ws = &bm->ws;
    int64_t cap = ds_cuda_env_int("DIFFSAMP_CUDA_ROWS", 0); // test aid: force query blocks
    int64_t want = cap > 0 && cap < rows ? cap : rows, planned = ws->planned;
    int64_t grow = want > planned;
    if (bm->sharded) DS_TRY(ds_dist_max_i64(&grow, 1));
    if (!grow) return 0;
    ds_cuda_workspace_free(ws);
    size_t free_bytes, total_bytes;
    CUDA_TRY(cudaMemGetInfo(&free_bytes, &total_bytes));
    size_t per_row = ds_cuda_row_bytes(bm->m, bm->piece_rows) + bm->prune_row_bytes;
    size_t usable = free_bytes > DS_CUDA_RESERVE_BYTES ? free_bytes - DS_CUDA_RESERVE_BYTES : 0;
    int64_t fit = (int64_t)(usable / per_row), int_fit = INT_MAX / widest_row(bm);
    if (fit > int_fit) fit = int_fit;
    int64_t use = want < fit ? want : fit;
    DS_TRY(agreed(bm, fit < 1 ? refuse_workspace(bm, per_row, free_bytes) : 0, &use));
    if (agreed(bm, workspace_alloc(bm, use), NULL) != 0) {
        ds_cuda_workspace_free(ws);
        return -1;
    }
    ws->planned = want > planned ? want : planned;
    return 0;
}
