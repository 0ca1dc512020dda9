// Steps shared by model fitting (fit_gaussian.c, fit_gmm.c) and model loading
// (model_io.c): float64 moments of data rows and the eigendecomposition of a covariance.
#ifndef DS_FIT_COMMON_H
#define DS_FIT_COMMON_H

#include <stdint.h>

#include "ds_model.h"

// Rows idx[first .. first+count) of data (rows first .. first+count when idx is NULL)
// as float64, minus shift (d values) when shift is not NULL.
void fit_rows_f64(const ds_data *data, const int64_t *idx, int64_t first, int64_t count,
                  const double *shift, double *out);
// Mean of all rows and their root-mean-square deviation from it (sigma_data).
void fit_mean_rms(const ds_data *data, double *mean, double *sigma_data);
// Mean (d) and covariance (d x d, normalised by n) of the n rows listed in idx (all rows
// when idx is NULL), accumulated in float64 over centred chunks with dsyrk.
int fit_moments(const ds_data *data, const int64_t *idx, int64_t n, double *mean, double *cov);
// Top r eigenpairs of the symmetric d x d matrix cov (upper triangle read, destroyed):
// eigvals descending (r), eigvecs d x r (column j is eigenvector j), and residual = the
// mean of the other d - r eigenvalues (0 when r == d). Eigenvalues that are negative
// only by rounding are clamped to 0; a clearly negative one is an error naming what.
int fit_decompose(const char *what, double *cov, int64_t d, int64_t r, double *eigvals,
                  double *eigvecs, double *residual);

// The data mean and rms deviation implied by a mixture (m->mean and m->sigma_data, from
// its weights, means, eigenvalues and residuals): mean = sum w mu, and the total variance
// sum w (trace Sigma + |mu - mean|^2) spread over d coordinates (model_class.c).
int model_mixture_moments(ds_model *m);

// The Gaussian and mixture fits: fill k, r, weights, means, eigvals, eigvecs and
// residual of m (m->d and the data mean are already set).
int fit_gaussian(const ds_data *data, const ds_fit_opts *o, ds_model *m);
int fit_gmm(const ds_data *data, const ds_fit_opts *o, ds_model *m);
// The Wiener filter of pca_locality: the full-rank Gaussian with the unbiased covariance
// (normalised by N - 1, as the studio's code computes it).
int fit_wiener(const ds_data *data, ds_model *m);

#endif
