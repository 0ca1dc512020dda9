// Placeholder until these solvers land.
#include "ds_error.h"
#include "solver.h"

int solver_ipndm(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                 ds_batch *x) {
    (void)c, (void)o, (void)sigmas, (void)n, (void)x;
    return ds_fail("solver ipndm is not implemented yet");
}

int solver_ipndm_v(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                   ds_batch *x) {
    (void)c, (void)o, (void)sigmas, (void)n, (void)x;
    return ds_fail("solver ipndm_v is not implemented yet");
}
