// The GITS schedule (host/sample/gits.c computes the teacher costs and the dynamic programme).
#include <stdlib.h>
#include <string.h>

#include "ds_error.h"
#include "ds_schedule.h"
#include "gits.h"
#include "schedule_formula.h"

// The paper's code (zju-pi/diff-sampler gits-main): 61 teacher time points, 256
// warm-up samples, coefficient 1.15, the "dev" metric.
void ds_gits_opts_default(ds_gits_opts *o) {
    o->teacher_steps = 60;
    o->warmup = 256;
    o->coeff = 1.15;
    o->seed = 0;
    o->metric = "dev";
    o->teacher = "ipndm";
    o->dim = 0;
}

int ds_schedule_gits(ds_solver_ctx *ctx, const ds_solver_opts *solver, const ds_gits_opts *g,
                     const ds_schedule_opts *o, double **sigmas, int *n) {
    gits_metric metric;
    DS_TRY(gits_metric_parse(g->metric ? g->metric : "dev", &metric));
    if (g->dim < 1)
        return ds_fail("schedule gits: the data dimension is not set (ds_gits_opts.dim)");
    if (g->warmup < 1 || g->warmup > 1000000)
        return ds_fail("schedule gits: --gits-warmup must be 1 to 1000000 (got %lld)",
                       (long long)g->warmup);
    if (!(g->coeff > 0))
        return ds_fail("schedule gits: --gits-coeff must be > 0 (got %g)", g->coeff);
    // With final_zero the last of the N steps is the step to 0, so the DP picks N - 1.
    int steps = (int)o->steps - (o->final_zero ? 1 : 0);
    if (g->teacher_steps < steps || g->teacher_steps > 10000)
        return ds_fail("schedule gits: --gits-teacher-steps %lld must be %d to 10000 (the "
                       "teacher grid must hold the %d steps picked from it)",
                       (long long)g->teacher_steps, steps, steps);
    ds_solver_opts teacher = *solver;
    if (g->teacher) { // the paper's teacher: the solver at its default order
        ds_solver_opts_default(&teacher);
        teacher.solver = g->teacher;
    }
    if (ds_solver_stochastic(&teacher))
        return ds_fail("schedule gits: the teacher %s draws noise, but the cost of a step needs "
                       "an ODE teacher (give --gits-teacher, e.g. ipndm)",
                       teacher.solver);
    ds_schedule_opts fine = *o;
    fine.kind = "edm";
    fine.steps = g->teacher_steps;
    fine.final_zero = 0;
    double *grid = NULL;
    int points = 0;
    DS_TRY(ds_schedule_formula(&fine, &grid, &points));
    double *cost = ds_try_alloc((size_t)points * (size_t)points, sizeof(double), "gits");
    int *path = ds_try_alloc((size_t)steps + 1, sizeof(int), "gits");
    int rc = cost && path ? 0 : -1;
    if (!rc)
        rc =
            gits_cost_matrix(ctx, &teacher, grid, points, g->dim, g->warmup, g->seed, metric, cost);
    if (!rc && steps > 0) rc = gits_dp(cost, points, steps, g->coeff, path);
    if (!rc) {
        *n = steps + 1 + (o->final_zero ? 1 : 0);
        *sigmas = ds_try_alloc((size_t)*n, sizeof(double), "gits");
        if (!*sigmas) rc = -1;
    }
    if (!rc) {
        for (int s = 0; s <= steps; s++) (*sigmas)[s] = steps ? grid[path[s]] : grid[0];
        if (o->final_zero) (*sigmas)[*n - 1] = 0;
    }
    free(grid);
    free(cost);
    free(path);
    return rc;
}
