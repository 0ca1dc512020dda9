// Analysis of sampling runs: trajectory geometry, memorisation, PCA-Frechet distance,
// error against a reference run, the comparison of two denoisers across noise levels,
// the emergence of principal components and the effect of perturbations along a run.
#ifndef DS_ANALYSIS_H
#define DS_ANALYSIS_H

#include <stdint.h>
#include <stdio.h>
#include "ds_backend.h"
#include "ds_data.h"
#include "ds_sample.h"

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

// ---- emergence of the principal components (Wang & Vastola, outline first) ----

// For every sample i and principal component j of p (k of them): the coordinate of the
// denoised points D(x_s; sigma_s) (t->denoised, projected on p) against that of the final
// sample (the last point of t->x). The emergence sigma is where the coordinate settles:
// below it every later point lies within tol standard deviations (sqrt(eigvals[j])) of the
// final value; the crossing is interpolated between the bracketing schedule points
// (log dev linear in log sigma), and a coordinate never farther than tol settles at sigmas[0].
// sigmas: t->steps values, decreasing (the last may be 0).
typedef struct {
    int64_t b, k;
    double *sigma;     // b x k: emergence sigma of component j in sample i
    double *final;     // b x k: the final coordinate in standard deviations
    double *median;    // k: the median of sigma over samples
    double *q25, *q75; // k: its quartiles
    double *at_start;  // k: fraction of samples settled at sigmas[0]
    double spearman;   // rank correlation of median with the eigenvalues (over components)
} ds_emergence;

int ds_emergence_compute(const ds_traj_view *t, const double *sigmas, const ds_pca *p, double tol,
                         ds_emergence *out);
void ds_emergence_free(ds_emergence *e);
// The Gaussian model's emergence sigma of a component of variance lambda whose final
// coordinate lies g standard deviations from the mean, in closed form
// (analysis_emergence.c: sqrt(lambda ((1 - tol / |g|)^-2 - 1))), capped at sigma_max, the
// value for a coordinate settled from the start (|g| <= tol). With g at the median of
// |N(0, 1)|, DS_HALF_NORMAL_MEDIAN, it is the median over samples.
double ds_emergence_gaussian(double lambda, double tol, double g, double sigma_max);
#define DS_HALF_NORMAL_MEDIAN 0.67448975019608174
// *rho = Spearman's rank correlation of a and b (ties take their mean rank); NaN for
// n < 2, a NaN entry or a constant list. 0, or -1 with the error recorded when memory
// runs out.
int ds_spearman(const double *a, const double *b, int64_t n, double *rho);

// ---- perturbation (Wang & Vastola: early perturbations matter more) ----

// The run of c on model m (deterministic sampler, no teleport), with its trajectory
// x_0 .. x_steps; then for every schedule point k < steps two restarts from x_k on the
// rest of the schedule: as it is (restart), and with x_k,i moved by size |x_k,i| along a
// fixed random direction u_i (the Philox normals of row i under ds_philox_draw_key(seed,
// 0)) (perturbed). Restarting both keeps a multistep solver's history out of the
// comparison; for a one-step solver the restart retraces the run.
typedef struct {
    int steps; // perturbation points k = 0 .. steps - 1
    int64_t n, d;
    double size;
    double *sigmas;    // steps + 1: the schedule
    double *base;      // n x d: the final samples of the run
    double *restart;   // steps x n x d: the final samples restarted at k
    double *perturbed; // steps x n x d: the final samples perturbed at k
    double *change;    // steps x n: |perturbed - restart| / |restart|
} ds_perturbation;

int ds_perturbation_run(ds_backend *b, const ds_model *m, const ds_sample_config *c, double size,
                        ds_perturbation *out);
void ds_perturbation_free(ds_perturbation *p);
// The "which image" flips of b perturbed samples against the unperturbed ones (both
// through ds_memorization_compute on the same training set): changed[i] = 1 when the
// nearest training rows differ, flip[i] = 1 when moreover the perturbed sample is
// memorised (d1 / d2 < DS_MEMORIZED_RATIO): it ends on another training image.
void ds_flips(const ds_memorization *base, const ds_memorization *pert, int *flip, int *changed);

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
