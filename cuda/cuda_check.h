// Error-check macros for CUDA and cuBLAS calls. The TRY forms record the call, the error
// string and the place with ds_fail and return -1. The RELEASE forms are for the teardown
// entries (free, unbind, destroy), which have no status to return: they print the same
// message as a warning on stderr and go on releasing the rest. Nothing here exits.
#ifndef DS_CUDA_CHECK_H
#define DS_CUDA_CHECK_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#include "ds_error.h"

// Prints "diffsamp: warning: <message> (while releasing device resources)" on stderr and
// returns -1: for teardown, where a failed release (a sticky error from an earlier fault,
// usually reported already) can only be made visible, not passed on.
int ds_cuda_release_failed(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define DS_CUDA_REPORT(report, kind, call, text)                                                   \
    report("%s error in %s (%s:%d): %s", kind, call, __FILE__, __LINE__, text)

#define CUDA_RELEASE(call)                                                                         \
    do {                                                                                           \
        cudaError_t err_ = (call);                                                                 \
        if (err_ != cudaSuccess)                                                                   \
            DS_CUDA_REPORT(ds_cuda_release_failed, "CUDA", #call, cudaGetErrorString(err_));       \
    } while (0)

#define CUBLAS_RELEASE(call)                                                                       \
    do {                                                                                           \
        cublasStatus_t st_ = (call);                                                               \
        if (st_ != CUBLAS_STATUS_SUCCESS)                                                          \
            DS_CUDA_REPORT(ds_cuda_release_failed, "cuBLAS", #call, cublasGetStatusString(st_));   \
    } while (0)

#define CUDA_TRY(call)                                                                             \
    do {                                                                                           \
        cudaError_t err_ = (call);                                                                 \
        if (err_ != cudaSuccess)                                                                   \
            return DS_CUDA_REPORT(ds_fail, "CUDA", #call, cudaGetErrorString(err_));               \
    } while (0)

#define CUBLAS_TRY(call)                                                                           \
    do {                                                                                           \
        cublasStatus_t st_ = (call);                                                               \
        if (st_ != CUBLAS_STATUS_SUCCESS)                                                          \
            return DS_CUDA_REPORT(ds_fail, "cuBLAS", #call, cublasGetStatusString(st_));           \
    } while (0)

#endif
