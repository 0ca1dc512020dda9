// The ancestral samplers: k-diffusion's sample_euler_ancestral and sample_dpmpp_sde
// (DPM-Solver++ SDE, single-step, with a substep at lambda + r h). Each step goes down to
// sigma_down deterministically, then adds sigma_up times a draw (get_ancestral_step).
#include <math.h>

#include "ds_error.h"
#include "solver.h"

// One draw of the ancestral noise, added as x += s_noise * up * eps (drawn even where
// up = 0, as k-diffusion does, so that injected noise keeps its order).
static int add_noise(ds_solver_ctx *c, const ds_solver_opts *o, ds_batch *x, ds_batch *eps,
                     double up) {
    DS_TRY(solver_draw(c, eps));
    return solver_axpby(c, x, 1, x, o->s_noise * up, eps);
}

int solver_euler_ancestral(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                           ds_batch *x) {
    if (o->order && o->order != 1)
        return ds_fail("solver euler_ancestral has order 1 only (got %d)", o->order);
    ds_batch *d = solver_batch_like(c, x), *eps = solver_batch_like(c, x);
    int rc = d && eps ? 0 : -1;
    for (int i = 0; i + 1 < n && !rc; i++) {
        double s = sigmas[i], s_next = sigmas[i + 1], down, up;
        rc = solver_denoise(c, x, s, d);
        if (!rc) rc = solver_record(c, i, s, x, d);
        if (rc) break;
        solver_ancestral_step(s, s_next, o->eta, &down, &up);
        rc = solver_euler_step(c, x, x, d, s, down);
        if (!rc && s_next > 0) rc = add_noise(c, o, x, eps, up);
    }
    if (!rc) rc = solver_record(c, n - 1, sigmas[n - 1], x, NULL);
    solver_batch_free(c, d);
    solver_batch_free(c, eps);
    return rc;
}

int solver_dpmpp_sde(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                     ds_batch *x) {
    if (o->order && o->order != 2)
        return ds_fail("solver dpmpp_sde has order 2 only (got %d)", o->order);
    ds_batch *d = solver_batch_like(c, x), *x2 = solver_batch_like(c, x);
    ds_batch *d2 = solver_batch_like(c, x), *eps = solver_batch_like(c, x);
    const double r = o->sde_r, fac = 1 / (2 * r);
    int rc = d && x2 && d2 && eps ? 0 : -1;
    for (int i = 0; i + 1 < n && !rc; i++) {
        double s = sigmas[i], s_next = sigmas[i + 1], down, up;
        rc = solver_denoise(c, x, s, d);
        if (!rc) rc = solver_record(c, i, s, x, d);
        if (rc) break;
        if (s_next == 0) {
            rc = solver_euler_step(c, x, x, d, s, s_next);
            continue;
        }
        double t = -log(s), t_next = -log(s_next), h = t_next - t, t_mid = t + h * r;
        // The substep to sigma(t_mid), with its own ancestral noise.
        solver_ancestral_step(exp(-t), exp(-t_mid), o->eta, &down, &up);
        double t_to = -log(down); // x2 = (sigma(t_to) / sigma(t)) x - expm1(t - t_to) d
        rc = solver_axpby(c, x2, exp(-t_to) / exp(-t), x, -expm1(t - t_to), d);
        if (!rc) rc = add_noise(c, o, x2, eps, up);
        if (!rc) rc = solver_denoise(c, x2, exp(-t_mid), d2);
        if (rc) break;
        // The full step with D = (1 - fac) d + fac d2, then its noise.
        solver_ancestral_step(exp(-t), exp(-t_next), o->eta, &down, &up);
        t_to = -log(down);
        double a = exp(-t_to) / exp(-t), b = -expm1(t - t_to);
        const double coef[3] = {a, b * (1 - fac), b * fac};
        const ds_batch *in[3] = {x, d, d2};
        rc = c->b->lincomb(c->b, x, 3, coef, in);
        if (!rc) rc = add_noise(c, o, x, eps, up);
    }
    if (!rc) rc = solver_record(c, n - 1, sigmas[n - 1], x, NULL);
    solver_batch_free(c, d);
    solver_batch_free(c, x2);
    solver_batch_free(c, d2);
    solver_batch_free(c, eps);
    return rc;
}
