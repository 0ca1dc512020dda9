// Test aids of the cuda backend, callable from C.
#ifndef DS_CUDA_DEBUG_H
#define DS_CUDA_DEBUG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// The raw Philox outputs behind the cuda randn, computed on the device: out[i * cols + j]
// = ds_philox_block(seed, first_row + i, j).v[j % 4] (rows x cols host array).
int ds_cuda_philox_uniforms(uint64_t seed, int64_t first_row, int64_t rows, int64_t cols,
                            uint32_t *out);

#ifdef __cplusplus
}
#endif

#endif
