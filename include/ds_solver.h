// Solvers of the probability-flow ODE dx/dsigma = (x - D(x; sigma)) / sigma and the
// stochastic samplers (EDM's churn, ancestral and SDE solvers), written once over the
// backend primitives (denoise, lincomb and randn), so they run on every backend.
#ifndef DS_SOLVER_H
#define DS_SOLVER_H

#include <stdint.h>
#include "ds_backend.h"

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default) // the public API: exported from the shared library

typedef struct {
    const char *solver;    // euler, heun, dpm2, dpmpp2m, dpmpp3m, unipc, ipndm, ipndm_v,
                           // deis, lms, adaptive; stochastic: euler_ancestral, dpmpp_sde,
                           // dpmpp2m_sde, dpmpp3m_sde (and euler, heun with s_churn > 0)
    int order;             // 0: the solver's default order
    int lower_order_final; // multistep solvers: lower the order on the final steps
    const char *variant;   // solver-specific variant (unipc: "bh1" or "bh2"; dpmpp2m_sde:
                           // "midpoint" or "heun", what the default bh2 selects: midpoint)
    double rtol, atol;     // adaptive: error control
    int full_order;        // dpmpp3m, lms: keep the nominal order (Runge-Kutta warm-up
                           // steps, no lower-order final steps); see README
    // Reference-implementation behaviours (docs/compat.md), all off by default:
    int afs;               // diff-sampler's analytical first step: D(x; sigma_0) taken as
                           // x (1 - sigma_0 / sqrt(1 + sigma_0^2)) instead of an evaluation
    int dynamic_threshold; // diff-sampler's dynamic thresholding of the data prediction
                           // (dpmpp2m, dpmpp3m, unipc): per row, s = max(1, 99.5% quantile
                           // of |D|), D <- clamp(D, -s, s) / s
    int deis_riemann;      // deis: 0 integrates the tAB coefficients accurately; N > 0 uses
                           // diff-sampler's N-point Riemann sum (10000 reproduces it)
    // Stochastic samplers, with k-diffusion's names and defaults (docs/compat.md):
    double s_churn, s_tmin, s_tmax; // euler, heun: EDM's churn (0, 0, inf)
    double s_noise;                 // churn and ancestral/SDE noise scale (1)
    double eta;                     // euler_ancestral, dpmpp_sde, dpmpp2m_sde, dpmpp3m_sde (1)
    double sde_r;                   // dpmpp_sde: the substep's fraction of the step (0.5)
} ds_solver_opts;

// Noise drawn by the stochastic samplers in place of Philox: draws x rows x cols
// standard normals in host memory; draw j of noise row i is v[(j * rows + i) * cols ..],
// and noise row i belongs to row first_row + i of the run.
typedef struct {
    const double *v;
    int64_t draws, rows, cols;
    int64_t first_row;
} ds_step_noise;

// Called at every point of the schedule with x_i and D(x_i; sigma_i) (denoised is NULL
// at the final point, where no evaluation is made): the sampling and denoising
// trajectories. Returns 0, or -1 with the error recorded, which stops the run.
typedef int (*ds_step_hook)(void *user, int index, double sigma, const ds_batch *x,
                            const ds_batch *denoised);

// Certified landing of the empirical model (DESIGN.md 4b, host/solvers/landing.c): the
// state of one batch. A row whose softmax mass outside its top training row y is at most
// eps, at an evaluation at the solver's state, lands: from then on its denoised value is
// y, taken without an evaluation, and the denoiser runs on the live rows only (gathered
// into a compact batch with move_rows and scattered back).
typedef struct {
    double eps;                           // certificate: mass outside the top row <= eps
    int64_t cap, rows, d;                 // rows allocated, rows of the current batch, dimension
    int64_t live;                         // rows not landed: live_rows[0 .. live)
    int64_t *live_rows;                   // cap
    int64_t *landed_rows;                 // cap: the rows - live landed rows
    int64_t *top;                         // per row: the training row it landed on (-1: live)
    double *sigma;                        // per row: the sigma it landed at (0: did not land)
    int64_t *nfe;                         // per row: denoiser evaluations it took part in
    double *top_weight;                   // per live row: scratch for the diagnostics
    int64_t *top_index;                   // per live row: scratch for the diagnostics
    double *y_host;                       // cap x d: the landed rows' training rows (host, double)
    ds_batch *x_live, *d_live, *y_landed; // cap x d backend batches
    const ds_model *m;
    ds_backend *b;
} ds_landing;
// Polled before every denoiser evaluation: non-zero stops the run with the error
// "interrupted" (Ctrl-C in a notebook, a deadline).
typedef int (*ds_cancel_fn)(void *user);

typedef struct {
    ds_backend *b;
    ds_bound_model *model;
    int64_t nfe; // denoiser evaluations made so far
    ds_step_hook on_step;
    void *user;
    ds_landing *landing; // NULL: every row is evaluated at every step
    ds_cancel_fn cancel; // or NULL
    void *cancel_user;
    // Stochastic samplers: draw j of batch row i is the Philox normals of row
    // first_row + i under the key ds_philox_draw_key(seed, j), or slice j of step_noise.
    uint64_t seed;
    int64_t first_row;
    const ds_step_noise *step_noise;
    int64_t draws; // noise draws made so far
} ds_solver_ctx;

// Prepares landing for batches of up to cap rows of the empirical model m on b. Errors
// for another model kind, a model without its training rows on the host, or eps outside
// (0, 1e-3].
int ds_landing_init(ds_landing *l, ds_backend *b, const ds_model *m, int64_t cap, double eps);
// Starts a batch of rows <= cap rows, all live (-1 with the error recorded when rows > cap).
int ds_landing_reset(ds_landing *l, int64_t rows);
void ds_landing_free(ds_landing *l);

void ds_solver_opts_default(ds_solver_opts *o);
// Integrates from sigmas[0] down to sigmas[n_sigmas - 1] (a final 0 means a last step
// to sigma = 0); x holds the state at sigmas[0] on entry and the result on return.
int ds_solve(ds_solver_ctx *ctx, const ds_solver_opts *o, const double *sigmas, int n_sigmas,
             ds_batch *x);
// 1 if the name is a known solver.
int ds_solver_known(const char *name);
// The known solver names, separated by ", " and `last` before the final one.
void ds_solver_names(char *buf, size_t size, const char *last);
// 0 for a known solver name, else -1 with "unknown sampler 'NAME' (expected ...)", the
// list of every known name, recorded.
int ds_solver_check_name(const char *name);
// 1 if these options draw noise (a stochastic sampler, or euler/heun with churn).
int ds_solver_stochastic(const ds_solver_opts *o);

// The stochastic options that o's solver reads, as name=value separated by spaces
// ("s_churn=40 s_tmin=0 s_tmax=inf s_noise=1", "eta=1 s_noise=1", "eta=1 r=0.5
// s_noise=1"); "" for a run that draws no noise.
void ds_solver_noise_label(const ds_solver_opts *o, char *buf, size_t size);
#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif

#endif
