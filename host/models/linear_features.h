// The linear_features model (model_linear_features.c): the paper's linear Gaussian-feature
// denoiser for 1-D and 2-D data, shared by the fit, the model folder and the backends.
#ifndef DS_LINEAR_FEATURES_H
#define DS_LINEAR_FEATURES_H

#include <stdint.h>

#include "ds_data.h"
#include "ds_model.h"

// At most this many bumps per axis and features in all (F^d F): the fit holds an F x F
// covariance in double (128 MiB at 4,096) and factors it (~2e10 flops).
#define LINEAR_FEATURES_MAX_AXIS 64
#define LINEAR_FEATURES_MAX 4096

// The authors' defaults (functions/linear_functions_*d.py and the figures' notebooks).
#define LINEAR_FEATURES_DRAWS 500
#define LINEAR_FEATURES_CUTOFF 0.01
#define LINEAR_FEATURES_RIDGE 0.1
#define LINEAR_FEATURES_RANGE 1.5

// F^d F for d coordinates and F bumps per axis.
int64_t linear_features_count(int64_t d, int64_t per_axis);
// The VP time t of diffsamp's sigma: alpha(t) = exp(-(0.1 t + 19.9 t^2 / 2)) and
// sigma = sqrt(1 - alpha^2) / alpha.
double linear_features_time(double sigma);
// Checks the parameters (who names the caller): 0, or -1 with one line.
int linear_features_check(const char *who, int64_t d, int64_t per_axis, int64_t draws,
                          double cutoff, double ridge, double range);
// Fits W to data (d <= 2) with the options' parameters; sets out's feature fields.
int linear_features_fit(const ds_data *data, const ds_fit_opts *o, ds_model *out);
// out (d) = D(x; sigma) = W phi(x / sqrt(1 + sigma^2), t(sigma)), in double.
void linear_features_row(const ds_model *m, const double *x, double sigma, double *out);

#endif
