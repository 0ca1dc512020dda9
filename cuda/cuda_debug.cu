// Test aids: raw device Philox outputs, to compare bitwise with the host stream.
#include "cuda_check.h"
#include "cuda_internal.h"
#include "ds_cuda_debug.h"

extern "C" int ds_cuda_philox_uniforms(uint64_t seed, int64_t first_row, int64_t rows, int64_t cols,
                                       uint32_t *out) {
    size_t bytes = sizeof(uint32_t) * (size_t)(rows * cols);
    uint32_t *dev = NULL;
    DS_TRY(ds_cuda_alloc((void **)&dev, bytes, "raw Philox outputs"));
    cudaError_t err = ds_launch_philox_raw(dev, rows, cols, seed, first_row);
    if (err == cudaSuccess) err = cudaMemcpy(out, dev, bytes, cudaMemcpyDeviceToHost);
    CUDA_TRY(cudaFree(dev));
    if (err != cudaSuccess)
        return ds_fail("cuda: philox_raw kernel or its download failed: %s",
                       cudaGetErrorString(err));
    return 0;
}
