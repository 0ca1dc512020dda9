// --shard-data between the ranks' GPUs with NCCL (a build with NCCL and MPI): rank 0's
// NCCL id goes to every rank over MPI (as llm.c does), and the communicator runs on a
// stream of its own. The merge of the running softmax states, which NCCL's fixed
// reductions cannot fold in one log-sum-exp step, takes three: the maxima by ncclMax;
// each rank's state moved to the common maximum (ds_launch_softmax_rebase); then the
// sums, zl and accumulator by ncclSum and the top row by ncclMin (each rank's own where
// it holds the maximum, else INT64_MAX: the first row of the maximum, as in one process).
// Without NCCL the cuda backend stages the merge through the host (cuda_shard.cu).
#include <stdlib.h>
#include <string.h>

#include "cuda_check.h"
#include "cuda_internal.h"
#include "dist.h"

#ifdef DIFFSAMP_HAVE_NCCL
#include <nccl.h>

#define NCCL_TRY(call)                                                                             \
    do {                                                                                           \
        ncclResult_t r_ = (call);                                                                  \
        if (r_ != ncclSuccess)                                                                     \
            return DS_CUDA_REPORT(ds_fail, "NCCL", #call, ncclGetErrorString(r_));                 \
    } while (0)

#define NCCL_RELEASE(call)                                                                         \
    do {                                                                                           \
        ncclResult_t r_ = (call);                                                                  \
        if (r_ != ncclSuccess)                                                                     \
            DS_CUDA_REPORT(ds_cuda_release_failed, "NCCL", #call, ncclGetErrorString(r_));         \
    } while (0)

struct ds_cuda_nccl {
    ncclComm_t comm;
    cudaStream_t stream;
    double *max; // the maxima over the ranks, for `rows` query rows
    int64_t rows;
};

// Rank 0's id to every rank; every rank learns whether rank 0 could make one.
static int share_id(ncclUniqueId *id) {
    int rc = 0;
    if (ds_dist_rank() == 0 && ncclGetUniqueId(id) != ncclSuccess)
        rc = ds_fail("NCCL: ncclGetUniqueId failed");
    DS_TRY(ds_dist_agree(rc));
    return ds_dist_bcast(id, sizeof *id, 0);
}

static int nccl_open(ds_cuda_nccl *c) {
    ncclUniqueId id;
    DS_TRY(share_id(&id));
    NCCL_TRY(ncclCommInitRank(&c->comm, ds_dist_size(), id, ds_dist_rank()));
    CUDA_TRY(cudaStreamCreate(&c->stream));
    return 0;
}

int ds_cuda_nccl_new(ds_cuda_nccl **out) {
    *out = NULL;
    const char *use = getenv("DIFFSAMP_NCCL"); // 0: the host merge (a test aid, a fallback)
    if (use && !strcmp(use, "0")) return 0;
    ds_cuda_nccl *c = (ds_cuda_nccl *)ds_try_alloc(1, sizeof *c, "NCCL");
    int rc = c ? nccl_open(c) : -1;
    // Every rank opens its communicator or none uses one.
    rc = ds_dist_agree(rc);
    if (rc) {
        ds_cuda_nccl_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

void ds_cuda_nccl_free(ds_cuda_nccl *c) {
    if (!c) return;
    if (c->comm) NCCL_RELEASE(ncclCommDestroy(c->comm));
    if (c->stream) CUDA_RELEASE(cudaStreamDestroy(c->stream));
    CUDA_RELEASE(cudaFree(c->max));
    free(c);
}

static int reserve(ds_cuda_nccl *c, int64_t rows) {
    if (rows <= c->rows) return 0;
    CUDA_TRY(cudaFree(c->max));
    c->max = NULL, c->rows = 0;
    DS_TRY(ds_cuda_alloc((void **)&c->max, sizeof(double) * (size_t)rows, "NCCL maxima"));
    c->rows = rows;
    return 0;
}

int ds_cuda_nccl_merge(ds_cuda_nccl *c, ds_softmax_state st, int64_t rows, int64_t d,
                       ds_sigma2 s2) {
    DS_TRY(reserve(c, rows));
    size_t r = (size_t)rows;
    // The default stream's kernels and c->stream's collectives order each other (a
    // blocking stream); the last synchronisation reports a failed collective here.
    NCCL_TRY(ncclAllReduce(st.max, c->max, r, ncclDouble, ncclMax, c->comm, c->stream));
    CUDA_TRY(cudaStreamSynchronize(c->stream));
    CUDA_TRY(ds_launch_softmax_rebase(st, c->max, rows, d, s2));
    CUDA_TRY(cudaDeviceSynchronize());
    NCCL_TRY(ncclGroupStart());
    NCCL_TRY(ncclAllReduce(st.sum, st.sum, r, ncclDouble, ncclSum, c->comm, c->stream));
    NCCL_TRY(ncclAllReduce(st.zl, st.zl, r, ncclDouble, ncclSum, c->comm, c->stream));
    NCCL_TRY(ncclAllReduce(st.arg, st.arg, r, ncclInt64, ncclMin, c->comm, c->stream));
    NCCL_TRY(ncclAllReduce(st.acc, st.acc, r * (size_t)d, ncclFloat, ncclSum, c->comm, c->stream));
    NCCL_TRY(ncclGroupEnd());
    CUDA_TRY(cudaStreamSynchronize(c->stream));
    return 0;
}
#else
int ds_cuda_nccl_new(ds_cuda_nccl **out) {
    *out = NULL; // not built: the host merge
    return 0;
}

void ds_cuda_nccl_free(ds_cuda_nccl *c) {
    (void)c;
}
#endif
