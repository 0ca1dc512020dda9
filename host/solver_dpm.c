// Placeholder until these solvers land.
#include "ds_error.h"
#include "solver.h"

int solver_dpm2(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                ds_batch *x) {
    (void)c, (void)o, (void)sigmas, (void)n, (void)x;
    return ds_fail("solver dpm2 is not implemented yet");
}

int solver_dpmpp2m(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                   ds_batch *x) {
    (void)c, (void)o, (void)sigmas, (void)n, (void)x;
    return ds_fail("solver dpmpp2m is not implemented yet");
}

int solver_dpmpp3m(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                   ds_batch *x) {
    (void)c, (void)o, (void)sigmas, (void)n, (void)x;
    return ds_fail("solver dpmpp3m is not implemented yet");
}
