// --shard-data on the cuda backend: each rank holds its training rows on its device and,
// after the last piece, its running softmax states (cuda_internal.h) are merged with the
// other ranks' into the states over every row, which the finish then turns into D. The
// merge is staged through the host: the states are downloaded into dist.h's layout
// (logits in units of 1 / sigma^2, global row numbers, the weighted sum in double),
// merged by ds_dist_lse_merge (MPI_Allreduce with the log-sum-exp fold of
// host/dist/lse_fold.c, the same as on cpu and ref) and uploaded back; in a build with
// NCCL it stays on the devices (cuda_nccl.cu) unless DIFFSAMP_NCCL=0.
#include <stdlib.h>
#include <string.h>

#include "cuda_check.h"
#include "cuda_internal.h"
#include "dist.h"

// Host copies of one block's states: the device arrays' contents and the merge buffer.
typedef struct {
    double *max, *sum, *zl, *s2, *lse;
    int64_t *arg;
    float *acc;
} host_states;

static void host_states_free(host_states *h) {
    free(h->max), free(h->arg), free(h->acc), free(h->lse);
}

static int host_states_new(host_states *h, int64_t rows, int64_t d) {
    const char *what = "cuda --shard-data merge";
    size_t r = (size_t)rows;
    memset(h, 0, sizeof *h);
    h->max = (double *)ds_try_alloc(4 * r, sizeof(double), what);
    h->arg = (int64_t *)ds_try_alloc(r, sizeof(int64_t), what);
    h->acc = (float *)ds_try_alloc(r * (size_t)d, sizeof(float), what);
    h->lse = (double *)ds_try_alloc(r * (size_t)(DS_LSE_HEAD + d), sizeof(double), what);
    if (!h->max || !h->arg || !h->acc || !h->lse) {
        host_states_free(h);
        return -1;
    }
    h->sum = h->max + r, h->zl = h->sum + r, h->s2 = h->zl + r;
    return 0;
}

// The state arrays device to host, or back (back = 1).
static int move_states(const ds_softmax_state *st, host_states *h, int64_t rows, int64_t d,
                       int back) {
    struct {
        void *dev, *host;
        size_t bytes;
    } parts[] = {{st->max, h->max, sizeof(double)},
                 {st->sum, h->sum, sizeof(double)},
                 {st->zl, h->zl, sizeof(double)},
                 {st->arg, h->arg, sizeof(int64_t)},
                 {st->acc, h->acc, sizeof(float) * (size_t)d}};
    for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
        size_t bytes = parts[k].bytes * (size_t)rows;
        if (back)
            CUDA_TRY(cudaMemcpy(parts[k].dev, parts[k].host, bytes, cudaMemcpyHostToDevice));
        else
            CUDA_TRY(cudaMemcpy(parts[k].host, parts[k].dev, bytes, cudaMemcpyDeviceToHost));
    }
    return 0;
}

// The device states in dist.h's layout, merged over the ranks, and back: the state's
// maximum is t = x.y - |y|^2 / 2, the logit t / sigma^2 (the same sigma on every rank).
static int merge_on_host(ds_bound_model *bm, int64_t rows, ds_sigma2 s2, host_states *h) {
    const ds_softmax_state *st = &bm->ws.st;
    int64_t d = bm->m->d, width = DS_LSE_HEAD + d;
    DS_TRY(move_states(st, h, rows, d, 0));
    if (s2.rows)
        CUDA_TRY(cudaMemcpy(h->s2, s2.rows, sizeof(double) * (size_t)rows, cudaMemcpyDeviceToHost));
    for (int64_t i = 0; i < rows; i++) {
        double *si = h->lse + i * width, v = s2.rows ? h->s2[i] : s2.value;
        h->s2[i] = v;
        si[DS_LSE_LMAX] = h->max[i] / v, si[DS_LSE_Z] = h->sum[i], si[DS_LSE_ZL] = h->zl[i];
        si[DS_LSE_TOP] = (double)h->arg[i];
        for (int64_t j = 0; j < d; j++) si[DS_LSE_HEAD + j] = h->acc[i * d + j];
    }
    DS_TRY(ds_dist_lse_merge(h->lse, rows, d));
    for (int64_t i = 0; i < rows; i++) {
        const double *si = h->lse + i * width;
        h->max[i] = si[DS_LSE_LMAX] * h->s2[i], h->sum[i] = si[DS_LSE_Z], h->zl[i] = si[DS_LSE_ZL];
        h->arg[i] = (int64_t)si[DS_LSE_TOP];
        for (int64_t j = 0; j < d; j++) h->acc[i * d + j] = (float)si[DS_LSE_HEAD + j];
    }
    return move_states(st, h, rows, d, 1);
}

int ds_cuda_shard_merge(ds_bound_model *bm, int64_t rows, ds_sigma2 s2) {
#ifdef DIFFSAMP_HAVE_NCCL
    if (bm->nccl) return ds_cuda_nccl_merge(bm->nccl, bm->ws.st, rows, bm->m->d, s2);
#endif
    host_states h;
    DS_TRY(host_states_new(&h, rows, bm->m->d));
    int rc = merge_on_host(bm, rows, s2, &h);
    host_states_free(&h);
    return rc;
}
