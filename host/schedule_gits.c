// Placeholder until the GITS schedule lands (the multistep helper replaces this file).
#include "ds_error.h"
#include "ds_schedule.h"

void ds_gits_opts_default(ds_gits_opts *o) {
    o->teacher_steps = 60;
    o->warmup = 256;
    o->coeff = 1.15;
    o->seed = 0;
}

int ds_schedule_gits(ds_solver_ctx *ctx, const ds_solver_opts *solver, const ds_gits_opts *g,
                     const ds_schedule_opts *o, double **sigmas, int *n) {
    (void)ctx, (void)solver, (void)g, (void)o, (void)sigmas, (void)n;
    return ds_fail("schedule gits is not implemented yet");
}
