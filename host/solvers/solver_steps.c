// The steps every solver is written over: denoise (counting NFE), the trajectory hook,
// linear combinations, the Euler step and scratch batches.
#include "solver.h"

void solver_record(ds_solver_ctx *c, int i, double sigma, const ds_batch *x,
                   const ds_batch *denoised) {
    if (c->on_step) c->on_step(c->user, i, sigma, x, denoised);
}

void solver_axpby(ds_solver_ctx *c, ds_batch *out, double a, const ds_batch *u, double b,
                  const ds_batch *v) {
    const double coef[2] = {a, b};
    const ds_batch *in[2] = {u, v};
    c->b->lincomb(c->b, out, 2, coef, in);
}

void solver_euler_step(ds_solver_ctx *c, ds_batch *out, const ds_batch *x, const ds_batch *d,
                       double s, double s_next) {
    double r = s_next / s;
    solver_axpby(c, out, r, x, 1.0 - r, d);
}

ds_batch *solver_batch_like(ds_solver_ctx *c, const ds_batch *x) {
    return c->b->batch_new(c->b, x->rows, x->cols);
}

void solver_batch_free(ds_solver_ctx *c, ds_batch *v) {
    c->b->batch_free(c->b, v);
}
