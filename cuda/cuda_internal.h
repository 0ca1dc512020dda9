// Shared state of the cuda backend's host files (cuda/*.cu): the backend context, the
// device-resident model and its workspace.
#ifndef DS_CUDA_INTERNAL_H
#define DS_CUDA_INTERNAL_H

#include <cublas_v2.h>
#include <stdint.h>

#include "ds_backend.h"
#include "ds_kernels.h"

typedef struct ds_cuda_over ds_cuda_over;
typedef struct ds_cuda_local ds_cuda_local;
typedef struct ds_cuda_variance ds_cuda_variance;
typedef struct ds_cuda_prune ds_cuda_prune;
typedef struct ds_cuda_nccl ds_cuda_nccl;

typedef struct {
    cublasHandle_t blas;
    float *staging; // host floats for upload/download conversions
    size_t staging_len;
    int poison;        // DIFFSAMP_CUDA_POISON=1: fill every kernel output with NaN first
    int64_t *rows_dev; // move_rows: the two index lists on the device
    size_t rows_len;   // entries rows_dev holds
} ds_cuda_ctx;

// Per-query-row buffers, sized for ws_rows rows (the largest batch seen, or fewer
// when memory is short: the batch is then processed in blocks of ws_rows rows).
typedef struct {
    int64_t rows;         // rows allocated
    int64_t planned;      // largest batch already planned for (rows < planned: blocks)
    float *xc;            // rows x d: centred queries
    double *s2;           // rows: per-row sigma^2 when sigma is given per row
    float *logits;        // empirical GEMM path: rows x piece_rows products, then weights
    double *chunk_max;    // empirical: rows
    int64_t *chunk_arg;   // empirical: rows
    ds_refine_buf refine; // empirical GEMM path: rows x DS_REFINE_MAX candidates
    ds_softmax_state st;  // empirical: running softmax and accumulator
    float *proj;          // gaussian / gmm: rows x (k r)
    double *logp;         // gmm: rows x k component log densities
    float *rho;           // gmm: rows x k component weights
} ds_cuda_workspace;

struct ds_bound_model {
    const ds_model *m;
    ds_cuda_ctx *ctx;
    double *mean; // d: data mean (double: queries are centred as the training rows are)
    // Empirical: the training rows held, [first, first + n) (this rank's under
    // --shard-data, whose states are then merged over the ranks: sharded), centred, in
    // n_pieces separate allocations of piece_rows rows (the last may be shorter), |y|^2 / 2
    // per row in double, and max |y|.
    int64_t first, n, n_pieces, piece_rows;
    int sharded;
    ds_cuda_nccl *nccl; // sharded, in a build with NCCL: the merge between GPUs, else NULL
    float **y;
    double **half_sq;
    double y_norm;
    int fused; // use the fused small-d kernel
    // Gaussian / mixture: Ucat = [U_1 ... U_k] (d x k r), offset = U_c^T (mu_c - mean),
    // component means (k x d), eigenvalues (k x r), residuals, log weights.
    float *ucat, *means;
    double *offset, *eigvals, *residual, *log_weights;
    ds_cuda_workspace ws;
    ds_cuda_over *over;         // nearest, smoothed: over an empirical binding (cuda_smoothed.cu)
    ds_cuda_local *local;       // pca_locality, ls (cuda_local.cu)
    ds_cuda_variance *variance; // variance (cuda_variance.cu)
    ds_cuda_prune *prune;       // empirical: certified pruning (cuda_prune.cu), or NULL
    size_t prune_row_bytes;     // its workspace per query row, fitted with the rest
};

ds_cuda_ctx *ds_cuda_ctx_of(ds_backend *b);
// cuda/cuda_memory.cu:
// The integer value of environment variable name (a test aid's setting), else fallback.
int64_t ds_cuda_env_int(const char *name, int64_t fallback);
// Fills n bytes of device memory with NaN when poisoning is on (a test aid).
int ds_cuda_poison(const ds_cuda_ctx *ctx, void *p, size_t n);
// cudaMalloc with a clear message naming what was being allocated.
int ds_cuda_alloc(void **p, size_t bytes, const char *what);
// The context's host staging buffer, grown to at least count floats.
float *ds_cuda_staging(ds_cuda_ctx *ctx, size_t count); // NULL: out of memory (recorded)
// Copies count host doubles to device floats through the context's staging buffer.
int ds_cuda_upload_floats(ds_cuda_ctx *ctx, float *dst, const double *src, size_t count);
// dst[i] = sigma[i]^2 for i < rows (device doubles; the per-row sigmas of a denoise).
int ds_cuda_upload_squares(double *dst, const double *sigma, int64_t rows);
// Allocates *dst (count doubles, named what in errors) and copies src into it.
int ds_cuda_upload_doubles(double **dst, const double *src, size_t count, const char *what);

// Workspace bytes per query row (cuda/cuda_workspace.cu); piece_rows: the empirical
// model's training rows per piece.
size_t ds_cuda_row_bytes(const ds_model *m, int64_t piece_rows);
// Workspace for at least min(rows, what memory allows) query rows.
int ds_cuda_workspace_reserve(ds_bound_model *bm, int64_t rows);
void ds_cuda_workspace_free(ds_cuda_workspace *ws);

// Empirical model (cuda/cuda_empirical.cu).
int ds_cuda_empirical_bind(ds_bound_model *bm);
// Training rows per device piece ($DIFFSAMP_CUDA_CHUNK, else 1 GiB of floats) for
// held training rows.
int64_t ds_cuda_piece_rows(const ds_model *m, int64_t held);
void ds_cuda_empirical_unbind(ds_bound_model *bm);
// Denoises rows query rows of x into out (device pointers) with the workspace.
int ds_cuda_empirical_denoise(ds_bound_model *bm, const float *x, int64_t rows, ds_sigma2 s2,
                              float *out);
// The diagnostics of the last denoise's rows query rows (from the running softmax state:
// top weight 1 / sum, entropy log(sum) - zl / sum) into diag at first + at[i] (at NULL:
// first + i).
int ds_cuda_empirical_diag(ds_bound_model *bm, ds_diag *diag, int64_t first, const int64_t *at,
                           int64_t rows);

// Certified pruning of the empirical denoiser (cuda/cuda_prune.cu): the index of the
// bound rows for certificate eps, counts into *stats; NULL on failure (error recorded).
ds_cuda_prune *ds_cuda_prune_new(const ds_bound_model *bm, double eps, ds_prune_stats *stats);
void ds_cuda_prune_free(ds_cuda_prune *p);
// Workspace bytes per query row (0 for NULL).
size_t ds_cuda_prune_row_bytes(const ds_cuda_prune *p);
// D of rows query rows x (device) at s2 into out (may alias x), with their diagnostics at
// r0 + i in diag (may be NULL): pruned where it pays, the others by
// ds_cuda_empirical_denoise. sigma: the block's host sigmas when per_row.
int ds_cuda_prune_denoise(ds_bound_model *bm, const float *x, int64_t rows, const double *sigma,
                          int per_row, ds_sigma2 s2, float *out, ds_diag *diag, int64_t r0);

// --shard-data (cuda/cuda_shard.cu): the running states of rows query rows over this
// rank's training rows become those over every rank's (before the finish).
int ds_cuda_shard_merge(ds_bound_model *bm, int64_t rows, ds_sigma2 s2);
// The NCCL merge (cuda/cuda_nccl.cu). Collective: every rank's communicator, or *out
// NULL in a build without NCCL or with DIFFSAMP_NCCL=0 (the host merge then).
int ds_cuda_nccl_new(ds_cuda_nccl **out);
void ds_cuda_nccl_free(ds_cuda_nccl *c);
#ifdef DIFFSAMP_HAVE_NCCL
// In place on the device: the states of rows query rows merged over the ranks.
int ds_cuda_nccl_merge(ds_cuda_nccl *c, ds_softmax_state st, int64_t rows, int64_t d, ds_sigma2 s2);
#endif

// Gaussian and mixture models (cuda/cuda_gmm.cu).
int ds_cuda_gmm_bind(ds_bound_model *bm);
void ds_cuda_gmm_unbind(ds_bound_model *bm);
int ds_cuda_gmm_apply(ds_bound_model *bm, const float *x, int64_t rows, ds_gauss_map map,
                      float *out);

// nearest and smoothed (cuda/cuda_smoothed.cu): models that the empirical denoiser of the
// same rows evaluates, through an inner empirical binding on backend b.
int ds_cuda_over_kind(ds_model_kind kind);
int ds_cuda_over_bind(ds_backend *b, ds_bound_model *bm);
void ds_cuda_over_unbind(ds_bound_model *bm);
int ds_cuda_over_denoise(ds_bound_model *bm, const ds_batch *x, const double *sigma,
                         int64_t n_sigma, ds_batch *out);
void ds_cuda_over_memory(ds_backend *b, const ds_model *m, int64_t rows, ds_backend_memory *out);

// The masked local models pca_locality and ls (cuda/cuda_local.cu).
int ds_cuda_local_kind(ds_model_kind kind);
int ds_cuda_local_bind(ds_bound_model *bm);
void ds_cuda_local_unbind(ds_bound_model *bm);
int ds_cuda_local_denoise(ds_bound_model *bm, const ds_batch *x, const double *sigma,
                          int64_t n_sigma, ds_batch *out);
void ds_cuda_local_memory(const ds_model *m, int64_t rows, ds_backend_memory *out);

// The variance model (cuda/cuda_variance.cu).
int ds_cuda_variance_bind(ds_bound_model *bm);
void ds_cuda_variance_unbind(ds_bound_model *bm);
int ds_cuda_variance_denoise(ds_bound_model *bm, const ds_batch *x, const double *sigma,
                             int64_t n_sigma, ds_batch *out);
void ds_cuda_variance_memory(const ds_model *m, int64_t rows, ds_backend_memory *out);

#endif
