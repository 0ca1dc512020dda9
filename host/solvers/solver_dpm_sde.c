// The DPM-Solver++ multistep SDE samplers: k-diffusion's sample_dpmpp_2m_sde (midpoint
// or heun solver type) and sample_dpmpp_3m_sde. In lambda = -log sigma with h the step,
// the deterministic part contracts x by exp(-(1 + eta) h) and the noise added is
// sigma_next sqrt(1 - exp(-2 eta h)) s_noise times a draw (none when eta = 0).
#include <math.h>
#include <string.h>

#include "ds_error.h"
#include "solver.h"

// Coefficients of x, D, D_1 and D_2 (D_j: j steps back) for one step of size h whose
// previous steps were h_1, h_2 (0: none), as k-diffusion writes them; order_max 2 is
// 2m_sde (heun: 1, midpoint: 0 selects its correction), 3 is 3m_sde.
static void sde_coefficients(int order_max, int heun, double s, double s_next, double eta, double h,
                             double h_1, double h_2, double *coef) {
    double h_eta = h * (1 + eta), phi1 = -expm1(-h_eta); // 1 - exp(-(1 + eta) h)
    coef[0] = s_next / s * exp(-eta * h), coef[1] = phi1, coef[2] = 0, coef[3] = 0;
    if (order_max == 2) {
        if (h_1 == 0) return;
        // x += k (1 / r) (D - D_1), r = h_1 / h
        double k = heun ? phi1 / -h_eta + 1 : 0.5 * phi1, r = h_1 / h;
        coef[1] += k / r, coef[2] -= k / r;
        return;
    }
    coef[0] = exp(-h_eta); // 3m_sde writes the contraction so
    double phi2 = -phi1 / h_eta + 1, phi3 = phi2 / h_eta - 0.5;
    if (h_1 == 0) return;
    double r0 = h_1 / h;
    if (h_2 == 0) { // x += phi2 (D - D_1) / r0
        coef[1] += phi2 / r0, coef[2] -= phi2 / r0;
        return;
    }
    // d1_0 = (D - D_1) / r0, d1_1 = (D_1 - D_2) / r1, d1 = d1_0 + (d1_0 - d1_1) r0 / (r0 +
    // r1), d2 = (d1_0 - d1_1) / (r0 + r1); x += phi2 d1 - phi3 d2.
    double r1 = h_2 / h;
    const double d10[3] = {1 / r0, -1 / r0, 0};
    const double diff[3] = {1 / r0, -1 / r0 - 1 / r1, 1 / r1};
    for (int j = 0; j < 3; j++)
        coef[1 + j] += phi2 * (d10[j] + diff[j] * r0 / (r0 + r1)) - phi3 * diff[j] / (r0 + r1);
}

static int dpmpp_sde_multistep(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas,
                               int n, ds_batch *x, int order_max) {
    const char *name = order_max == 2 ? "dpmpp2m_sde" : "dpmpp3m_sde";
    if (o->order && o->order != order_max)
        return ds_fail("solver %s has order %d only (got %d)", name, order_max, o->order);
    int heun = 0;
    if (order_max == 2 && o->variant && strcmp(o->variant, "bh2")) { // bh2: the default
        if (strcmp(o->variant, "midpoint") && strcmp(o->variant, "heun"))
            return ds_fail("solver dpmpp2m_sde: unknown variant '%s' (expected midpoint or heun)",
                           o->variant);
        heun = !strcmp(o->variant, "heun");
    }
    ds_batch *hist[3], *eps = solver_batch_like(c, x); // D, D_1, D_2: newest first
    int rc = eps ? 0 : -1;
    for (int j = 0; j < 3; j++)
        if (!(hist[j] = solver_batch_like(c, x))) rc = -1;
    double h = 0, h_1 = 0, h_2 = 0; // this step and the two before (0: none yet)
    for (int i = 0; i + 1 < n && !rc; i++) {
        double s = sigmas[i], s_next = sigmas[i + 1];
        ds_batch *oldest = hist[2];
        hist[2] = hist[1], hist[1] = hist[0], hist[0] = oldest;
        rc = solver_denoise(c, x, s, hist[0]);
        if (!rc) rc = solver_record(c, i, s, x, hist[0]);
        if (rc) break;
        if (s_next == 0) { // the denoising step
            rc = c->b->copy(c->b, x, hist[0]);
            continue;
        }
        h_2 = h_1, h_1 = h, h = log(s) - log(s_next);
        double coef[4];
        sde_coefficients(order_max, heun, s, s_next, o->eta, h, h_1, h_2, coef);
        const ds_batch *in[4] = {x, hist[0], hist[1], hist[2]};
        int terms = 2 + (h_1 > 0) + (order_max == 3 && h_2 > 0); // the history there is
        rc = c->b->lincomb(c->b, x, terms, coef, in);
        if (!rc && o->eta > 0 && !(rc = solver_draw(c, eps)))
            rc = solver_axpby(c, x, 1, x, s_next * sqrt(-expm1(-2 * o->eta * h)) * o->s_noise, eps);
    }
    if (!rc) rc = solver_record(c, n - 1, sigmas[n - 1], x, NULL);
    for (int j = 0; j < 3; j++) solver_batch_free(c, hist[j]);
    solver_batch_free(c, eps);
    return rc;
}

int solver_dpmpp2m_sde(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                       ds_batch *x) {
    return dpmpp_sde_multistep(c, o, sigmas, n, x, 2);
}

int solver_dpmpp3m_sde(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                       ds_batch *x) {
    return dpmpp_sde_multistep(c, o, sigmas, n, x, 3);
}
