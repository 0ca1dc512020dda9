// The ref denoisers of the patch models els and pspc (host/backends/ref_patch.c): plain
// float64 loops over the formulas of README, section Models. ls is a local model with a
// patch mask (host/models/local_mask.c).
#ifndef DS_REF_PATCH_H
#define DS_REF_PATCH_H

#include "ds_model.h"

// els: out (d) = D(x; sigma) for one query x (d).
void ref_els_row(const ds_model *m, const double *x, double sigma, double *out);
// pspc: the same; work holds n + h w doubles.
void ref_pspc_row(const ds_model *m, const double *x, double sigma, double *out, double *work);

#endif
