// Error-check macros for CUDA and cuBLAS calls. The CHECK forms print the call, the
// error string and the place, and exit (for the backend table's entries that return no
// status: upload, download, copy, lincomb, randn, free); the TRY forms record the same
// message with ds_fail and return -1.
#ifndef DS_CUDA_CHECK_H
#define DS_CUDA_CHECK_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#include "ds_error.h"

// Prints "diffsamp: <message>" and exits: only for the table entries without a status.
void ds_cuda_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#define DS_CUDA_REPORT(report, kind, call, text)                                                   \
    report("%s error in %s (%s:%d): %s", kind, call, __FILE__, __LINE__, text)

#define CUDA_CHECK(call)                                                                           \
    do {                                                                                           \
        cudaError_t err_ = (call);                                                                 \
        if (err_ != cudaSuccess)                                                                   \
            DS_CUDA_REPORT(ds_cuda_die, "CUDA", #call, cudaGetErrorString(err_));                  \
    } while (0)

#define CUBLAS_CHECK(call)                                                                         \
    do {                                                                                           \
        cublasStatus_t st_ = (call);                                                               \
        if (st_ != CUBLAS_STATUS_SUCCESS)                                                          \
            DS_CUDA_REPORT(ds_cuda_die, "cuBLAS", #call, cublasGetStatusString(st_));              \
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
