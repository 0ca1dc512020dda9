// Symmetric eigendecomposition through LAPACKE for the analysis files.
#include <lapacke.h>

#include "analysis_linalg.h"
#include "ds_error.h"

int analysis_eigh(double *a, int64_t n, double *w, const char *what) {
    lapack_int info =
        LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)n, a, (lapack_int)n, w);
    if (info != 0)
        return ds_fail("eigendecomposition (LAPACKE_dsyevd) of the %lld x %lld %s failed: info %d",
                       (long long)n, (long long)n, what, (int)info);
    return 0;
}
