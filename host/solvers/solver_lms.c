// Linear multistep in sigma (k-diffusion's sample_lms): Adams-Bashforth of order up to
// 4 on the slopes d_i = (x_i - D_i) / sigma_i, with a lower-order warm start and the
// coefficients integrated from the Lagrange basis on the (non-uniform) sigma grid.
#include "ds_error.h"
#include "solver.h"

// 8-point Gauss-Legendre rule on [-1, 1] (exact to degree 15; the basis has degree <= 3).
static const double gl_x[4] = {0.18343464249564980, 0.52553240991632899, 0.79666647741362674,
                               0.96028985649753623};
static const double gl_w[4] = {0.36268378337836198, 0.31370664587788729, 0.22238103445337447,
                               0.10122853629037626};

// Lagrange basis polynomial j over the nodes t[0..order) evaluated at tau.
static double lagrange(const double *t, int order, int j, double tau) {
    double p = 1;
    for (int k = 0; k < order; k++)
        if (k != j) p *= (tau - t[k]) / (t[j] - t[k]);
    return p;
}

// coef[j] = integral from a to b of the Lagrange basis j over the nodes t (newest first).
static void lms_coefficients(const double *t, int order, double a, double b, double *coef) {
    double mid = 0.5 * (a + b), half = 0.5 * (b - a);
    for (int j = 0; j < order; j++) {
        double sum = 0;
        for (int q = 0; q < 4; q++)
            sum += gl_w[q] * (lagrange(t, order, j, mid - half * gl_x[q]) +
                              lagrange(t, order, j, mid + half * gl_x[q]));
        coef[j] = half * sum;
    }
}

int solver_lms(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
               ds_batch *x) {
    int max_order = o->order ? o->order : 4;
    if (max_order < 1 || max_order > 4)
        return ds_fail("solver lms has orders 1 to 4 (got %d)", o->order);
    ds_batch *den = solver_batch_like(c, x), *slope[4] = {NULL, NULL, NULL, NULL};
    int rc = den ? 0 : -1;
    for (int j = 0; j < max_order; j++)
        if (!(slope[j] = solver_batch_like(c, x))) rc = -1;
    double t[4] = {0, 0, 0, 0};
    for (int i = 0; i + 1 < n && !rc; i++) {
        ds_batch *oldest = slope[max_order - 1];
        for (int j = max_order - 1; j > 0; j--) slope[j] = slope[j - 1], t[j] = t[j - 1];
        slope[0] = oldest, t[0] = sigmas[i];
        rc = solver_denoise_state(c, x, t[0], den);
        if (!rc) rc = solver_record(c, i, t[0], x, den);
        if (rc) break;
        rc = solver_axpby(c, slope[0], 1 / t[0], x, -1 / t[0], den);
        if (rc) break;
        int order = i + 1 < max_order ? i + 1 : max_order;
        if (o->full_order && order < max_order - 1 && sigmas[i + 1] > 0) {
            rc = solver_rk_warmup_step(c, x, den, t[0], sigmas[i + 1], max_order - 1);
            continue;
        }
        double coef[5] = {1};
        lms_coefficients(t, order, sigmas[i], sigmas[i + 1], coef + 1);
        const ds_batch *in[5] = {x, slope[0], slope[1], slope[2], slope[3]};
        rc = c->b->lincomb(c->b, x, order + 1, coef, in);
    }
    if (!rc) rc = solver_record(c, n - 1, sigmas[n - 1], x, NULL);
    solver_batch_free(c, den);
    for (int j = 0; j < max_order; j++) solver_batch_free(c, slope[j]);
    return rc;
}
