// Launchers of the CUDA kernels in kernels/*.cu, callable from C. Data is row-major
// float on the device; every launcher runs on the default stream and returns the
// launch status (cudaGetLastError), which the caller checks.
#ifndef DS_KERNELS_H
#define DS_KERNELS_H

#include <cuda_runtime_api.h>
#include <stdint.h>

#include "ds_backend.h"

#ifdef __cplusplus
extern "C" {
#endif

// The noise variance sigma^2 of row i: rows[i] (device array) when rows is non-NULL,
// else value.
typedef struct {
    const double *rows;
    double value;
} ds_sigma2;

// Running online-softmax state of the empirical denoiser, one entry per query row: the
// largest t = x.y - |y|^2/2 so far (the logit is t / sigma^2) and its training-row
// index, sum_i w_i with w_i = exp(l_i - l_max), sum_i w_i (l_i - l_max) (for the
// entropy), and acc = sum_i w_i y_i (rows x d).
typedef struct {
    double *max;
    int64_t *arg;
    double *sum;
    double *zl;
    float *acc;
} ds_softmax_state;

// The linear map shared by the Gaussian(-mixture) denoiser and the Gaussian flow: on
// component c, dx = x - mu_c -> mu_c + g_c dx + U_c diag(f - g_c) U_c^T dx, with
// f(lam) = lam / (lam + sigma^2) (denoiser) or sqrt((lam + b2) / (lam + a2)) (flow from
// a2 = sigma_from^2 to b2 = sigma_to^2), and g_c = f(residual_c) (0 when full_rank).
typedef struct {
    int flow;
    int full_rank;
    double a2, b2;
    ds_sigma2 s2;
} ds_gauss_map;

// out[e] = sum_i coef[i] * v[i][e] for e < count, n <= DS_LINCOMB_MAX; out may
// alias any v[i].
cudaError_t ds_launch_lincomb(float *out, int n, const double *coef, const float *const *v,
                              int64_t count);

// Row dst_rows[k] of dst <- row src_rows[k] of src for k < n (device index arrays; NULL
// means row k); dst and src do not overlap.
cudaError_t ds_launch_move_rows(float *dst, const int64_t *dst_rows, const float *src,
                                const int64_t *src_rows, int64_t n, int64_t cols);

// out[i * cols + j] = (float)ds_philox_normal(seed, first_row + i, j).
cudaError_t ds_launch_randn(float *out, int64_t rows, int64_t cols, uint64_t seed,
                            int64_t first_row);
// out[i * cols + j] = raw Philox output j % 4 of the block of (seed, first_row + i, j):
// the uniforms behind ds_launch_randn, for tests.
cudaError_t ds_launch_philox_raw(uint32_t *out, int64_t rows, int64_t cols, uint64_t seed,
                                 int64_t first_row);

// out[i * cols + j] = (float)(x[i * cols + j] - v[j]), the difference in double (out
// may alias x).
cudaError_t ds_launch_centre_rows(float *out, const float *x, const double *v, int64_t rows,
                                  int64_t cols);

// The rows of a chunk whose products x.y the GEMM path recomputes in double, per query
// row: count[i] <= DS_REFINE_MAX candidates (0: none), each with its column in the
// chunk, its float product and its t in double (arrays of rows x DS_REFINE_MAX).
#define DS_REFINE_MAX 128
typedef struct {
    int *count;
    int *index;
    float *dot;
    double *t;
} ds_refine_buf;

// Empirical denoiser, GEMM path (kernels/empirical_softmax.cu, empirical_refine.cu). A
// chunk's products dot = Xc Y^T (rows x n) come from SGEMM; half_sq[j] = |y_j|^2 / 2 in
// double.
// state <- empty (max -inf, sums 0, acc 0).
cudaError_t ds_launch_softmax_init(ds_softmax_state st, int64_t rows, int64_t d);
// chunk_max[i], chunk_arg[i] = the largest t = dot[i][j] - half_sq[j] of row i (in double)
// and its column, refined: the columns whose logits may lie within DS_REFINE_WINDOW of it
// given the SGEMM error bound (DS_DOT_ERROR_FACTOR |x_i| y_norm, y_norm = max_j |y_j|)
// get t recomputed in double from the centred queries xc and the chunk's rows y (n x d)
// into rb, and the maximum is taken over those. None are refined when the error bound is
// below DS_REFINE_MIN_ERROR logits or more than DS_REFINE_MAX columns qualify.
cudaError_t ds_launch_chunk_max_refine(const float *dot, int64_t rows, int64_t n, const float *xc,
                                       const float *y, int64_t d, const double *half_sq,
                                       double y_norm, ds_sigma2 s2, double *chunk_max,
                                       int64_t *chunk_arg, ds_refine_buf rb);
// Merges the chunk (training rows first .. first + n - 1) into the running state: dot
// becomes the weights exp(l - new_max) (the refined rows' from their double t), the
// sums are rescaled and extended, and the accumulator rows are rescaled (the caller then
// adds weights x Y by GEMM).
cudaError_t ds_launch_softmax_merge(float *dot, int64_t rows, int64_t n, const double *half_sq,
                                    const double *chunk_max, const int64_t *chunk_arg,
                                    ds_refine_buf rb, int64_t first, ds_sigma2 s2,
                                    ds_softmax_state st, int64_t d);
// Each row's state moved to the larger maximum new_max[i] >= max[i] (the maximum over the
// ranks under --shard-data): sums, zl and accumulator rescaled by exp((max - new_max) /
// sigma^2), and arg set to INT64_MAX where the maximum is another rank's (so that the
// minimum over the ranks is the first row of the maximum).
cudaError_t ds_launch_softmax_rebase(ds_softmax_state st, const double *new_max, int64_t rows,
                                     int64_t d, ds_sigma2 s2);
// out[i][j] = acc[i][j] / sum[i] + mean[j] (in double, rounded once).
cudaError_t ds_launch_empirical_finish(float *out, ds_softmax_state st, const double *mean,
                                       int64_t rows, int64_t d);

// Fused small-d path (kernels/empirical_fused.cu): one pass over a chunk of n centred
// training rows y (first index first) per tile of queries, products x.y in double (so
// nothing needs refining), online softmax, merged into the same running state.
// d <= DS_FUSED_MAX_D.
#define DS_FUSED_MAX_D 128
cudaError_t ds_launch_empirical_fused(const float *xc, int64_t rows, int64_t d, const float *y,
                                      const double *half_sq, int64_t n, int64_t first, ds_sigma2 s2,
                                      ds_softmax_state st);

// Certified pruning of the empirical denoiser (kernels/prune.cu): the index of
// host/backends/prune_index.h on the device and the training rows as the empirical
// binding holds them (centred floats in pieces of piece_rows rows, |y|^2 / 2 per row).
typedef struct {
    int64_t n, d, k;
    const double *basis;           // d x k directions
    const float *py;               // n x k rounded projections of the rows
    const double *py_sq;           // n: |py_i|^2
    double omega, py_max, res_max; // the index's rounding and precheck facts
    double eps, log_ratio;         // the certificate and ln(N / eps)
    double y_norm;                 // max_i |y_i|
    const float *const *y;         // device array of the pieces' row pointers
    const double *const *half_sq;  // and of their |y|^2 / 2
    int64_t piece_rows;
    const double *mean; // d
} ds_prune_dev;
// Per query row of a block: the rounded projections (rows x k) and |a|^2, whether the
// bound pass runs (the precheck), the smallest bound and its row, the skip threshold,
// the survivor count and list (rows x cap, increasing) and a scratch of rows x cap.
typedef struct {
    float *a;
    double *pxx;
    int *live;
    double *lmin;
    int64_t *amin;
    double *thr;
    int64_t *count, *list;
    double *ell;
    int64_t cap;
} ds_prune_rows;
// a, |a|^2 and live from the queries x (uncentred floats); the minimum and count reset.
cudaError_t ds_launch_prune_project(ds_prune_dev p, const float *x, int64_t rows, ds_sigma2 s2,
                                    ds_prune_rows r);
// With g = a py^T over the chunk of training rows [start, start + len) (rows x len): the
// running minimum of the bounds and its row.
cudaError_t ds_launch_prune_min(ds_prune_dev p, const float *g, int64_t rows, int64_t len,
                                int64_t start, ds_prune_rows r);
// The skip threshold of each live query from the exact distance to its minimum's row.
cudaError_t ds_launch_prune_threshold(ds_prune_dev p, const float *x, int64_t rows, ds_sigma2 s2,
                                      ds_prune_rows r);
// The chunk's rows whose bounds are below the threshold appended to the survivors.
cudaError_t ds_launch_prune_collect(ds_prune_dev p, const float *g, int64_t rows, int64_t len,
                                    int64_t start, ds_prune_rows r);
// For each live query with count <= cap: out row i = D over its survivors (in double,
// rounded once; out may alias x), top[i] its top row, stat[4 i ..] its top weight (lower
// bound), entropy, skipped-mass bound and change bound.
cudaError_t ds_launch_prune_evaluate(ds_prune_dev p, const float *x, int64_t rows, ds_sigma2 s2,
                                     ds_prune_rows r, float *out, int64_t *top, double *stat);

// Gaussian mixture (kernels/gmm_density.cu). proj holds rows x (k r): the projections
// U_c^T (x - mu_c). logp[i][c] = log w_c + log N(x_i; mu_c, Sigma_c + sigma_i^2 I) up to
// a constant shared by all components.
cudaError_t ds_launch_gmm_log_density(double *logp, const float *x, const float *proj,
                                      const float *means, const double *eigvals,
                                      const double *residual, const double *log_weights,
                                      int64_t rows, int64_t d, int64_t k, int64_t r, ds_sigma2 s2);
// rho[i][c] = softmax over c of logp[i][c].
cudaError_t ds_launch_gmm_softmax(float *rho, const double *logp, int64_t rows, int64_t k);

// The Gaussian map (kernels/gauss_map.cu); rho (rows x k) NULL means one component of
// weight 1. proj[i][c r + j] *= rho[i][c] (f(lam_cj) - g_c), in place.
cudaError_t ds_launch_gauss_scale_projections(float *proj, const float *rho, const double *eigvals,
                                              const double *residual, int64_t rows, int64_t k,
                                              int64_t r, ds_gauss_map map);
// out[i][e] = sum_c rho[i][c] (mu_c[e] + g_c (x[i][e] - mu_c[e])) (out may alias x); the
// caller then adds the scaled projections times U^T by GEMM.
cudaError_t ds_launch_gauss_base(float *out, const float *x, const float *rho, const float *means,
                                 const double *residual, int64_t rows, int64_t d, int64_t k,
                                 ds_gauss_map map);

// The smoothed model (kernels/smoothed.cu). q[(i samples + c) d + j] = x[i d + j] +
// a[i] eps[c d + j] (a: rows doubles, eps: samples x d doubles), in double, rounded once.
cudaError_t ds_launch_smoothed_queries(float *q, const float *x, const double *a, const double *eps,
                                       int64_t rows, int64_t samples, int64_t d);
// out[i d + j] = the mean over c < samples of dq[(i samples + c) d + j], summed in double
// in the order of c (out may not alias dq).
cudaError_t ds_launch_sample_mean(float *out, const float *dq, int64_t rows, int64_t samples,
                                  int64_t d);

// The masked local models (kernels/local_softmax.cu): a mask on the device by columns
// (local_mask.h): column j holds entries start[j] .. start[j + 1], each a pixel row[e] and
// its weight[e].
typedef struct {
    const int64_t *start;
    const int32_t *row;
    const double *weight;
} ds_local_mask_dev;
// out[i d + j] = sum_k w_k y[k d + j] / sum_k w_k, w = softmax over the n rows y of
// -scale sum_{e in column j} weight[e] (x[i d + row[e]] - y[k d + row[e]])^2, in double
// (out may not alias x).
cudaError_t ds_launch_local_softmax(float *out, const float *x, int64_t rows, const float *y,
                                    int64_t n, int64_t d, ds_local_mask_dev mask, double scale);

// The patch models els and pspc (kernels/patch_softmax.cu): n float images of
// channels x height x width, one after another.
typedef struct {
    const float *y;
    int64_t n;
    int channels, height, width;
} ds_patch_images;
// els at scale = 1 / (2 sigma^2) with the odd patch: out (rows x d) = D(x) (out may not
// alias x).
cudaError_t ds_launch_els(float *out, const float *x, int64_t rows, ds_patch_images im, int patch,
                          double scale);
// Doubles of pspc's buffer per query row: the posterior means of its patches.
int64_t ds_pspc_means_per_row(ds_patch_images im, int patch);
// pspc at scale = 1 / (2 sigma^2) with the square patch; means holds rows x
// ds_pspc_means_per_row doubles (out may alias x).
cudaError_t ds_launch_pspc(float *out, const float *x, int64_t rows, ds_patch_images im, int patch,
                           double scale, double *means);

// The variance model (kernels/variance.cu): n centred training rows y (n x d, double),
// half their squared norms and the data mean.
typedef struct {
    const double *y, *half_sq, *mean;
    int64_t n, d;
} ds_variance_rows;
// out = the variance model's denoiser at sigma for rows queries x, with the unit normals z
// (n) of sigma and scale = sqrt(kappa); w and a are rows x n doubles of workspace (out may
// alias x).
cudaError_t ds_launch_variance(float *out, const float *x, int64_t rows, ds_variance_rows v,
                               const double *z, double sigma, double scale, double *w, double *a);

#ifdef __cplusplus
}
#endif

#endif
