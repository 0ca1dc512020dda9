// The steps every solver is written over: denoise (counting NFE), noise draws (counting
// them), the ancestral step, the trajectory hook, linear combinations, the Euler step and
// scratch batches.
#include <math.h>

#include "ds_error.h"
#include "ds_philox.h"
#include "solver.h"

int solver_draw(ds_solver_ctx *c, ds_batch *out) {
    int64_t j = c->draws++;
    const ds_step_noise *s = c->step_noise;
    if (!s) return c->b->randn(c->b, out, ds_philox_draw_key(c->seed, j), c->first_row);
    int64_t row = c->first_row - s->first_row;
    if (j >= s->draws || row < 0 || row + out->rows > s->rows || out->cols != s->cols)
        return ds_fail("step noise: draw %lld of rows %lld..%lld with d = %lld is not in the "
                       "array (%lld x %lld x %lld)",
                       (long long)j, (long long)row, (long long)(row + out->rows - 1),
                       (long long)out->cols, (long long)s->draws, (long long)s->rows,
                       (long long)s->cols);
    return c->b->upload(c->b, out,
                        s->v + ((size_t)j * (size_t)s->rows + (size_t)row) * (size_t)s->cols);
}

void solver_ancestral_step(double from, double to, double eta, double *down, double *up) {
    if (eta == 0) {
        *down = to, *up = 0;
        return;
    }
    *up = fmin(to, eta * sqrt(to * to * (from * from - to * to) / (from * from)));
    *down = sqrt(to * to - *up * *up);
}

int solver_record(ds_solver_ctx *c, int i, double sigma, const ds_batch *x,
                  const ds_batch *denoised) {
    return c->on_step ? c->on_step(c->user, i, sigma, x, denoised) : 0;
}

int solver_axpby(ds_solver_ctx *c, ds_batch *out, double a, const ds_batch *u, double b,
                 const ds_batch *v) {
    const double coef[2] = {a, b};
    const ds_batch *in[2] = {u, v};
    return c->b->lincomb(c->b, out, 2, coef, in);
}

int solver_euler_step(ds_solver_ctx *c, ds_batch *out, const ds_batch *x, const ds_batch *d,
                      double s, double s_next) {
    double r = s_next / s;
    return solver_axpby(c, out, r, x, 1.0 - r, d);
}

ds_batch *solver_batch_like(ds_solver_ctx *c, const ds_batch *x) {
    return c->b->batch_new(c->b, x->rows, x->cols);
}

void solver_batch_free(ds_solver_ctx *c, ds_batch *v) {
    c->b->batch_free(c->b, v);
}
