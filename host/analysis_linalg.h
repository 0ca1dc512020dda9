// Small dense linear algebra shared by the analysis files.
#ifndef DS_ANALYSIS_LINALG_H
#define DS_ANALYSIS_LINALG_H

#include <stdint.h>

// Eigendecomposition of a symmetric n x n row-major matrix (LAPACKE_dsyevd): on return
// w holds the eigenvalues in ascending order and column j of a the j-th eigenvector.
// `what` names the matrix in the error message.
int analysis_eigh(double *a, int64_t n, double *w, const char *what);

#endif
