// The denoisers of the cpu backend (float32, OpenBLAS SGEMM, OpenMP row loops): the
// empirical model (host/backends/cpu_empirical.c) and the Gaussian mixture, Gaussian = one
// component (host/backends/cpu_gmm.c). Batches are row-major float arrays of rows x d.
#ifndef DS_CPU_MODELS_H
#define DS_CPU_MODELS_H

#include <stdint.h>

#include "ds_backend.h"

typedef struct cpu_empirical cpu_empirical;
typedef struct cpu_gmm cpu_gmm;
typedef struct cpu_local cpu_local;
typedef struct cpu_variance cpu_variance;

// Copies the training rows, centred, into float32. NULL (error recorded) on failure.
cpu_empirical *cpu_empirical_new(const ds_model *m);
void cpu_empirical_free(cpu_empirical *e);
// Certified pruning (cpu_prune.c) of this denoiser from now on, with certificate eps;
// *stats accumulates its counts. -1 (error recorded) when its index cannot be built.
int cpu_empirical_prune(cpu_empirical *e, double eps, ds_prune_stats *stats);
// Test aid: the rows the pruned evaluation of one query x at sigma computes (keep[i] = 1;
// all where it is not pruned). 1 pruned, 0 not, -1 on error (pruning off included).
int cpu_empirical_prune_kept(const cpu_empirical *e, const float *x, double sigma, uint8_t *keep);
// The same for a model bound on the cpu backend (the conformance test's view).
int cpu_bound_prune_kept(ds_bound_model *bm, const float *x, double sigma, uint8_t *keep);
// out = D(x; sigma) on rows rows; sigma has one value (n_sigma == 1) or one per row;
// diag (may be NULL) receives rows entries from index 0.
int cpu_empirical_denoise(const cpu_empirical *e, const float *x, int64_t rows, const double *sigma,
                          int64_t n_sigma, float *out, const ds_diag *diag);

// The bytes the empirical denoiser keeps for model m (*model) and allocates to denoise
// `rows` rows at once (*work).
void cpu_empirical_memory(const ds_model *m, int64_t rows, uint64_t *model, uint64_t *work);

cpu_gmm *cpu_gmm_new(const ds_model *m);
// The same for the mixture (and the Gaussian, one component).
void cpu_gmm_memory(const ds_model *m, int64_t rows, uint64_t *model, uint64_t *work);
void cpu_gmm_free(cpu_gmm *g);
int cpu_gmm_denoise(const cpu_gmm *g, const float *x, int64_t rows, const double *sigma,
                    int64_t n_sigma, float *out);
// The exact probability-flow map of a one-component model from sigma_from to sigma_to.
int cpu_gmm_flow(const cpu_gmm *g, const float *x, int64_t rows, double sigma_from, double sigma_to,
                 float *out);

// The local models (pca_locality, ls, els, pspc; host/backends/cpu_local.c): keeps the
// mask of the last sigma, so the handle is not const.
cpu_local *cpu_local_new(const ds_model *m);
void cpu_local_free(cpu_local *l);
int cpu_local_denoise(cpu_local *l, const float *x, int64_t rows, const double *sigma,
                      int64_t n_sigma, float *out);
// The bytes the local denoiser keeps for model m (*model) and allocates to denoise
// `rows` rows at once (*work).
void cpu_local_memory(const ds_model *m, int64_t rows, uint64_t *model, uint64_t *work);

// The variance model (host/backends/cpu_variance.c): centred double rows, DGEMM products.
cpu_variance *cpu_variance_new(const ds_model *m);
void cpu_variance_free(cpu_variance *v);
void cpu_variance_memory(const ds_model *m, int64_t rows, uint64_t *model, uint64_t *work);
int cpu_variance_denoise(const cpu_variance *v, const float *x, int64_t rows, const double *sigma,
                         int64_t n_sigma, float *out);

#endif
