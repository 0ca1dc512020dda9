// The masks of the local models (README, section Models): output pixel m of D(x; sigma)
// is a softmax over the training rows y_k of -sum_n mask[n, m] (x_n - y_kn)^2 /
// (2 sigma^2 T), weighting pixel m of each row. A mask is kept by columns, with only
// its non-zero entries, so a binarised, local mask costs its support.
#ifndef DS_LOCAL_MASK_H
#define DS_LOCAL_MASK_H

#include <stdint.h>

#include "ds_model.h"

#ifdef __cplusplus
extern "C" { // also included by the cuda backend (cuda/cuda_local.cu)
#endif

typedef struct {
    int64_t d;
    int64_t *start; // d + 1: column m holds entries start[m] .. start[m + 1]
    int32_t *row;   // the pixel n of each entry
    double *weight; // mask[n, m] (1 for a binarised mask)
} ds_local_mask;

// The mask of model m at noise level sigma. pca_locality, as the studio computes it:
// LLt = U diag(lambda / (lambda + sigma^2)) U^T, row n divided by LLt[n, n] (1 when
// |LLt[n, n]| < 1e-6), then binarised: 1 where |entry| >= mask_threshold * max |entry|,
// 0 elsewhere (mask_threshold 0: not binarised). ls, as Kamb & Ganguli's code: 1 on
// every channel of the patch_size x patch_size window centred on the pixel, clipped at
// the image's edges (their zero padding of the squared differences).
int ds_local_mask_build(const ds_model *m, double sigma, ds_local_mask *out);
void ds_local_mask_free(ds_local_mask *mask);
// 1 for the kinds denoised through a local mask.
int ds_model_is_local(ds_model_kind k);

#ifdef __cplusplus
}
#endif

#endif
