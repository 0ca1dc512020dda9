// The index of certified pruning that the cpu and cuda backends share: k orthonormal
// directions near the top principal subspace of the centred training rows and the rows'
// projections on them, with the rounding facts the certificate needs (cpu_prune.c
// derives it; cuda/cuda_prune.cu evaluates the same on the device).
#ifndef DS_PRUNE_INDEX_H
#define DS_PRUNE_INDEX_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DS_PRUNE_K 32               // directions of the bound (at most; d / 8 for small d)
#define DS_PRUNE_GATHER_COST 24.0   // measured on cpu: bench_landing --gather-cost
#define DS_PRUNE_MAX_SURVIVORS 8192 // bounds the candidate lists (the workspace) for any N

// Rows [first, first + count) of the n centred training rows, in float32 as the backend
// keeps them, into out (count x d).
typedef void (*ds_prune_rows_fn)(void *user, int64_t first, int64_t count, float *out);

typedef struct {
    int64_t n, d, k;
    double omega;   // |Q^T v|^2 <= (1 + omega) |v|^2 for the stored basis Q
    double *basis;  // d x k, column j is direction j
    float *py;      // n x k projections of the rows (rounded)
    double *py_sq;  // |py_i|^2 of the rounded projections
    double py_max;  // max_i |py_i|
    double res_max; // max_i |(I - P) y_i| (the cost precheck only)
} ds_prune_index;

// The directions for dimension d.
int64_t ds_prune_k(int64_t d);
// The survivors with which a query is pruned, from the cost model: passes bound passes
// of 2 k N flops plus DS_PRUNE_GATHER_COST x 4 d per survivor against the dense 4 N d.
int64_t ds_prune_cap(int64_t n, int64_t d, int64_t k, int passes);
// Fits the directions to (up to 8,192 evenly spread of) the rows and projects every row.
// 0, or -1 with the error recorded (what names the index in messages).
int ds_prune_index_new(ds_prune_index *ix, int64_t n, int64_t d, ds_prune_rows_fn rows, void *user,
                       const char *what);
void ds_prune_index_free(ds_prune_index *ix);

#ifdef __cplusplus
}
#endif

#endif
