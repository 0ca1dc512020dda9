// Analysis of sampling runs: trajectory geometry, memorisation, PCA-Frechet distance,
// error against a reference run, and the comparison of two denoisers across noise levels.
#ifndef DS_ANALYSIS_H
#define DS_ANALYSIS_H

#include <stdint.h>
#include <stdio.h>
#include "ds_backend.h"
#include "ds_data.h"

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default) // the public API: exported from the shared library

// ---- summary statistics ----

// Statistics over the finite values of a list (NaN entries are skipped and counted in
// n_nan). Quantiles interpolate linearly between order statistics (numpy's default).
typedef struct {
    int64_t n, n_nan;
    double mean, min, q05, q25, q50, q75, q95, max;
} ds_stats;

// Moves the rows (n rows of d values) where a and b (b may be NULL) are finite to the
// front of a and b, keeping their order; idx (may be NULL) receives their original
// indices. Returns how many there are: a diverged sample (NaN or Inf) is counted, not
// measured.
int64_t ds_finite_rows(double *a, double *b, int64_t n, int64_t d, int64_t *idx);
// 0, or -1 with the error recorded when memory runs out.
int ds_stats_of(const double *v, int64_t n, ds_stats *out);
// Strided form: v[0], v[stride], ..., v[(n - 1) * stride].
int ds_stats_strided(const double *v, int64_t n, int64_t stride, ds_stats *out);
// n points uniform in log from lo to hi (n >= 2), ascending.
void ds_log_grid(double lo, double hi, int n, double *out);
// Relative L2 error of each row against a reference run: |x_i - ref_i| / |ref_i|.
void ds_rel_error_rows(const double *x, const double *ref, int64_t rows, int64_t d, double *err);

// ---- trajectory geometry ----

// A recorded run of b samples over `steps` schedule points. Point 0 is at sigma_max,
// point steps - 1 is the final sample. x: steps x b x d (the sampling trajectory x_i);
// denoised: n_denoised x b x d (the denoising trajectory D(x_i; sigma_i); n_denoised is
// steps, or steps - 1 when no evaluation is made at the final point).
typedef struct {
    int64_t steps, b, d, n_denoised;
    const double *x;
    const double *denoised;
} ds_traj_view;

typedef struct {
    int64_t steps, b, n_denoised;
    // b x steps: distance of x_s from the straight line through x_0 and the final x,
    // divided by the length of that chord.
    double *deviation;
    // b x (steps - 2): angle in degrees between the steps x_{s+1} - x_s and
    // x_{s+2} - x_{s+1} (NaN where a step has zero length).
    double *angle;
    // b x 3: fraction of the variance of the points x_0 .. x_final (centred over the
    // points) in the top 1, 2 and 3 principal components (NaN when the points coincide, to 1e-10 of
    // their norm).
    double *pca_frac;
    // b x steps: |x_s - x_final|; b x n_denoised: |D(x_s; sigma_s) - x_final|.
    double *dist_x;
    double *dist_denoised;
} ds_traj_geometry;

int ds_traj_geometry_compute(const ds_traj_view *t, ds_traj_geometry *out);
void ds_traj_geometry_free(ds_traj_geometry *g);

// ---- memorisation ----

// A sample is memorised when its nearest training row is closer than 1/3 of the
// distance to the second-nearest one.
#define DS_MEMORIZED_RATIO (1.0 / 3.0)

typedef struct {
    int64_t b;
    int64_t *nearest; // index of the nearest training row
    double *d1, *d2;  // Euclidean distance to the nearest and second-nearest rows
    double *ratio;    // d1 / d2
    double fraction;  // fraction of samples with ratio < DS_MEMORIZED_RATIO
} ds_memorization;

// The two nearest training rows of each of b rows of x (b x d), by chunked DGEMM on
// centred data (|x|^2 - 2 x.y + |y|^2), with the two distances recomputed directly at
// the end. The training set needs at least 2 rows.
int ds_nearest2(const ds_data *train, const double *x, int64_t b, int64_t *nearest, double *d1,
                double *d2);
int ds_memorization_compute(const ds_data *train, const double *x, int64_t b, ds_memorization *out);
void ds_memorization_free(ds_memorization *m);

// ---- class histograms ----

// The number of classes of a labelled data set: its largest label + 1. Errors for data
// without labels or with a negative label.
int ds_class_count(const ds_data *train, int64_t *n_classes);
// counts[c] (c < n_classes) = how many of rows[0 .. m) have training label c; rows NULL:
// the training rows 0 .. m - 1. The labels must lie in [0, n_classes) (ds_class_count).
void ds_class_histogram(const ds_data *train, const int64_t *rows, int64_t m, int64_t n_classes,
                        int64_t *counts);
// Total variation distance between two histograms as distributions:
// 0.5 sum_c |a_c / sum a - b_c / sum b| (NaN when either is empty).
double ds_histogram_tv(const int64_t *a, const int64_t *b, int64_t k);

// ---- PCA-Frechet distance ----

typedef struct {
    int64_t d, k;
    double *mean;     // d
    double *basis;    // d x k, column j the j-th principal direction
    double *eigvals;  // k, descending (variances along the basis)
    double total_var; // trace of the covariance
} ds_pca;

// Top-k principal components of the training rows (covariance in float64).
int ds_pca_fit(const ds_data *train, int64_t k, ds_pca *out);
void ds_pca_free(ds_pca *p);
// z (n x k) = (x - mean) basis; -1 with the error recorded when memory runs out.
int ds_pca_project(const ds_pca *p, const double *x, int64_t n, double *z);
// Frechet distance between Gaussians fitted to two sets of k-vectors (unbiased
// covariances): |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2).
int ds_frechet(const double *za, int64_t na, const double *zb, int64_t nb, int64_t k, double *fd);
// The Frechet distance of two sets of rows in the space of the PCA basis.
int ds_pca_frechet(const ds_pca *p, const double *a, int64_t na, const double *b, int64_t nb,
                   double *fd);

// ---- denoiser comparison ----

// For each sigma, the points x = y_i + sigma n_i (n_i standard normal from the backend's
// randn with seed, row i) and the denoisers of models[0] (the reference) and of
// models[1 .. n_models - 1] on them. For model m >= 1, entry (m - 1) * n_sigmas + s of
// rel_diff = |D_m - D_ref| / |D_ref| (Frobenius norms over all rows) and of
// score_ev = 1 - |D_m - D_ref|^2 / |D_ref - x|^2, the explained variance of the reference
// score by model m's score (Wang & Vastola); either output may be NULL. The reference
// is evaluated once per sigma.
int ds_denoiser_diff(ds_backend *be, ds_bound_model *const *models, int n_models, const double *y,
                     int64_t n, int64_t d, const double *sigmas, int n_sigmas, uint64_t seed,
                     double *rel_diff, double *score_ev);
// The crossover noise level: the largest sigma of the (ascending) grid where rel_diff
// exceeds threshold, refined by log-log interpolation towards the next larger grid
// sigma where it does not. NaN when rel_diff never exceeds the threshold; the largest
// grid sigma when it exceeds it there.
double ds_crossover_sigma(const double *sigmas, const double *rel_diff, int n, double threshold);

// ---- result tables ----

// A table of text cells, filled row by row, printed aligned and written as CSV.
typedef struct {
    int cols;
    int64_t cells, cap;
    char **cell; // row-major; the first `cols` cells are the header
    int failed;  // memory ran out while cells were added (the error is recorded)
} ds_table;

// Starts a table with the given header (column names joined by commas).
void ds_table_init(ds_table *t, const char *header);
// Appends one cell (printf-style); rows fill left to right.
void ds_table_add(ds_table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// Printing and writing a table that ran out of memory while it was filled fail with -1.
int ds_table_print(const ds_table *t, FILE *f);
// Writes the table as CSV, atomically.
int ds_table_write_csv(const ds_table *t, const char *path);
void ds_table_free(ds_table *t);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif

#endif
