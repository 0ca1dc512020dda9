// The ground-truth solver: Dormand-Prince 5(4) with error control, integrating the ODE in
// t = log sigma, dx/dt = x - D(x; e^t). It passes through every point of the schedule
// (so trajectories and teleportation see the same grid as the other solvers); a last
// step to sigma = 0 is x <- D(x; sigma_last), as in EDM's samplers, and costs no NFE
// because D there is the first stage of the (first-same-as-last) pair.
#include <math.h>
#include <stdlib.h>

#include "ds_error.h"
#include "solver.h"

static const double dp_c[7] = {0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1, 1};
static const double dp_a[7][6] = {
    {0},
    {1.0 / 5},
    {3.0 / 40, 9.0 / 40},
    {44.0 / 45, -56.0 / 15, 32.0 / 9},
    {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
    {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
    {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84},
};
// Fifth- minus fourth-order weights: the local error estimate.
static const double dp_e[7] = {71.0 / 57600,      0,          -71.0 / 16695, 71.0 / 1920,
                               -17253.0 / 339200, 22.0 / 525, -1.0 / 40};

typedef struct {
    ds_solver_ctx *c;
    const ds_solver_opts *o;
    ds_batch *k[7], *y, *err;
    double *hx, *hy, *herr; // host copies for the error norm
} dp_state;

// k = dx/dt at (x, t) = x - D(x; e^t).
static int dp_rhs(dp_state *st, const ds_batch *x, double t, ds_batch *k) {
    DS_TRY(solver_denoise(st->c, x, exp(t), k));
    return solver_axpby(st->c, k, 1, x, -1, k);
}

// out = x + h sum_j w[j] k[j] over the nonzero weights.
static int dp_combine(dp_state *st, ds_batch *out, const ds_batch *x, double h, const double *w,
                      int n) {
    double coef[DS_LINCOMB_MAX];
    const ds_batch *in[DS_LINCOMB_MAX];
    int m = 0;
    if (x) coef[m] = 1, in[m++] = x;
    for (int j = 0; j < n; j++)
        if (w[j] != 0) coef[m] = h * w[j], in[m++] = st->k[j];
    return st->c->b->lincomb(st->c->b, out, m, coef, in);
}

// *norm = largest over the rows of the RMS of err / (atol + rtol max(|x|, |y|)).
static int dp_error_norm(dp_state *st, const ds_batch *x, double *norm) {
    ds_backend *b = st->c->b;
    DS_TRY(b->download(b, x, st->hx));
    DS_TRY(b->download(b, st->y, st->hy));
    DS_TRY(b->download(b, st->err, st->herr));
    double worst = 0;
    for (int64_t r = 0; r < x->rows; r++) {
        double sum = 0;
        for (int64_t j = r * x->cols; j < (r + 1) * x->cols; j++) {
            double scale = st->o->atol + st->o->rtol * fmax(fabs(st->hx[j]), fabs(st->hy[j]));
            sum += (st->herr[j] / scale) * (st->herr[j] / scale);
        }
        worst = fmax(worst, sqrt(sum / (double)x->cols));
    }
    *norm = worst;
    return 0;
}

// One attempted step of size h from (x, t) with k[0] = f(x, t): the fifth-order result
// in y, k[6] = f(y), and the error norm in *norm.
static int dp_attempt(dp_state *st, const ds_batch *x, double t, double h, double *norm) {
    for (int s = 1; s < 7; s++) {
        DS_TRY(dp_combine(st, st->y, x, h, dp_a[s], s));
        DS_TRY(dp_rhs(st, st->y, t + dp_c[s] * h, st->k[s]));
    }
    DS_TRY(dp_combine(st, st->err, NULL, h, dp_e, 7));
    DS_TRY(dp_error_norm(st, x, norm));
    return isfinite(*norm) ? 0 : ds_fail("solver adaptive: the error estimate is not finite");
}

// Integrates x from t to t_end (< t); *h carries the step size between calls.
static int dp_integrate(dp_state *st, ds_batch *x, double t, double t_end, double *h) {
    while (t > t_end) {
        // A step that would end past t_end, or within rounding of it, is the step to t_end:
        // else t + step misses t_end by an ulp and the sliver left over is a step below the
        // underflow limit (h = log(s1 / s0) and log s1 - log s0 differ in the last bit; seen
        // with --teleport-sigma 3 on EDM-18, whose next point is 1.92334).
        double rest = t_end - t, step = *h <= rest * (1 - 1e-9) ? rest : *h, norm;
        if (fabs(step) < 1e-14 * fmax(1.0, fabs(t)))
            return ds_fail("solver adaptive: step size underflow at sigma = %g (rtol %g, atol %g)",
                           exp(t), st->o->rtol, st->o->atol);
        DS_TRY(dp_attempt(st, x, t, step, &norm));
        double grow = norm > 0 ? 0.9 * pow(norm, -0.2) : 5.0;
        if (norm <= 1) {
            DS_TRY(st->c->b->copy(st->c->b, x, st->y));
            ds_batch *k0 = st->k[0];
            st->k[0] = st->k[6], st->k[6] = k0;
            t = step == rest ? t_end : t + step;
            if (step == *h) *h = step * fmin(5.0, fmax(0.2, grow));
        } else {
            *h = step * fmin(1.0, fmax(0.2, grow));
        }
    }
    return 0;
}

int solver_adaptive(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                    ds_batch *x) {
    if (o->order && o->order != 5)
        return ds_fail("solver adaptive is Dormand-Prince 5(4) (order 5; got %d)", o->order);
    // Below 1e-14 the rounding of x in double dominates the error estimate (1e-300 gave an
    // infinite one).
    if (!(o->rtol >= 1e-14) || !(o->atol >= 1e-14))
        return ds_fail("solver adaptive: rtol and atol must be >= 1e-14 (got %g, %g)", o->rtol,
                       o->atol);
    dp_state st = {.c = c, .o = o};
    int rc = 0;
    for (int s = 0; s < 7; s++)
        if (!(st.k[s] = solver_batch_like(c, x))) rc = -1;
    st.y = solver_batch_like(c, x), st.err = solver_batch_like(c, x);
    size_t count = (size_t)(x->rows * x->cols);
    st.hx = ds_try_alloc(3 * count, sizeof(double), "solver adaptive");
    if (!st.y || !st.err || !st.hx) rc = -1;
    st.hy = st.hx + count, st.herr = st.hy + count;
    double h = log(sigmas[1] > 0 ? sigmas[1] / sigmas[0] : 0.5);
    if (!rc) rc = dp_rhs(&st, x, log(sigmas[0]), st.k[0]);
    for (int i = 0; i + 1 < n && !rc; i++) {
        // D(x_i; sigma_i) = x_i - k[0], for the hook and a last step to 0 (y is scratch).
        if (c->on_step || sigmas[i + 1] == 0) rc = solver_axpby(c, st.y, 1, x, -1, st.k[0]);
        if (rc) break;
        if (!rc) rc = solver_record(c, i, sigmas[i], x, st.y);
        if (sigmas[i + 1] == 0)
            rc = c->b->copy(c->b, x, st.y);
        else
            rc = dp_integrate(&st, x, log(sigmas[i]), log(sigmas[i + 1]), &h);
    }
    if (!rc) rc = solver_record(c, n - 1, sigmas[n - 1], x, NULL);
    for (int s = 0; s < 7; s++) solver_batch_free(c, st.k[s]);
    solver_batch_free(c, st.y);
    solver_batch_free(c, st.err);
    free(st.hx);
    return rc;
}
