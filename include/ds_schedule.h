// Time schedules: the decreasing list of sigmas a solver walks down.
//
// Convention for `steps` (N): with final_zero (EDM / k-diffusion, the default) the list
// holds N sigmas from sigma_max down to sigma_min, then 0: N steps, the last one to
// sigma = 0 (EDM's 18 steps: Heun makes 35 NFE). Without final_zero (diff-sampler) it
// holds N + 1 sigmas from sigma_max down to sigma_min: N steps, the run stops at
// sigma_min. A list read from a file is taken as written: a trailing 0 is a last step to
// sigma = 0, otherwise the run stops at the last sigma.
#ifndef DS_SCHEDULE_H
#define DS_SCHEDULE_H

#include <stdint.h>
#include "ds_solver.h"

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default) // the public API: exported from the shared library

// GITS (Chen et al., "On the Trajectory Regularity of ODE-based Diffusion Sampling"):
// dynamic programming over a fine teacher grid of the chosen model.
typedef struct {
    int64_t teacher_steps; // size of the fine teacher grid
    int64_t warmup;        // number of warm-up samples
    double coeff;          // the DP's cost coefficient
    uint64_t seed;         // seed of the warm-up noise
    const char *metric;    // the one-step cost: "dev" (the paper's default) or "l2"
    const char *teacher;   // teacher solver (default ipndm, as the paper); NULL: the
                           // solver given to ds_schedule_gits
    int64_t dim;           // the model's data dimension (set by the caller)
} ds_gits_opts;

typedef struct {
    const char *kind; // edm, logsnr, vp, file, list, gits
    int64_t steps;    // N >= 1 (unused by "file")
    double sigma_min, sigma_max;
    double rho;         // edm: polynomial exponent (default 7)
    int final_zero;     // append sigma = 0 (default 1)
    const char *path;   // file: one sigma per line
    const double *list; // list: the caller's sigmas, checked as a file's (n_list of them)
    int n_list;
    ds_gits_opts gits; // gits
} ds_schedule_opts;

// The positive sigmas accepted: beyond them sigma times noise, the squares of such rows
// in float32 and 1 / sigma^2 in the logits leave the float range (NaN samples).
#define DS_SIGMA_LOWEST 1e-10
#define DS_SIGMA_HIGHEST 1e10

void ds_schedule_opts_default(ds_schedule_opts *o);
void ds_gits_opts_default(ds_gits_opts *o);
// 1 if the name is a known schedule kind.
int ds_schedule_known(const char *kind);
// Builds the schedule into a new array *sigmas of *n entries (free() it). ctx and
// solver are used by "gits" only (its teacher runs; they may be NULL otherwise).
int ds_schedule_build(const ds_schedule_opts *o, ds_solver_ctx *ctx, const ds_solver_opts *solver,
                      double **sigmas, int *n);
// Reads a schedule file: one sigma per line (blank lines and lines starting with '#'
// are skipped), strictly decreasing, all in [DS_SIGMA_LOWEST, DS_SIGMA_HIGHEST] except a
// possible trailing 0.
int ds_schedule_read(const char *path, double **sigmas, int *n);
// Checks a list as above; `what` names it in the error message.
int ds_schedule_check(const double *sigmas, int n, const char *what);
// Writes the list, one sigma per line with 17 significant digits (re-readable).
int ds_schedule_write(const char *path, const double *sigmas, int n);

// The GITS schedule (host/sample/schedule_gits.c): teacher trajectories of g->teacher (of
// `solver` when g->teacher is NULL) on the
// model of ctx over a fine grid of g->teacher_steps steps from o->sigma_max to
// o->sigma_min, started from g->warmup standard normal rows drawn with
// ctx->b->randn(g->seed, 0); the DP picks o->steps steps of that grid. The result
// follows the convention above (o->final_zero appends 0).
int ds_schedule_gits(ds_solver_ctx *ctx, const ds_solver_opts *solver, const ds_gits_opts *g,
                     const ds_schedule_opts *o, double **sigmas, int *n);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif

#endif
