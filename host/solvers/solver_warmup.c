// Runge-Kutta warm-up steps for the multistep solvers' full-order variant: the usual
// lower-order warm start (a first-order first step, ...) leaves a one-time local error
// of O(h^2) that caps the global order at 2; a single-step Runge-Kutta step of order
// p - 1 there keeps an order-p multistep method at order p.
#include "ds_error.h"
#include "solver.h"

typedef struct {
    int stages;
    double c[3], a[3][2], b[3];
} rk_tableau;

// Heun (order 2) and Ralston's third-order method, in sigma.
static const rk_tableau rk2 = {2, {0, 1, 0}, {{0}, {1}, {0}}, {0.5, 0.5, 0}};
static const rk_tableau rk3 = {
    3, {0, 0.5, 0.75}, {{0}, {0.5}, {0, 0.75}}, {2.0 / 9, 1.0 / 3, 4.0 / 9}};

// out = x + h sum_j w[j] (y_j - D_j) / s_j over stages j < m, with y_0 = x.
static int rk_combine(ds_solver_ctx *c, ds_batch *out, const ds_batch *x, ds_batch *const *y,
                      ds_batch *const *den, const double *s, double h, const double *w, int m) {
    double coef[DS_LINCOMB_MAX] = {1};
    const ds_batch *in[DS_LINCOMB_MAX] = {x};
    int k = 1;
    for (int j = 0; j < m; j++) {
        double f = h * w[j] / s[j];
        if (f == 0) continue;
        if (j == 0)
            coef[0] += f;
        else
            coef[k] = f, in[k++] = y[j];
        coef[k] = -f, in[k++] = den[j];
    }
    return c->b->lincomb(c->b, out, k, coef, in);
}

int solver_rk_warmup_step(ds_solver_ctx *c, ds_batch *x, const ds_batch *d, double s, double s_next,
                          int order) {
    const rk_tableau *t = order == 2 ? &rk2 : order == 3 ? &rk3 : NULL;
    if (!t) return ds_fail("warm-up step of order %d is not available (2 or 3)", order);
    ds_batch *y[3] = {x, NULL, NULL}, *den[3] = {(ds_batch *)d, NULL, NULL};
    double h = s_next - s, sig[3] = {s, 0, 0};
    int rc = 0;
    for (int i = 1; i < t->stages && !rc; i++) {
        y[i] = solver_batch_like(c, x), den[i] = solver_batch_like(c, x);
        if (!y[i] || !den[i]) {
            rc = -1;
            break;
        }
        sig[i] = s + t->c[i] * h;
        rc = rk_combine(c, y[i], x, y, den, sig, h, t->a[i], i);
        if (!rc) rc = solver_denoise(c, y[i], sig[i], den[i]);
    }
    if (!rc) rc = rk_combine(c, x, x, y, den, sig, h, t->b, t->stages);
    for (int i = 1; i < t->stages; i++) {
        solver_batch_free(c, y[i]);
        solver_batch_free(c, den[i]);
    }
    return rc;
}
