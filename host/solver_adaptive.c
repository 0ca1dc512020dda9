// Placeholder until these solvers land.
#include "ds_error.h"
#include "solver.h"

int solver_adaptive(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                    ds_batch *x) {
    (void)c, (void)o, (void)sigmas, (void)n, (void)x;
    return ds_fail("solver adaptive is not implemented yet");
}
