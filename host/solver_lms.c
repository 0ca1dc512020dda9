// Placeholder until these solvers land.
#include "ds_error.h"
#include "solver.h"

int solver_lms(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
               ds_batch *x) {
    (void)c, (void)o, (void)sigmas, (void)n, (void)x;
    return ds_fail("solver lms is not implemented yet");
}
