// Sampling runs: noise, analytical teleportation, the solver over batches, trajectories.
// The CLI (diffsamp sample) is a thin layer over ds_sample_run.
#ifndef DS_SAMPLE_H
#define DS_SAMPLE_H

#include <stdint.h>
#include "ds_solver.h"
#include "ds_schedule.h"

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default) // the public API: exported from the shared library

// Analytical teleportation (Wang & Vastola): jump from sigmas[0] with the exact flow of
// a Gaussian model, then solve from there. Give at most one of the two.
typedef struct {
    double sigma;    // > 0: jump to this sigma, then continue on the schedule's points
                     // below it (a point equal to it is merged)
    double fraction; // > 0: skip round(fraction * steps) steps of the schedule and
                     // continue on its remaining points
} ds_teleport_opts;

// Plans a teleport on the schedule sigmas[0..n): *first is the index of the first
// schedule point after the landing point, *sigma_skip the landing sigma. The solver then
// runs on {sigma_skip, sigmas[first], ..., sigmas[n-1]}. No teleport asked: *first = 1,
// *sigma_skip = sigmas[0]. Errors for a sigma outside (sigmas[n-1], sigmas[0]) or a
// fraction outside [0, 1) or one that leaves no step.
int ds_teleport_plan(const double *sigmas, int n, const ds_teleport_opts *t, double *sigma_skip,
                     int *first);
// The schedule to solve after teleporting (a new array of *n_out entries; free() it).
int ds_teleport_schedule(const double *sigmas, int n, const ds_teleport_opts *t, double **out,
                         int *n_out);
// NFE the solver makes on this schedule, counted by running it on a one-dimensional
// Gaussian (exact for every fixed-step solver; -1 for "adaptive", whose count depends on
// the model). Also a cheap check of the options: returns -1 where the solver fails.
int ds_solver_count_nfe(const ds_solver_opts *o, const double *sigmas, int n, int64_t *nfe);
// The same, and *batches: the most batches of the run's shape live at once (the run's x
// included), which the memory plan multiplies by the batch size.
int ds_solver_count(const ds_solver_opts *o, const double *sigmas, int n, int64_t *nfe,
                    int *batches);
// Noise draws the solver makes per row on this schedule (0 for the ODE solvers), counted
// the same way: the first axis of a --step-noise array.
int ds_solver_count_draws(const ds_solver_opts *o, const double *sigmas, int n, int64_t *draws);

// Trajectory recorder: x_i at every point of the schedule and D(x_i; sigma_i) at every
// point but the last, for rows [0, rows) of a run, on the host in double.
typedef struct {
    int points; // schedule points (n sigmas)
    int64_t rows, d;
    double *sigmas;   // points
    double *x;        // points x rows x d
    double *denoised; // (points - 1) x rows x d
    ds_backend *b;
    int64_t first_row; // rows of the batch being recorded
} ds_trajectory;

int ds_trajectory_init(ds_trajectory *t, ds_backend *b, const double *sigmas, int points,
                       int64_t rows, int64_t d);
// The solver hook (user = the ds_trajectory); set first_row before each batch.
int ds_trajectory_hook(void *user, int index, double sigma, const ds_batch *x,
                       const ds_batch *denoised);
// Writes PREFIX_x.npy (points x rows x d), PREFIX_denoised.npy ((points - 1) x rows x
// d) and PREFIX_sigmas.npy (points), as float64 (f64) or float32.
int ds_trajectory_write(const ds_trajectory *t, const char *prefix, int f64);
void ds_trajectory_free(ds_trajectory *t);

typedef struct {
    ds_solver_opts solver;
    ds_schedule_opts schedule;
    ds_teleport_opts teleport;
    int64_t n;                // samples
    int64_t batch;            // rows per batch
    int64_t first_row;        // index of the first sample (noise row first_row + i)
    uint64_t seed;            // Philox noise seed
    const double *noise;      // n x d standard normal rows instead of Philox noise, or NULL
    const double *step_noise; // stochastic samplers: draws x n x d standard normals instead
                              // of Philox step noise, or NULL
    int64_t step_noise_draws; // its first axis: must be the draws the sampler makes per row
                              // on the schedule solved (ds_solver_count_draws)
    int record_trajectory;    // fill ds_sample_result.trajectory
    const uint8_t *skip;      // per batch: 1 to skip it (done before a resume), or NULL
    ds_cancel_fn cancel;      // polled before every denoiser call (GITS included), or NULL
    void *cancel_user;
    int no_landing;     // 1: no certified landing (the empirical model lands by default)
    double landing_eps; // landing certificate: mass off the top row <= eps, in (0, 1e-3]
    // Certified pruning of the empirical denoiser (the backend's prune entry: cpu, cuda): 0
    // where the backend has it on by default (the default; cpu), 1 required (an error
    // where it has not), -1 off. Other models ignore it.
    int prune;
    double prune_eps; // a skipped row's weight <= eps x top weight / N, in (0, 1e-3]
} ds_sample_config;

void ds_sample_config_default(ds_sample_config *c);

// A run planned before any sample is drawn.
typedef struct {
    double *sigmas; // the schedule built (NULL: a GITS schedule planned without the model)
    int n_sigmas;
    double *run; // the schedule the solver walks after the jump (= sigmas without one)
    int n_run;
    int64_t nfe;      // NFE per sample on run (-1: adaptive, not predictable)
    int64_t nfe_full; // NFE without the jump (-1 likewise)
    int batches;      // batches of the run's shape the solver keeps at once (x included)
} ds_sample_plan;

// Plans the run of c, with every check that needs no samples: the solver, schedule and
// GITS teacher names, the schedule, the teleport (a fraction must skip at least one
// step), and the NFE with and without the jump (counting them runs the solver on a
// one-dimensional Gaussian, which also checks its options). A GITS schedule is built
// from the model: with ctx NULL only its names are checked, p->sigmas stays NULL and
// p->batches is counted on an EDM schedule of as many steps.
// d is the data dimension (GITS draws its teacher's batches of d values).
int ds_sample_plan_make(const ds_sample_config *c, ds_solver_ctx *ctx, int64_t d,
                        ds_sample_plan *p);
void ds_sample_plan_free(ds_sample_plan *p);

typedef struct {
    double *sigmas; // the schedule built (before teleporting)
    int n_sigmas;
    double sigma_start;  // where the solver starts (sigma_skip when teleporting)
    int64_t nfe;         // denoiser evaluations per sample (the largest over batches)
    int64_t nfe_full;    // NFE without teleporting (-1: not predictable, adaptive)
    int64_t batch_calls; // denoiser calls made over all batches
    double seconds;
    // Certified landing (empirical model, unless no_landing), per sample of the run (n
    // entries; a batch skipped by a resume: nfe -1): the sigma it landed at (0: it did
    // not land), the training row it landed on (-1), and its denoiser evaluations.
    int landing;
    int64_t n_samples; // entries of the three arrays
    double *landing_sigma;
    int64_t *landed_on;
    int64_t *sample_nfe;
    double nfe_mean; // mean of sample_nfe over the samples run
    int64_t landed;  // samples that landed
    int pruning;     // 1: the run pruned (its counts in prune)
    ds_prune_stats prune;
    ds_trajectory trajectory; // when record_trajectory
} ds_sample_result;

// Called after every batch with its samples (rows x d host doubles, rows first_row ..
// first_row + rows - 1 of the run); a non-zero return stops the run with that error.
typedef int (*ds_batch_done)(void *user, int64_t first_row, int64_t rows, const double *x);

// Samples c->n rows: x = sigma_0 * noise, an optional teleport with the Gaussian model
// `gauss` (NULL unless teleporting), then the solver down the schedule, batch by batch
// on backend b with the model `model`.
int ds_sample_run(ds_backend *b, const ds_model *model, const ds_model *gauss,
                  const ds_sample_config *c, ds_batch_done done, void *user, ds_sample_result *r);
void ds_sample_result_free(ds_sample_result *r);
// Batches of the run's shape that certified landing adds (its compact batches): 3 when
// the run lands (empirical model, a deterministic solver, landing not turned off), else 0.
int ds_sample_landing_batches(const ds_model *model, const ds_sample_config *c);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif

#endif
