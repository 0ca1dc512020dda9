// Euler and Heun: EDM's Algorithm 1, and with s_churn > 0 its Algorithm 2 (the churn of
// k-diffusion's sample_euler / sample_heun).
#include <math.h>

#include "ds_error.h"
#include "multistep.h"

// EDM's churn at the top of a step from s: with s_churn > 0 one draw eps (k-diffusion
// draws at every step, also where gamma = 0 and eps is unused); where s_tmin <= s <=
// s_tmax, gamma = min(s_churn / steps, sqrt 2 - 1) raises the noise level to
// s_hat = s (1 + gamma) by adding eps s_noise sqrt(s_hat^2 - s^2). Returns s_hat in *s_hat.
static int churn(ds_solver_ctx *c, const ds_solver_opts *o, ds_batch *x, ds_batch *eps, double s,
                 int steps, double *s_hat) {
    *s_hat = s;
    if (!(o->s_churn > 0)) return 0;
    DS_TRY(solver_draw(c, eps));
    double gamma = o->s_tmin <= s && s <= o->s_tmax ? fmin(o->s_churn / steps, sqrt(2.0) - 1) : 0;
    *s_hat = s * (gamma + 1);
    return gamma > 0 ? solver_axpby(c, x, 1, x, o->s_noise * sqrt(*s_hat * *s_hat - s * s), eps)
                     : 0;
}

// A batch for the churn's draws (NULL without churn).
static ds_batch *churn_batch(ds_solver_ctx *c, const ds_solver_opts *o, const ds_batch *x) {
    return o->s_churn > 0 ? solver_batch_like(c, x) : NULL;
}

int solver_euler(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                 ds_batch *x) {
    if (o->order && o->order != 1)
        return ds_fail("solver euler has order 1 only (got %d)", o->order);
    ds_batch *d = solver_batch_like(c, x), *eps = churn_batch(c, o, x);
    int rc = d && (eps || o->s_churn <= 0) ? 0 : -1;
    for (int i = 0; i + 1 < n && !rc; i++) {
        double s;
        rc = churn(c, o, x, eps, sigmas[i], n - 1, &s);
        if (!rc) rc = ms_denoise(c, o, i == 0, x, s, d);
        if (!rc) rc = solver_record(c, i, s, x, d);
        if (!rc) rc = solver_euler_step(c, x, x, d, s, sigmas[i + 1]);
    }
    if (!rc) rc = solver_record(c, n - 1, sigmas[n - 1], x, NULL);
    solver_batch_free(c, d);
    if (eps) solver_batch_free(c, eps);
    return rc;
}

// Heun's second-order step: an Euler predictor, then the trapezoidal corrector with
// the slope at the predicted point; a step to sigma = 0 stays an Euler step.
int solver_heun(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                ds_batch *x) {
    if (o->order && o->order != 2)
        return ds_fail("solver heun has order 2 only (got %d)", o->order);
    ds_batch *d = solver_batch_like(c, x), *x_pred = solver_batch_like(c, x);
    ds_batch *d_pred = solver_batch_like(c, x), *eps = churn_batch(c, o, x);
    int rc = d && x_pred && d_pred && (eps || o->s_churn <= 0) ? 0 : -1;
    for (int i = 0; i + 1 < n && !rc; i++) {
        double s, s_next = sigmas[i + 1];
        rc = churn(c, o, x, eps, sigmas[i], n - 1, &s);
        if (!rc) rc = ms_denoise(c, o, i == 0, x, s, d);
        if (!rc) rc = solver_record(c, i, s, x, d);
        if (rc) break;
        if (s_next == 0) {
            rc = solver_euler_step(c, x, x, d, s, s_next);
            continue;
        }
        rc = solver_euler_step(c, x_pred, x, d, s, s_next);
        if (!rc) rc = solver_denoise(c, x_pred, s_next, d_pred);
        if (rc) break;
        // x + (s_next - s)/2 * ((x - d)/s + (x_pred - d_pred)/s_next)
        double h = s_next - s, a = h / (2 * s), b = h / (2 * s_next);
        const double coef[4] = {1 + a, -a, b, -b};
        const ds_batch *in[4] = {x, d, x_pred, d_pred};
        rc = c->b->lincomb(c->b, x, 4, coef, in);
    }
    if (!rc) rc = solver_record(c, n - 1, sigmas[n - 1], x, NULL);
    solver_batch_free(c, d);
    solver_batch_free(c, x_pred);
    solver_batch_free(c, d_pred);
    if (eps) solver_batch_free(c, eps);
    return rc;
}
