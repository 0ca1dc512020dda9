// CUDA device discovery for `diffsamp info` and backend selection.
#include <cuda_runtime.h>
#include <stdio.h>

#include "cuda_check.h"
#include "ds_backend.h"
#include "ds_version.h"

extern "C" int ds_cuda_device_count(void) {
    int n = 0;
    // No driver or no device is not an error here: the caller falls back to the cpu.
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

extern "C" int ds_cuda_use_device(int index) {
    CUDA_TRY(cudaSetDevice(index));
    return 0;
}

extern "C" int ds_cuda_current_device(void) {
    int index = -1;
    CUDA_TRY(cudaGetDevice(&index));
    return index;
}

extern "C" int ds_cuda_print_devices(FILE *f) {
    int n = ds_cuda_device_count();
    for (int i = 0; i < n; i++) {
        cudaDeviceProp p;
        CUDA_TRY(cudaGetDeviceProperties(&p, i));
        fprintf(f, "  device %d: %s, sm_%d%d, %.1f GiB, %d SMs\n", i, p.name, p.major, p.minor,
                (double)p.totalGlobalMem / (1 << 30), p.multiProcessorCount);
    }
    return 0;
}
