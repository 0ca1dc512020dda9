// On top of solver_testutil.h: a solve that returns its result rather than its error.
#ifndef DS_MULTISTEP_TESTUTIL_H
#define DS_MULTISTEP_TESTUTIL_H

#include "solver_testutil.h"

// Solves from sigmas[0] * (the problem's noise rows) on the ref backend, the stochastic
// samplers' draws taken from `steps` (NULL: Philox of seed 0); returns the solver's
// status, the result (rows x d) in out, the NFE in *nfe and the draws in *draws.
static inline int mtu_solve_noisy(stu_problem *p, const ds_solver_opts *o, const double *sigmas,
                                  int n, const ds_step_noise *steps, double *out, int64_t *nfe,
                                  int64_t *draws) {
    ds_backend *b = p->b;
    int64_t count = p->rows * p->m.d;
    for (int64_t i = 0; i < count; i++) out[i] = sigmas[0] * p->noise[i];
    ds_batch *x = b->batch_new(b, p->rows, p->m.d);
    assert_int_equal(b->upload(b, x, out), 0);
    ds_solver_ctx ctx = {.b = b, .model = p->bm, .step_noise = steps};
    int rc = ds_solve(&ctx, o, sigmas, n, x);
    assert_int_equal(b->download(b, x, out), 0);
    *nfe = ctx.nfe, *draws = ctx.draws;
    b->batch_free(b, x);
    return rc;
}

// mtu_solve_noisy without injected noise, for the ODE solvers.
static inline int mtu_solve(stu_problem *p, const ds_solver_opts *o, const double *sigmas, int n,
                            double *out, int64_t *nfe) {
    int64_t draws;
    return mtu_solve_noisy(p, o, sigmas, n, NULL, out, nfe, &draws);
}

#endif
