// Certified pruning of the cpu empirical denoiser (host/backends/cpu_prune.c): queries
// whose softmax is concentrated are evaluated over the training rows that a cheap lower
// bound on the distance cannot rule out; the others go to the dense path.
#ifndef DS_CPU_PRUNE_H
#define DS_CPU_PRUNE_H

#include <stdint.h>

#include "ds_backend.h"

typedef struct cpu_prune cpu_prune;

// The centred rows as the cpu empirical denoiser keeps them (owned by it).
typedef struct {
    int64_t n, d;
    const float *y;        // n x d rows minus the mean
    const double *half_sq; // |y_i|^2 / 2
    const double *mean;    // d
    double y_norm;         // max_i |y_i|
} cpu_rows;

// The pruning index of the rows (principal directions, the rows' projections) for the
// certificate eps in (0, 1e-3]; the counts go to *stats. NULL on failure (error recorded).
cpu_prune *cpu_prune_new(const cpu_rows *rows, double eps, ds_prune_stats *stats);
void cpu_prune_free(cpu_prune *p);
// Bytes of the index (*model) and of a call on `rows` queries (*work) for model m.
void cpu_prune_memory(const ds_model *m, int64_t rows, uint64_t *model, uint64_t *work);

// For `rows` queries x (floats, rows x d) at sigma (one, or one per row): each query for
// which the pruned evaluation pays (the cost model in cpu_prune.c) gets out and its diag
// entries (index i, either may be NULL) and done[i] = 1; the others done[i] = 0, for the
// dense path. Returns -1 (error recorded) when its workspace cannot be allocated.
int cpu_prune_denoise(cpu_prune *p, const float *x, int64_t rows, const double *sigma,
                      int64_t n_sigma, float *out, const ds_diag *diag, uint8_t *done);

// The tests' view of the certificate for one query at sigma: keep[i] = 1 for the training
// rows the pruned evaluation computes, 0 for those it skips (all 1 where the query is
// not pruned). Returns 1 when pruned, 0 when not, -1 on an allocation failure.
int cpu_prune_kept(const cpu_prune *p, const float *x, double sigma, uint8_t *keep);

#endif
