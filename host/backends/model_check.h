// The model check every backend's bind runs first, so that no backend reads a factor
// the model lacks.
#ifndef DS_MODEL_CHECK_H
#define DS_MODEL_CHECK_H

#include "ds_model.h"

#ifdef __cplusplus
extern "C" {
#endif

// 0 when m has what its kind needs (empirical: n >= 1 training rows of dimension d >= 1
// and their mean; Gaussian / mixture: k >= 1 components, 1 <= r <= d, weights, means,
// eigenvalues, eigenvectors, residuals), else -1 with a message naming the backend `who`.
int ds_backend_check_model(const char *who, const ds_model *m);

#ifdef __cplusplus
}
#endif

#endif
