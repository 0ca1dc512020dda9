// Internal interface of the solvers: each solver is one function over the shared
// steps below (host/solvers/solver_steps.c, the Runge-Kutta warm-up
// solver_warmup.c; the dispatch by name is solver.c).
#ifndef DS_SOLVER_INTERNAL_H
#define DS_SOLVER_INTERNAL_H

#include "ds_solver.h"

typedef int (*solver_fn)(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                         ds_batch *x);

// out = D(x; sigma) on the batch; counts one NFE (none when every row has landed).
int solver_denoise(ds_solver_ctx *c, const ds_batch *x, double sigma, ds_batch *out);
// The same at the solver's state x (not an intermediate point): with landing, rows
// certified one-hot here land (host/solvers/landing.c).
int solver_denoise_state(ds_solver_ctx *c, const ds_batch *x, double sigma, ds_batch *out);
// out = the next noise draw (standard normals): Philox under ds_philox_draw_key(seed,
// draws), or the next slice of the injected step noise; counts one draw.
int solver_draw(ds_solver_ctx *c, ds_batch *out);
// k-diffusion's get_ancestral_step: the sigma to step down to deterministically and the
// noise to add, sigma_down^2 + sigma_up^2 = to^2; eta = 0 gives (to, 0).
void solver_ancestral_step(double from, double to, double eta, double *down, double *up);
// Reports point i of the trajectory to the hook, if any: the hook's status.
int solver_record(ds_solver_ctx *c, int i, double sigma, const ds_batch *x,
                  const ds_batch *denoised) DS_MUST_CHECK;
// out = a * u + b * v. Here and below, an int is 0, or -1 with the backend's error recorded.
int solver_axpby(ds_solver_ctx *c, ds_batch *out, double a, const ds_batch *u, double b,
                 const ds_batch *v) DS_MUST_CHECK;
// Euler step of the ODE in sigma from s to s_next with slope (x - D) / s, written in
// terms of the denoised value: x_next = (s_next / s) x + (1 - s_next / s) D.
int solver_euler_step(ds_solver_ctx *c, ds_batch *out, const ds_batch *x, const ds_batch *d,
                      double s, double s_next) DS_MUST_CHECK;
// One explicit Runge-Kutta step in sigma of order 2 (Heun) or 3 (Ralston) from s to
// s_next > 0, given d = D(x; s); the warm-up of the multistep solvers' full_order variant.
int solver_rk_warmup_step(ds_solver_ctx *c, ds_batch *x, const ds_batch *d, double s, double s_next,
                          int order);
ds_batch *solver_batch_like(ds_solver_ctx *c, const ds_batch *x);
void solver_batch_free(ds_solver_ctx *c, ds_batch *v);

int solver_euler(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                 ds_batch *x);
int solver_heun(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                ds_batch *x);
int solver_dpm2(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                ds_batch *x);
int solver_dpmpp2m(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                   ds_batch *x);
int solver_dpmpp3m(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                   ds_batch *x);
int solver_lms(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n, ds_batch *x);
int solver_adaptive(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                    ds_batch *x);
int solver_unipc(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                 ds_batch *x);
int solver_ipndm(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                 ds_batch *x);
int solver_ipndm_v(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                   ds_batch *x);
int solver_deis(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                ds_batch *x);
int solver_euler_ancestral(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                           ds_batch *x);
int solver_dpmpp_sde(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                     ds_batch *x);
int solver_dpmpp2m_sde(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                       ds_batch *x);
int solver_dpmpp3m_sde(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                       ds_batch *x);

#endif
