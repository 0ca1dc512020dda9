// Test aids of the cuda backend, callable from C.
#ifndef DS_CUDA_DEBUG_H
#define DS_CUDA_DEBUG_H

#include <stdint.h>

#include "ds_backend.h"

#ifdef __cplusplus
extern "C" {
#endif

// The raw Philox outputs behind the cuda randn, computed on the device: out[i * cols + j]
// = ds_philox_block(seed, first_row + i, j).v[j % 4] (rows x cols host array).
int ds_cuda_philox_uniforms(uint64_t seed, int64_t first_row, int64_t rows, int64_t cols,
                            uint32_t *out);

// Certified pruning (on for bm through the prune entry) of one query x (d host floats)
// at sigma: keep[i] = 1 for the training rows the pruned evaluation computes, 0 for those
// it skips (all 1 where the query is not pruned). 1 when pruned, 0 when not, -1 on error.
int ds_cuda_prune_kept(ds_bound_model *bm, const float *x, double sigma, uint8_t *keep);

#ifdef __cplusplus
}
#endif

#endif
