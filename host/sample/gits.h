// GITS (Chen et al., "On the Trajectory Regularity of ODE-based Diffusion Sampling",
// code: zju-pi/diff-sampler gits-main): the cost matrix of one-step errors along teacher
// trajectories and the dynamic programme that picks a coarse schedule from the fine
// teacher grid. host/sample/schedule_gits.c wraps these into ds_schedule_gits.
#ifndef DS_GITS_H
#define DS_GITS_H

#include <stdint.h>
#include "ds_solver.h"

typedef enum {
    GITS_METRIC_DEV = 0, // the paper's default: change of the deviation from the straight
                         // line between the trajectory's ends
    GITS_METRIC_L2 = 1,  // mean L2 norm of the one-step error
} gits_metric;

int gits_metric_parse(const char *name, gits_metric *out);

// cost[i * points + j] (j > i), averaged over `warmup` rows of noise drawn with
// ctx->b->randn(seed, row): the error at grid[j] of one Euler step from the teacher's
// x_i with the teacher's slope (x_i - D(x_i; grid[i])) / grid[i], against the teacher's
// x_j. The teacher is `teacher` run over the whole grid (points sigmas, decreasing, > 0)
// in chunks of rows; ctx->nfe counts its evaluations.
int gits_cost_matrix(ds_solver_ctx *ctx, const ds_solver_opts *teacher, const double *grid,
                     int points, int64_t dim, int64_t warmup, uint64_t seed, gits_metric metric,
                     double *cost);

// The paper's dynamic programme: the path 0 = p_0 < p_1 < ... < p_steps = points - 1
// minimising cost[p_0][p_1] + coeff (cost[p_1][p_2] + coeff (...)), written to path
// (steps + 1 indices). Fails if the grid has fewer than `steps` steps.
int gits_dp(const double *cost, int points, int steps, double coeff, int *path);

#endif
