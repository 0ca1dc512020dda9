// UniPC (Zhao et al.) in the data-prediction form with lambda = -log sigma, as
// diff-sampler's unipc_sampler / unipc_update: a multistep predictor (UniP) and a
// corrector (UniC) that reuses the evaluation at the predicted point as the next
// step's model output, so one NFE per step; the corrector is skipped on the last step.
#include <math.h>
#include <string.h>

#include "ds_error.h"
#include "multistep.h"

// Solves the k x k system a rho = b (k <= 3) by Gaussian elimination with pivoting.
static void solve_small(int k, double a[3][3], double *b, double *rho) {
    for (int col = 0; col < k; col++) {
        int piv = col;
        for (int r = col + 1; r < k; r++)
            if (fabs(a[r][col]) > fabs(a[piv][col])) piv = r;
        for (int j = 0; j < k; j++) {
            double t = a[col][j];
            a[col][j] = a[piv][j], a[piv][j] = t;
        }
        double t = b[col];
        b[col] = b[piv], b[piv] = t;
        for (int r = col + 1; r < k; r++) {
            double f = a[r][col] / a[col][col];
            for (int j = col; j < k; j++) a[r][j] -= f * a[col][j];
            b[r] -= f * b[col];
        }
    }
    for (int r = k - 1; r >= 0; r--) {
        double s = b[r];
        for (int j = r + 1; j < k; j++) s -= a[r][j] * rho[j];
        rho[r] = s / a[r][r];
    }
}

// Coefficients of one UniPC step of the given order from the history h (model outputs
// m_0 (newest) .. m_{order-1}) to sigma t:
//   x_pred = t/s_0 x - phi_1 m_0 - B(h) sum_k rho_p[k] D_k,      D_k = (m_k - m_0) / r_k,
//   x_corr = t/s_0 x - phi_1 m_0 - B(h) (sum_k rho_c[k] D_k + rho_c[order-1] (m_t - m_0)),
// expanded into weights on x, m_0 .. m_{order-1} and m_t.
typedef struct {
    double x, m[3], mt;
} unipc_coefs;

static void unipc_coefficients(const ms_history *h, double t, int order, int bh1, unipc_coefs *pred,
                               unipc_coefs *corr) {
    double lam0 = -log(h->sigma[0]), hstep = -log(t) - lam0, hh = -hstep;
    double rk[3], rmat[3][3], b[3], rmat_c[3][3], b_c[3], rho_p[3] = {0}, rho_c[3] = {0};
    for (int k = 1; k < order; k++) rk[k - 1] = (-log(h->sigma[k]) - lam0) / hstep;
    rk[order - 1] = 1;
    double phi_1 = expm1(hh), h_phi_k = phi_1 / hh - 1, factorial = 1;
    double b_h = bh1 ? hh : expm1(hh);
    for (int i = 1; i <= order; i++) {
        for (int k = 0; k < order; k++) rmat[i - 1][k] = pow(rk[k], i - 1);
        b[i - 1] = h_phi_k * factorial / b_h;
        factorial *= i + 1;
        h_phi_k = h_phi_k / hh - 1 / factorial;
    }
    memcpy(rmat_c, rmat, sizeof rmat);
    memcpy(b_c, b, sizeof b);
    if (order == 2) rho_p[0] = 0.5;
    if (order == 3) solve_small(2, rmat, b, rho_p);
    if (order == 1)
        rho_c[0] = 0.5;
    else
        solve_small(order, rmat_c, b_c, rho_c);

    memset(pred, 0, sizeof *pred);
    pred->x = t / h->sigma[0];
    pred->m[0] = -phi_1;
    *corr = *pred;
    for (int k = 1; k < order; k++) {
        pred->m[k] = -b_h * rho_p[k - 1] / rk[k - 1];
        pred->m[0] -= pred->m[k];
        corr->m[k] = -b_h * rho_c[k - 1] / rk[k - 1];
        corr->m[0] -= corr->m[k];
    }
    corr->mt = -b_h * rho_c[order - 1];
    corr->m[0] -= corr->mt;
}

static int unipc_apply(ds_solver_ctx *c, ds_batch *out, const unipc_coefs *w, const ds_batch *x,
                       const ms_history *h, int order, const ds_batch *mt) {
    double coef[2] = {w->x, w->mt};
    const ds_batch *in[2] = {x, mt};
    return ms_lincomb(c, out, mt ? 2 : 1, coef, in, h, order, w->m);
}

int solver_unipc(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                 ds_batch *x) {
    int max_order = ms_order(o, 3, 3);
    if (max_order < 0) return -1;
    const char *variant = o->variant ? o->variant : "bh2";
    if (strcmp(variant, "bh1") && strcmp(variant, "bh2"))
        return ds_fail("solver unipc: unknown variant '%s' (expected bh1 or bh2)", variant);
    int bh1 = !strcmp(variant, "bh1");
    int m = ms_positive_count(sigmas, n), steps = m - 1;
    ms_history h;
    int rc = ms_history_init(c, &h, x, max_order + 1);
    ds_batch *mt = solver_batch_like(c, x), *x_pred = solver_batch_like(c, x);
    if (!mt || !x_pred) rc = -1;
    if (steps > 0 && !rc) {
        rc = ms_denoise(c, o, 1, x, sigmas[0], mt);
        if (!rc) rc = solver_threshold(c, o, mt);
        if (!rc) rc = solver_record(c, 0, sigmas[0], x, mt);
        if (!rc) rc = ms_history_push(c, &h, mt, sigmas[0]);
    }
    for (int i = 0; i < steps && !rc; i++) {
        double t = sigmas[i + 1];
        int order = i + 1 < max_order ? i + 1 : max_order;
        if (o->lower_order_final && i + 1 >= max_order && steps - i < order) order = steps - i;
        unipc_coefs pred, corr;
        unipc_coefficients(&h, t, order, bh1, &pred, &corr);
        rc = unipc_apply(c, x_pred, &pred, x, &h, order, NULL);
        if (!rc && i == steps - 1) { // last step: no corrector
            rc = c->b->copy(c->b, x, x_pred);
            break;
        }
        if (!rc) rc = solver_denoise(c, x_pred, t, mt);
        if (!rc) rc = solver_threshold(c, o, mt);
        if (rc) break;
        rc = unipc_apply(c, x, &corr, x, &h, order, mt);
        if (rc) break;
        // The trajectory pairs the corrected x with D taken at the predicted point.
        if (!rc) rc = solver_record(c, i + 1, t, x, mt);
        rc = ms_history_push(c, &h, mt, t);
    }
    if (!rc) rc = ms_finish(c, sigmas, n, x, mt);
    solver_batch_free(c, mt);
    solver_batch_free(c, x_pred);
    ms_history_free(c, &h);
    return rc;
}
