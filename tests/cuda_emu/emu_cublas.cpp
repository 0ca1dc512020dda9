// The emulator's cuBLAS: SGEMM by the host's CBLAS (float32 products, as cuBLAS without
// TF32), after the argument checks cuBLAS makes and one it cannot: every matrix, with
// its leading dimension, must lie inside one device allocation.
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

#include "cublas_v2.h"
#include "emu_device.h"

struct ds_emu_cublas {
    cublasMath_t math;
};

extern "C" cublasStatus_t cublasCreate(cublasHandle_t *handle) {
    *handle = (cublasHandle_t)calloc(1, sizeof(struct ds_emu_cublas));
    return *handle ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_ALLOC_FAILED;
}

extern "C" cublasStatus_t cublasDestroy(cublasHandle_t handle) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    free(handle);
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->math = mode;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" const char *cublasGetStatusString(cublasStatus_t status) {
    switch (status) {
    case CUBLAS_STATUS_SUCCESS:
        return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED:
        return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED:
        return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE:
        return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_EXECUTION_FAILED:
        return "CUBLAS_STATUS_EXECUTION_FAILED";
    }
    return "CUBLAS_STATUS_UNKNOWN";
}

// A column-major rows x cols matrix with leading dimension ld lies in device memory.
static int matrix_in_device(const char *what, const float *p, int rows, int cols, int ld) {
    if (rows == 0 || cols == 0) return 1;
    size_t count = (size_t)(cols - 1) * (size_t)ld + (size_t)rows;
    return ds_emu_check_range(what, p, count * sizeof(float)) == cudaSuccess;
}

static int max1(int v) {
    return v > 1 ? v : 1;
}

extern "C" cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa,
                                      cublasOperation_t transb, int m, int n, int k,
                                      const float *alpha, const float *a, int lda, const float *b,
                                      int ldb, const float *beta, float *c, int ldc) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (ds_emu_fault() != cudaSuccess) return CUBLAS_STATUS_EXECUTION_FAILED;
    int a_rows = transa == CUBLAS_OP_N ? m : k, a_cols = transa == CUBLAS_OP_N ? k : m;
    int b_rows = transb == CUBLAS_OP_N ? k : n, b_cols = transb == CUBLAS_OP_N ? n : k;
    if (m < 0 || n < 0 || k < 0 || lda < max1(a_rows) || ldb < max1(b_rows) || ldc < max1(m) ||
        !alpha || !beta)
        return CUBLAS_STATUS_INVALID_VALUE;
    if (!matrix_in_device("cublasSgemm A", a, a_rows, a_cols, lda) ||
        !matrix_in_device("cublasSgemm B", b, b_rows, b_cols, ldb) ||
        !matrix_in_device("cublasSgemm C", c, m, n, ldc))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    CBLAS_TRANSPOSE ta = transa == CUBLAS_OP_N ? CblasNoTrans : CblasTrans;
    CBLAS_TRANSPOSE tb = transb == CUBLAS_OP_N ? CblasNoTrans : CblasTrans;
    cblas_sgemm(CblasColMajor, ta, tb, m, n, k, *alpha, a, lda, b, ldb, *beta, c, ldc);
    return CUBLAS_STATUS_SUCCESS;
}
