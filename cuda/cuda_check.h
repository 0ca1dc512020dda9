// Error-check macros for CUDA, cuBLAS and cuRAND calls: a failure prints the call,
// the error string and the place, and exits.
#ifndef DS_CUDA_CHECK_H
#define DS_CUDA_CHECK_H

#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#define CUDA_CHECK(call)                                                                           \
    do {                                                                                           \
        cudaError_t err_ = (call);                                                                 \
        if (err_ != cudaSuccess) {                                                                 \
            fprintf(stderr, "diffsamp: CUDA error in %s (%s:%d): %s\n", #call, __FILE__, __LINE__, \
                    cudaGetErrorString(err_));                                                     \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#endif
