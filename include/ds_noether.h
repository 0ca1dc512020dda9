// Noether diagnostics of most likely paths (Vastola, "Dynamical symmetries in the
// fluctuation-driven regime: an application of Noether's theorem to noisy dynamical
// systems", 2025). For an SDE dx = f(x, t) dt + sqrt(2 q(t)) dW the most likely path
// between two states minimises the action S = int L dt with the paper's Onsager-Machlup
// Lagrangian L = |xdot - f|^2 / (4 q). Its Noether quantities: momentum
// p = (xdot - f) / (2 q), energy E = p.xdot - L = (|xdot|^2 - |f|^2) / (4 q), angular
// momentum J = (x - c)_0 p_1 - (x - c)_1 p_0 in the plane of the first two coordinates
// about a centre c. E is conserved when L has no explicit t (otherwise dE/dt = -dL/dt at
// fixed x, xdot), p_j when f does not depend on x_j, J when f is equivariant under
// rotations about c. Derivation and discretisation: host/analysis/analysis_noether.c.
#ifndef DS_NOETHER_H
#define DS_NOETHER_H

#include <stdint.h>
#include "ds_backend.h"

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default) // the public API: exported from the shared library

typedef enum {
    // The reverse diffusion SDE in the sigma convention, run from sigma_from down to
    // sigma_to in time t = sigma_from - sigma: f = 2 (D(x; sigma) - x) / sigma (= 2 sigma
    // times the score), q = sigma (the forward process dx = sqrt(2 sigma) dW, sigma = t').
    DS_NOETHER_REVERSE = 0,
    // Langevin dynamics at one noise level: f = (D(x; sigma) - x) / sigma^2 (the score),
    // q = 1; time-homogeneous, so E is conserved.
    DS_NOETHER_LANGEVIN = 1,
} ds_noether_process;

typedef struct {
    ds_noether_process process;
    double sigma_from, sigma_to; // reverse
    double sigma, duration;      // langevin
    int64_t steps;               // intervals of the discretised path (>= 2)
    int64_t max_iters;           // L-BFGS iterations
    double grad_tol;             // stop when |grad S| <= grad_tol |grad S of the straight line|
    double fd_step;              // finite-difference step of the denoiser, relative to sigma
    double centre[2];            // c of the angular momentum
} ds_noether_opts;

// Defaults: reverse from 2 to 0.1, 64 steps, 20000 iterations, tolerance 1e-9, fd step
// 1e-4 (use 3e-3 on a float32 backend), centre 0.
void ds_noether_opts_default(ds_noether_opts *o);

typedef struct {
    int64_t steps, d;
    double *t, *sigma; // steps + 1 nodes
    double *x;         // (steps + 1) x d
    double *p;         // (steps + 1) x d: momentum at the nodes (discrete Legendre transform)
    double *angular;   // steps + 1: J at the nodes (d >= 2; else 0)
    double *energy;    // steps: E at the interval midpoints
    double *dl_dt;     // steps: the explicit time derivative of L at the midpoints
    double action;
    double grad_rel; // |grad S| / |grad S at the start|
    int64_t iters;
    int converged;
    // E at the last midpoint - E at the first + int dL/dt (trapezoid between them): 0 for
    // an extremal up to the O(h^2) quadrature (Noether's energy balance).
    double energy_balance;
} ds_noether_path;

// The most likely path from x_from to x_to (d values each) of the model bound as bm on
// backend be (d = the model's), from the straight line by L-BFGS. Refused: d > 64, a
// bad option (one line naming it).
int ds_noether_path_solve(ds_backend *be, ds_bound_model *bm, int64_t d, const double *x_from,
                          const double *x_to, const ds_noether_opts *o, ds_noether_path *out);
void ds_noether_path_free(ds_noether_path *p);
// The discretised action of a path x ((steps + 1) x d, o->steps) and its gradient (grad,
// same shape, zero at the two fixed ends), as the minimiser uses them.
int ds_noether_action(ds_backend *be, ds_bound_model *bm, int64_t d, const ds_noether_opts *o,
                      const double *x, double *action, double *grad);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif

#endif
