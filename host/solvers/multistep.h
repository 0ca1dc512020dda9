// Steps shared by the multistep solvers (ipndm, ipndm_v, deis, unipc): the history of
// past model outputs, the first evaluation (optionally diff-sampler's analytical first
// step), dynamic thresholding, and the final step to sigma = 0.
#ifndef DS_MULTISTEP_H
#define DS_MULTISTEP_H

#include "solver.h"

#define MS_HISTORY_MAX 4

// The last `cap` model outputs, newest first: v[0] was taken at sigma[0].
typedef struct {
    ds_batch *v[MS_HISTORY_MAX];
    double sigma[MS_HISTORY_MAX];
    int cap;
} ms_history;

int ms_history_init(ds_solver_ctx *c, ms_history *h, const ds_batch *like, int cap);
// Shifts the history and makes v[0] a copy of v (which may be any batch).
int ms_history_push(ds_solver_ctx *c, ms_history *h, const ds_batch *v, double sigma) DS_MUST_CHECK;
// The batch that the next push will overwrite (a scratch buffer until then).
ds_batch *ms_history_next_slot(ms_history *h);
void ms_history_free(ds_solver_ctx *c, ms_history *h);

// Number of positive sigmas: n, or n - 1 when the list ends in 0.
int ms_positive_count(const double *sigmas, int n);
// Checks 1 <= order <= max_order (order 0 selects def) and returns the order, or -1.
int ms_order(const ds_solver_opts *o, int def, int max_order);
// d = D(x; sigma) (one NFE), or with o->afs at the first point the analytical first step.
int ms_denoise(ds_solver_ctx *c, const ds_solver_opts *o, int first, const ds_batch *x,
               double sigma, ds_batch *d);
// With o->dynamic_threshold: diff-sampler's dynamic thresholding of d, row by row.
int solver_threshold(ds_solver_ctx *c, const ds_solver_opts *o, ds_batch *d);
// Ends a run whose list has a trailing 0: x (at sigmas[n - 2]) <- D(x; sigmas[n - 2]),
// recorded, then the final point; without a trailing 0 only records the final point.
int ms_finish(ds_solver_ctx *c, const double *sigmas, int n, ds_batch *x, ds_batch *scratch);

// x <- sum_k coef[k] * v[k] over the history (newest first) plus leading extra terms.
int ms_lincomb(ds_solver_ctx *c, ds_batch *out, int n_extra, const double *extra_coef,
               const ds_batch *const *extra, const ms_history *h, int n_hist,
               const double *hist_coef) DS_MUST_CHECK;

// The Lagrange basis polynomial j on nodes[0 .. order-1], at t.
double ms_lagrange(const double *nodes, int order, int j, double t);
// w[j] = integral from s_a to s_b of L_j(map(sigma)) dsigma (map NULL: the identity), by
// 16 panels of 8-point Gauss-Legendre in log sigma: converged to rounding for the steps
// of any practical schedule.
void ms_lagrange_integral(const double *nodes, int order, double s_a, double s_b,
                          double (*map)(const void *ctx, double sigma), const void *ctx, double *w);

// Weights of an Adams-Bashforth step x_{i+1} = x_i + sum_j w[j] * slope_{i-j}, j < order,
// where slope = (x - D) / sigma is dx/dsigma.
typedef void (*ms_ab_weights)(const ds_solver_opts *o, const double *sigmas, int i, int order,
                              double *w);
// The Adams-Bashforth loop shared by ipndm, ipndm_v and deis: one evaluation per step,
// order min(i + 1, max order) at step i (lower-order warm start, as diff-sampler).
int ms_adams_bashforth(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                       ds_batch *x, ms_ab_weights weights);

#endif
