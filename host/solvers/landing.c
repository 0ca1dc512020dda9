// Certified landing of the empirical model: rows whose posterior has become one-hot
// leave the denoiser's batch.
//
// Why the certificate holds. At an evaluation at the solver's state x (sigma s0) let y
// be the top training row and m = 1 - w_top <= eps the mass on the others. Along the
// straight line x(s) = y + (s / s0)(x - y), with v = x - y and Delta_i = y - y_i, the
// logit gap to row i is
//   g_i(s) = (|x(s) - y_i|^2 - |x(s) - y|^2) / (2 s^2) = |Delta_i|^2 / (2 s^2) + (v . Delta_i) / (s
//   s0).
// y is the top row, so g_i(s0) > 0 (a tie would give m >= 1/2 > eps). Then
//   dg_i/ds = -(2 a_i / s + b_i) / s^2 with a_i = |Delta_i|^2 / 2, b_i = v . Delta_i / s0,
// and g_i(s0) > 0 means b_i > -a_i / s0, so 2 a_i / s + b_i > a_i / s0 > 0 for s <= s0:
// every gap grows as s falls, each weight exp(-g_i) / (1 + sum) shrinks, and the mass
// off y stays <= m at every later sigma. On that line D = y (to m), so the flow
// dx/ds = (x - D) / s is the line itself, and every solver reproduces it exactly: each
// step is a combination x_next = r x + sum_j c_j D_j with r + sum_j c_j = 1 that is
// exact for a constant D (Euler and Heun in sigma, DPM-Solver in log sigma, the
// Adams-Bashforth slopes (x - D) / s, which are constant on the line). So a landed row
// keeps its place in the solver's linear combinations with D = y, and needs no more
// evaluations; a final step to 0 returns y, a run to sigma_min ends at
// y + (sigma_min / s0)(x - y). (A multistep solver's history from before the landing
// still enters its next steps, exactly as in the dense run, which the landed row thus
// follows rather than the line through its state at s0.)
//
// The error against the dense run. The dense denoiser differs from y by
// delta = sum_i w_i (y_i - y), |delta| <= m R with R = max_i |y_i - y| (the data's
// diameter bounds it). One Euler step moves the error e = x - line to
// r e + (1 - r) delta, so after the last step |e| <= max |delta| <= eps R; higher-order
// solvers multiply this by the sum of the magnitudes of their D coefficients (C <= 2
// for Heun and the DPM-Solver++ steps on the usual schedules). Off the line by e the
// logits move by at most |e| |Delta_i| / s^2, against gaps of |Delta_i|^2 / (2 s^2) at
// least at small s, so the certificate survives on the dense run's own points while
// |e| << |Delta_i|. With the default eps = 1e-8 and Fashion-MNIST (R <= 50, |y| >= 10)
// the bound C eps R / |y| is 1e-7, float rounding; a run ending at 0 returns y in both
// runs, since there the dense posterior is one-hot to double precision.
//
// Stochastic samplers (churn, ancestral, SDE) never land (ds_sample_run leaves landing
// off for them): the noise they add moves a row off the line, so nothing certifies it.
//
// Only evaluations at the solver's state certify (solver_denoise_state): an
// intermediate point (Heun's predictor, a Runge-Kutta stage, UniPC's predictor) is not
// where the solver's next state lies, so a certificate there would not hold for it.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ds_error.h"
#include "solver.h"

int ds_landing_init(ds_landing *l, ds_backend *b, const ds_model *m, int64_t cap, double eps) {
    memset(l, 0, sizeof *l);
    if (m->kind != DS_MODEL_EMPIRICAL)
        return ds_fail("landing: needs the empirical model (got %s)", ds_model_kind_name(m->kind));
    if (!(eps > 0 && eps <= 1e-3))
        return ds_fail("landing: --landing-eps %g is outside (0, 1e-3]", eps);
    if (!m->data.values || m->data.n < 1 || m->data.d != m->d)
        return ds_fail("landing: the model's training rows are not on the host, so a landed "
                       "row cannot be given its training row");
    if (cap < 1) return ds_fail("landing: a batch of %lld rows", (long long)cap);
    l->eps = eps, l->cap = cap, l->d = m->d, l->m = m, l->b = b;
    size_t n = (size_t)cap;
    l->live_rows = ds_try_alloc(n, sizeof(int64_t), "landing");
    l->landed_rows = ds_try_alloc(n, sizeof(int64_t), "landing");
    l->top = ds_try_alloc(n, sizeof(int64_t), "landing");
    l->sigma = ds_try_alloc(n, sizeof(double), "landing");
    l->nfe = ds_try_alloc(n, sizeof(int64_t), "landing");
    l->top_weight = ds_try_alloc(n, sizeof(double), "landing");
    l->top_index = ds_try_alloc(n, sizeof(int64_t), "landing");
    l->y_host = ds_try_alloc(n * (size_t)m->d, sizeof(double), "landing");
    l->x_live = b->batch_new(b, cap, m->d);
    l->d_live = b->batch_new(b, cap, m->d);
    l->y_landed = b->batch_new(b, cap, m->d);
    if (!l->live_rows || !l->landed_rows || !l->top || !l->sigma || !l->nfe || !l->top_weight ||
        !l->top_index || !l->y_host || !l->x_live || !l->d_live || !l->y_landed) {
        ds_landing_free(l);
        return -1;
    }
    return ds_landing_reset(l, cap);
}

int ds_landing_reset(ds_landing *l, int64_t rows) {
    if (rows > l->cap)
        return ds_fail("landing: a batch of %lld rows > %lld", (long long)rows, (long long)l->cap);
    l->rows = l->live = rows;
    for (int64_t i = 0; i < rows; i++) {
        l->live_rows[i] = i;
        l->top[i] = -1;
        l->sigma[i] = 0;
        l->nfe[i] = 0;
    }
    return 0;
}

void ds_landing_free(ds_landing *l) {
    if (!l->b) return;
    ds_batch *batches[3] = {l->x_live, l->d_live, l->y_landed};
    for (int k = 0; k < 3; k++) {
        if (!batches[k]) continue;
        batches[k]->rows = l->cap; // the compact batches shrink to the live rows
        l->b->batch_free(l->b, batches[k]);
    }
    free(l->live_rows), free(l->landed_rows), free(l->top), free(l->sigma), free(l->nfe);
    free(l->top_weight), free(l->top_index), free(l->y_host);
    memset(l, 0, sizeof *l);
}

// After an evaluation at the state (sigma s) on the live rows: rows whose mass off the
// top row is <= eps land; their training rows go to y_landed.
static int land_certified(ds_landing *l, double s) {
    int64_t kept = 0, landed = l->rows - l->live, d = l->d;
    for (int64_t k = 0; k < l->live; k++) {
        int64_t i = l->live_rows[k];
        if (1.0 - l->top_weight[k] > l->eps) {
            l->live_rows[kept++] = i;
            continue;
        }
        int64_t t = l->top_index[k];
        l->top[i] = t, l->sigma[i] = s;
        l->landed_rows[landed++] = i;
        ds_data_rows_f64(&l->m->data, t, 1, l->y_host + i * d);
    }
    if (kept == l->live) return 0;
    l->live = kept;
    return l->b->upload(l->b, l->y_landed, l->y_host);
}

// out = D(x; sigma) for every row: live rows evaluated (compacted when some landed),
// landed rows given their training row.
static int landing_denoise(ds_solver_ctx *c, const ds_batch *x, double sigma, ds_batch *out,
                           int at_state) {
    ds_landing *l = c->landing;
    ds_backend *b = c->b;
    if (x->rows != l->rows)
        return ds_fail("landing: a batch of %lld rows where %lld were set up", (long long)x->rows,
                       (long long)l->rows);
    int compact = l->live < l->rows;
    if (l->live > 0) {
        c->nfe++;
        const ds_batch *in = x;
        ds_batch *res = out;
        if (compact) {
            l->x_live->rows = l->d_live->rows = l->live;
            DS_TRY(b->move_rows(b, l->x_live, NULL, x, l->live_rows, l->live));
            in = l->x_live, res = l->d_live;
        }
        ds_diag diag = {l->top_index, l->top_weight, NULL};
        DS_TRY(b->denoise(b, c->model, in, &sigma, 1, res, at_state ? &diag : NULL));
        if (compact) DS_TRY(b->move_rows(b, out, l->live_rows, l->d_live, NULL, l->live));
        for (int64_t k = 0; k < l->live; k++) l->nfe[l->live_rows[k]]++;
    }
    if (compact)
        DS_TRY(
            b->move_rows(b, out, l->landed_rows, l->y_landed, l->landed_rows, l->rows - l->live));
    return at_state && l->live > 0 ? land_certified(l, sigma) : 0;
}

// Every evaluation: the cancel hook first, then dense or with landing.
static int denoise(ds_solver_ctx *c, const ds_batch *x, double sigma, ds_batch *out, int at_state) {
    if (c->cancel && c->cancel(c->cancel_user)) return ds_fail("interrupted");
    if (c->landing) return landing_denoise(c, x, sigma, out, at_state);
    c->nfe++;
    return c->b->denoise(c->b, c->model, x, &sigma, 1, out, NULL);
}

int solver_denoise(ds_solver_ctx *c, const ds_batch *x, double sigma, ds_batch *out) {
    return denoise(c, x, sigma, out, 0);
}

int solver_denoise_state(ds_solver_ctx *c, const ds_batch *x, double sigma, ds_batch *out) {
    return denoise(c, x, sigma, out, 1);
}
