// DPM-Solver-2 (k-diffusion's sample_dpm_2) and the DPM-Solver++ multistep solvers 2M
// and 3M in the data-prediction form with lambda = -log sigma (k-diffusion's
// sample_dpmpp_2m, diff-sampler's dpm_pp, DPM-Solver++'s multistep updates).
#include <math.h>

#include "ds_error.h"
#include "multistep.h"

// DPM-Solver-2: an Euler step to the geometric midpoint sigma_mid = sqrt(s s_next),
// then the full step with the slope there; a step to sigma = 0 is an Euler step.
int solver_dpm2(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                ds_batch *x) {
    if (o->order && o->order != 2)
        return ds_fail("solver dpm2 has order 2 only (got %d)", o->order);
    ds_batch *d = solver_batch_like(c, x), *x_mid = solver_batch_like(c, x);
    int rc = d && x_mid ? 0 : -1;
    for (int i = 0; i + 1 < n && !rc; i++) {
        double s = sigmas[i], s_next = sigmas[i + 1];
        rc = ms_denoise(c, o, i == 0, x, s, d);
        if (!rc) rc = solver_record(c, i, s, x, d);
        if (rc) break;
        if (s_next == 0) {
            rc = solver_euler_step(c, x, x, d, s, s_next);
            continue;
        }
        double s_mid = exp(0.5 * (log(s) + log(s_next)));
        rc = solver_euler_step(c, x_mid, x, d, s, s_mid);
        if (!rc) rc = solver_denoise(c, x_mid, s_mid, d);
        if (rc) break;
        // x + (s_next - s) (x_mid - d_mid) / s_mid
        double a = (s_next - s) / s_mid;
        const double coef[3] = {1, a, -a};
        const ds_batch *in[3] = {x, x_mid, d};
        rc = c->b->lincomb(c->b, x, 3, coef, in);
    }
    if (!rc) rc = solver_record(c, n - 1, sigmas[n - 1], x, NULL);
    solver_batch_free(c, d);
    solver_batch_free(c, x_mid);
    return rc;
}

// Coefficients of one DPM-Solver++ multistep update of the given order (1 to 3) from
// s[0] to s_next: x_next = coef[0] x + sum_j coef[1 + j] D(s[j]), with s[1], s[2] the
// previous sigmas. Written as DPM-Solver++'s first/second/third-order updates, whose
// third-order term D2 = (D1_0 - D1_1) / (r0 + r1) estimates h^2 D''/2 where the phi3
// term needs h^2 D'' (the reference formula measures order 2): d2_scale = 2 corrects it.
static void dpmpp_coefficients(int order, const double *s, double s_next, double *coef,
                               double d2_scale) {
    double h = log(s[0] / s_next), phi1 = expm1(-h);
    coef[0] = s_next / s[0];
    coef[1] = -phi1, coef[2] = 0, coef[3] = 0;
    if (order == 1) return;
    double r0 = log(s[1] / s[0]) / h;
    if (order == 2) {
        // D1_0 = (D0 - D1) / r0; x -= phi1 / 2 * D1_0
        coef[1] += -0.5 * phi1 / r0;
        coef[2] = 0.5 * phi1 / r0;
        return;
    }
    double r1 = log(s[2] / s[1]) / h;
    double phi2 = phi1 / h + 1, phi3 = phi2 / h - 0.5;
    // D1_0 = (D0 - D1) / r0, D1_1 = (D1 - D2) / r1, diff = D1_0 - D1_1,
    // D1 = D1_0 + r0 / (r0 + r1) diff, D2 = diff / (r0 + r1); x += phi2 D1 - phi3 D2.
    const double d10[3] = {1 / r0, -1 / r0, 0};
    const double diff[3] = {1 / r0, -1 / r0 - 1 / r1, 1 / r1};
    for (int j = 0; j < 3; j++)
        coef[1 + j] +=
            phi2 * (d10[j] + r0 / (r0 + r1) * diff[j]) - d2_scale * phi3 * diff[j] / (r0 + r1);
}

// The order of step i of `steps`: a first-order warm start that raises the order by
// one per step, and (lower_order_final) min(max, steps left) on the last steps, as
// diff-sampler's dpm_pp; a step to sigma = 0 is first order (x <- D), as k-diffusion.
// full_order keeps the nominal order on the final steps.
static int dpmpp_step_order(const ds_solver_opts *o, int max_order, int i, int steps,
                            double s_next) {
    if (s_next == 0) return 1;
    if (i + 1 < max_order) return i + 1;
    if (o->lower_order_final && !o->full_order && steps - i < max_order) return steps - i;
    return max_order;
}

static int dpmpp(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                 ds_batch *x, int nominal) {
    int max_order = o->order ? o->order : nominal;
    if (max_order < 1 || max_order > nominal)
        return ds_fail("solver dpmpp%dm has orders 1 to %d (got %d)", nominal, nominal, o->order);
    ds_batch *hist[3] = {NULL, NULL, NULL}; // D at s[0], s[1], s[2] (newest first)
    int rc = 0;
    for (int j = 0; j < max_order; j++)
        if (!(hist[j] = solver_batch_like(c, x))) rc = -1;
    double s[3] = {0, 0, 0};
    for (int i = 0; i + 1 < n && !rc; i++) {
        ds_batch *oldest = hist[max_order - 1];
        for (int j = max_order - 1; j > 0; j--) hist[j] = hist[j - 1], s[j] = s[j - 1];
        hist[0] = oldest, s[0] = sigmas[i];
        rc = ms_denoise(c, o, i == 0, x, s[0], hist[0]);
        if (!rc) rc = solver_threshold(c, o, hist[0]);
        if (!rc) rc = solver_record(c, i, s[0], x, hist[0]);
        if (rc) break;
        int order = dpmpp_step_order(o, max_order, i, n - 1, sigmas[i + 1]);
        if (o->full_order && order < max_order - 1 && sigmas[i + 1] > 0) {
            rc = solver_rk_warmup_step(c, x, hist[0], s[0], sigmas[i + 1], max_order - 1);
            continue;
        }
        double coef[4];
        dpmpp_coefficients(order, s, sigmas[i + 1], coef, o->full_order ? 2.0 : 1.0);
        const ds_batch *in[4] = {x, hist[0], hist[1], hist[2]};
        rc = c->b->lincomb(c->b, x, order + 1, coef, in);
    }
    if (!rc) rc = solver_record(c, n - 1, sigmas[n - 1], x, NULL);
    for (int j = 0; j < max_order; j++) solver_batch_free(c, hist[j]);
    return rc;
}

int solver_dpmpp2m(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                   ds_batch *x) {
    return dpmpp(c, o, sigmas, n, x, 2);
}

int solver_dpmpp3m(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                   ds_batch *x) {
    return dpmpp(c, o, sigmas, n, x, 3);
}
