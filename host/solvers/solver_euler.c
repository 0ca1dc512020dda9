// Euler and Heun (EDM Algorithm 1 without churn).
#include "ds_error.h"
#include "multistep.h"

int solver_euler(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                 ds_batch *x) {
    if (o->order && o->order != 1)
        return ds_fail("solver euler has order 1 only (got %d)", o->order);
    ds_batch *d = solver_batch_like(c, x);
    int rc = 0;
    for (int i = 0; i + 1 < n && !rc; i++) {
        rc = ms_denoise(c, o, i == 0, x, sigmas[i], d);
        solver_record(c, i, sigmas[i], x, d);
        if (!rc) solver_euler_step(c, x, x, d, sigmas[i], sigmas[i + 1]);
    }
    if (!rc) solver_record(c, n - 1, sigmas[n - 1], x, NULL);
    solver_batch_free(c, d);
    return rc;
}

// Heun's second-order step: an Euler predictor, then the trapezoidal corrector with
// the slope at the predicted point; a step to sigma = 0 stays an Euler step.
int solver_heun(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                ds_batch *x) {
    if (o->order && o->order != 2)
        return ds_fail("solver heun has order 2 only (got %d)", o->order);
    ds_batch *d = solver_batch_like(c, x), *x_pred = solver_batch_like(c, x);
    ds_batch *d_pred = solver_batch_like(c, x);
    int rc = 0;
    for (int i = 0; i + 1 < n && !rc; i++) {
        double s = sigmas[i], s_next = sigmas[i + 1];
        rc = ms_denoise(c, o, i == 0, x, s, d);
        solver_record(c, i, s, x, d);
        if (rc) break;
        if (s_next == 0) {
            solver_euler_step(c, x, x, d, s, s_next);
            continue;
        }
        solver_euler_step(c, x_pred, x, d, s, s_next);
        rc = solver_denoise(c, x_pred, s_next, d_pred);
        if (rc) break;
        // x + (s_next - s)/2 * ((x - d)/s + (x_pred - d_pred)/s_next)
        double h = s_next - s, a = h / (2 * s), b = h / (2 * s_next);
        const double coef[4] = {1 + a, -a, b, -b};
        const ds_batch *in[4] = {x, d, x_pred, d_pred};
        c->b->lincomb(c->b, x, 4, coef, in);
    }
    if (!rc) solver_record(c, n - 1, sigmas[n - 1], x, NULL);
    solver_batch_free(c, d);
    solver_batch_free(c, x_pred);
    solver_batch_free(c, d_pred);
    return rc;
}
