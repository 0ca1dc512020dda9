// On top of solver_testutil.h: a solve that returns its result rather than its error.
#ifndef DS_MULTISTEP_TESTUTIL_H
#define DS_MULTISTEP_TESTUTIL_H

#include "solver_testutil.h"

// Solves from sigmas[0] * (the problem's noise rows) on the ref backend; returns the
// solver's status, the result (rows x d) in out and the NFE in *nfe.
static inline int mtu_solve(stu_problem *p, const ds_solver_opts *o, const double *sigmas, int n,
                            double *out, int64_t *nfe) {
    ds_backend *b = p->b;
    int64_t count = p->rows * p->m.d;
    for (int64_t i = 0; i < count; i++) out[i] = sigmas[0] * p->noise[i];
    ds_batch *x = b->batch_new(b, p->rows, p->m.d);
    b->upload(b, x, out);
    ds_solver_ctx ctx = {.b = b, .model = p->bm};
    int rc = ds_solve(&ctx, o, sigmas, n, x);
    b->download(b, x, out);
    *nfe = ctx.nfe;
    b->batch_free(b, x);
    return rc;
}

#endif
