// OpenBLAS's thread count switched off and back around SGEMMs issued from OpenMP threads.
#include <cblas.h>

#include "cpu_blas.h"

int cpu_blas_serial_begin(void) {
    int saved = openblas_get_num_threads();
    openblas_set_num_threads(1);
    return saved;
}

void cpu_blas_serial_end(int saved) {
    openblas_set_num_threads(saved);
}
