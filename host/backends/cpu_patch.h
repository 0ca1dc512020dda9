// The cpu rows of the patch models els (host/backends/cpu_els.c) and pspc (cpu_pspc.c),
// run by cpu_local.c over a batch: the float32 training rows y (n x d) of model m, one
// float32 query x (d) at sigma into out (d), with work_len(m) doubles of work. Distances,
// weights and sums are formed in double from the float32 values.
#ifndef DS_CPU_PATCH_H
#define DS_CPU_PATCH_H

#include <stdint.h>

#include "ds_model.h"

// A candidate whose logit is this far below its softmax's running maximum weighs under
// e^-50 of the top one: skipped (at most N x positions of them, a relative 1e-13 for
// 60,000 images of 32 x 32).
#define DS_PATCH_SKIP 50.0

void cpu_els_row(const ds_model *m, const float *y, const float *x, double sigma, float *out,
                 double *work);
int64_t cpu_els_work_len(const ds_model *m);
void cpu_pspc_row(const ds_model *m, const float *y, const float *x, double sigma, float *out,
                  double *work);
int64_t cpu_pspc_work_len(const ds_model *m);

#endif
