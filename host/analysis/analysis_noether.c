// Most likely paths of the diffusion SDE and their Noether quantities (include/ds_noether.h).
//
// Lagrangian and quantities (Vastola 2025). For dx = f(x, t) dt + sqrt(2 q(t)) dW the path
// probability density is ~ exp(-S), S = int L dt, L = |xdot - f|^2 / (4 q): the paper's
// Onsager-Machlup Lagrangian (its small-noise form: the divergence term (1/2) div f of the
// full Onsager-Machlup functional is left out, as in the paper). Noether's theorem for L:
// - time translation: E = xdot . dL/dxdot - L = (|xdot|^2 - |f|^2) / (4 q), with
//   dE/dt = -dL/dt|_(x, xdot) along an extremal (0 when f and q do not depend on t);
// - translation along x_j: p_j = dL/dxdot_j = (xdot - f)_j / (2 q), conserved when L does
//   not depend on x_j (f independent of x_j);
// - rotation in the (x_0, x_1) plane about c: J = (x - c)_0 p_1 - (x - c)_1 p_0, conserved
//   when f(c + R y) = R f(c + y) for rotations R (a model symmetric about c, isotropic q).
// The processes (ds_noether_process): the reverse SDE f = 2 (D - x) / sigma, q = sigma with
// sigma = sigma_from - t (explicitly time dependent: E drifts by the balance above), and
// Langevin dynamics at fixed sigma, f = (D - x) / sigma^2, q = 1 (E conserved).
//
// Discretisation: nodes x_0 .. x_K at t_k = k h (x_0, x_K fixed), and per interval the
// midpoint x^_k = (x_k + x_k+1) / 2, velocity v_k = (x_k+1 - x_k) / h, residual
// r_k = v_k - f(x^_k, t_k + h / 2): S_h = sum_k h |r_k|^2 / (4 q_k), second-order accurate.
// Its gradient at node j: p-_j - p+_j, where p-_j = r_j-1 / (2 q_j-1) - h / (4 q_j-1)
// J_f^T r_j-1 (= dS_interval(j-1) / dx_j) and p+_j = r_j / (2 q_j) + h / (4 q_j) J_f^T r_j
// (= -dS_interval(j) / dx_j): the discrete Legendre transforms. At a stationary path
// p-_j = p+_j = p_j, the node momentum reported; by the discrete Noether theorem its angular
// momentum is conserved exactly when S_h is rotation invariant (it is, for a symmetric
// model, since x^ and v rotate with the nodes). J_f = a (J_D - I) with J_D = Cov[x0|x] /
// sigma^2 symmetric for the denoiser of a density (Tweedie), so J_f^T r = J_f r, taken by
// a central difference of the denoiser along r (step fd_step sigma: truncation
// ~fd_step^2, rounding ~u / fd_step). E is reported at the midpoints, dL/dt there from a
// central difference of D in sigma.
//
// Minimiser: L-BFGS (8 pairs) over the interior nodes with a backtracking Armijo search,
// from the straight line, until |grad S| falls by grad_tol, the search finds no decrease, or
// S moves by less than 1e-14 of itself five times running (the floor that the
// difference quotients of D set on |grad S|); preconditioned by the kinetic part of the Hessian
// (per coordinate the tridiagonal (1 / (2 h)) (1 / q_j-1 + 1 / q_j) on the diagonal, -1 / (2 h q_j)
// beside it), whose condition number ~K^2 would otherwise set the pace.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ds_error.h"
#include "ds_noether.h"

#define NOETHER_MAX_D 64
#define LBFGS_PAIRS 8

void ds_noether_opts_default(ds_noether_opts *o) {
    memset(o, 0, sizeof *o);
    o->process = DS_NOETHER_REVERSE;
    o->sigma_from = 2, o->sigma_to = 0.1;
    o->sigma = 1, o->duration = 1;
    o->steps = 64;
    o->max_iters = 20000;
    o->grad_tol = 1e-9;
    o->fd_step = 1e-4;
}

typedef struct {
    ds_backend *be;
    ds_bound_model *bm;
    const ds_noether_opts *o;
    int64_t d, k;
    double h;
    ds_batch *xb, *ob;
    double *block;                              // every array below, one allocation
    double *rows, *sig, *den;                   // host rows of one denoiser call (at most 2 K)
    double *f, *r, *jr, *mid;                   // K x d: drift, residual, J_f r, midpoints
    double *len;                                // K: |r_k|
    double *pm, *pp;                            // (K + 1) x d: p- and p+ at the nodes
    double *sig_mid, *a_mid, *q_mid;            // K
    double *g, *dir, *xn, *gn, *sv, *yv, *work; // the minimiser's vectors
} ctx;

static double duration(const ds_noether_opts *o) {
    return o->process == DS_NOETHER_REVERSE ? o->sigma_from - o->sigma_to : o->duration;
}

static double sigma_at(const ds_noether_opts *o, double t) {
    return o->process == DS_NOETHER_REVERSE ? o->sigma_from - t : o->sigma;
}

// f = a(sigma) (D - x), q(sigma), and d sigma / dt.
static double drift_scale(const ds_noether_opts *o, double s) {
    return o->process == DS_NOETHER_REVERSE ? 2 / s : 1 / (s * s);
}
static double diffusion(const ds_noether_opts *o, double s) {
    return o->process == DS_NOETHER_REVERSE ? s : 1;
}

static int check_opts(int64_t d, const ds_noether_opts *o) {
    if (d < 1 || d > NOETHER_MAX_D)
        return ds_fail(
            "noether: the model has d = %lld (expected a low-dimensional model, d <= %d)",
            (long long)d, NOETHER_MAX_D);
    if (o->steps < 2 || o->steps > 100000)
        return ds_fail("noether: %lld steps (expected 2 .. 100000)", (long long)o->steps);
    if (o->max_iters < 0)
        return ds_fail("noether: %lld iterations (expected >= 0)", (long long)o->max_iters);
    if (!(o->grad_tol > 0) || !(o->fd_step > 0) || !(o->fd_step < 0.1))
        return ds_fail("noether: tolerance %g and fd step %g (expected > 0, and the step < 0.1)",
                       o->grad_tol, o->fd_step);
    if (o->process == DS_NOETHER_REVERSE &&
        !(o->sigma_to > 0 && o->sigma_from > o->sigma_to && isfinite(o->sigma_from)))
        return ds_fail("noether: reverse process from sigma %g to %g (expected sigma_from > "
                       "sigma_to > 0)",
                       o->sigma_from, o->sigma_to);
    if (o->process == DS_NOETHER_LANGEVIN &&
        !(o->sigma > 0 && isfinite(o->sigma) && o->duration > 0 && isfinite(o->duration)))
        return ds_fail("noether: langevin at sigma %g for time %g (expected both finite, > 0)",
                       o->sigma, o->duration);
    if (o->process != DS_NOETHER_REVERSE && o->process != DS_NOETHER_LANGEVIN)
        return ds_fail("noether: unknown process %d", (int)o->process);
    return 0;
}

static void ctx_free(ctx *c) {
    if (c->xb) c->be->batch_free(c->be, c->xb);
    if (c->ob) c->be->batch_free(c->be, c->ob);
    free(c->block);
}

// Carves n doubles off *at.
static double *take(double **at, int64_t n) {
    double *p = *at;
    *at += n;
    return p;
}

static int ctx_init(ctx *c, ds_backend *be, ds_bound_model *bm, int64_t d,
                    const ds_noether_opts *o) {
    int64_t k = o->steps, n = (k + 1) * d, m = LBFGS_PAIRS;
    *c = (ctx){.be = be, .bm = bm, .o = o, .d = d, .k = k, .h = duration(o) / (double)k};
    int64_t total = 4 * k * d + 2 * k + 4 * k * d + k + 2 * n + 3 * k + 4 * n + 2 * m * n + 2 * k;
    c->block = ds_try_alloc((size_t)total, sizeof(double), "noether: path work");
    if (!c->block) return -1;
    double *at = c->block;
    c->rows = take(&at, 2 * k * d), c->den = take(&at, 2 * k * d), c->sig = take(&at, 2 * k);
    c->f = take(&at, k * d), c->r = take(&at, k * d), c->jr = take(&at, k * d);
    c->mid = take(&at, k * d), c->len = take(&at, k);
    c->pm = take(&at, n), c->pp = take(&at, n);
    c->sig_mid = take(&at, k), c->a_mid = take(&at, k), c->q_mid = take(&at, k);
    c->g = take(&at, n), c->dir = take(&at, n), c->xn = take(&at, n), c->gn = take(&at, n);
    c->sv = take(&at, m * n), c->yv = take(&at, m * n), c->work = take(&at, 2 * k);
    for (int64_t i = 0; i < k; i++) {
        double s = sigma_at(o, (i + 0.5) * c->h);
        c->sig_mid[i] = s, c->a_mid[i] = drift_scale(o, s), c->q_mid[i] = diffusion(o, s);
    }
    return 0;
}

// den = D(rows; sig) for n rows.
static int denoise_rows(ctx *c, int64_t n) {
    if (!c->xb || c->xb->rows != n) {
        if (c->xb) c->be->batch_free(c->be, c->xb), c->be->batch_free(c->be, c->ob);
        c->xb = c->be->batch_new(c->be, n, c->d);
        c->ob = c->be->batch_new(c->be, n, c->d);
        if (!c->xb || !c->ob)
            return ds_fail("noether: no memory for a batch of %lld rows", (long long)n);
    }
    DS_TRY(c->be->upload(c->be, c->xb, c->rows));
    DS_TRY(c->be->denoise(c->be, c->bm, c->xb, c->sig, n, c->ob, NULL));
    return c->be->download(c->be, c->ob, c->den);
}

// The action of path x; with grad, its gradient and the node momenta p-, p+.
static int evaluate(ctx *c, const double *x, double *action, double *grad) {
    int64_t k = c->k, d = c->d;
    double h = c->h;
    for (int64_t i = 0; i < k; i++) {
        for (int64_t j = 0; j < d; j++)
            c->rows[i * d + j] = 0.5 * (x[i * d + j] + x[(i + 1) * d + j]);
        c->sig[i] = c->sig_mid[i];
    }
    DS_TRY(denoise_rows(c, k));
    double s = 0;
    for (int64_t i = 0; i < k; i++)
        for (int64_t j = 0; j < d; j++) {
            int64_t e = i * d + j;
            c->f[e] = c->a_mid[i] * (c->den[e] - c->rows[e]);
            c->r[e] = (x[e + d] - x[e]) / h - c->f[e];
            s += h * c->r[e] * c->r[e] / (4 * c->q_mid[i]);
        }
    *action = s;
    if (!grad) return 0;
    // J_D r by a central difference along r: rows i and k + i at x^ +- eps r / |r|
    double *mid = c->mid, *len = c->len;
    memcpy(mid, c->rows, sizeof(double) * (size_t)(k * d));
    for (int64_t i = 0; i < k; i++) {
        double rr = 0, eps = c->o->fd_step * c->sig_mid[i];
        for (int64_t j = 0; j < d; j++) rr += c->r[i * d + j] * c->r[i * d + j];
        len[i] = sqrt(rr);
        for (int64_t j = 0; j < d; j++) {
            double step = len[i] > 0 ? eps * c->r[i * d + j] / len[i] : 0;
            c->rows[i * d + j] = mid[i * d + j] + step;
            c->rows[(k + i) * d + j] = mid[i * d + j] - step;
        }
        c->sig[i] = c->sig[k + i] = c->sig_mid[i];
    }
    int rc = denoise_rows(c, 2 * k);
    for (int64_t i = 0; i < k && !rc; i++) {
        double eps = c->o->fd_step * c->sig_mid[i];
        for (int64_t j = 0; j < d; j++) {
            int64_t e = i * d + j;
            double jd = len[i] > 0 ? (c->den[e] - c->den[k * d + e]) / (2 * eps) * len[i] : 0;
            c->jr[e] = c->a_mid[i] * (jd - c->r[e]); // J_f r
        }
    }
    if (rc) return rc;
    memset(c->pm, 0, sizeof(double) * (size_t)((k + 1) * d));
    memset(c->pp, 0, sizeof(double) * (size_t)((k + 1) * d));
    for (int64_t i = 0; i < k; i++) {
        double q = c->q_mid[i];
        for (int64_t j = 0; j < d; j++) {
            int64_t e = i * d + j;
            c->pp[e] = c->r[e] / (2 * q) + h / (4 * q) * c->jr[e];
            c->pm[e + d] = c->r[e] / (2 * q) - h / (4 * q) * c->jr[e];
        }
    }
    for (int64_t e = 0; e < (k + 1) * d; e++) grad[e] = c->pm[e] - c->pp[e];
    for (int64_t j = 0; j < d; j++) grad[j] = grad[k * d + j] = 0;
    return 0;
}

static double dot(const double *a, const double *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

// v <- T^-1 v on the interior nodes for each coordinate (Thomas algorithm), T the kinetic
// Hessian above; the ends stay 0.
static void precondition(const ctx *c, double *v, double *work) {
    int64_t k = c->k, d = c->d;
    double h = c->h, *cp = work, *dp = work + k;
    for (int64_t j = 0; j < d; j++) {
        for (int64_t i = 1; i < k; i++) { // node i sits between intervals i - 1 and i
            double diag = (1 / c->q_mid[i - 1] + 1 / c->q_mid[i]) / (2 * h);
            double lower = i > 1 ? -1 / (2 * h * c->q_mid[i - 1]) : 0;
            double upper = -1 / (2 * h * c->q_mid[i]);
            double den = diag - lower * (i > 1 ? cp[i - 1] : 0);
            cp[i] = upper / den;
            dp[i] = (v[i * d + j] - lower * (i > 1 ? dp[i - 1] : 0)) / den;
        }
        v[(k - 1) * d + j] = dp[k - 1];
        for (int64_t i = k - 2; i >= 1; i--) v[i * d + j] = dp[i] - cp[i] * v[(i + 1) * d + j];
        v[j] = v[k * d + j] = 0;
    }
}

// L-BFGS over the whole node array (the ends' gradient is zero, so they stay fixed).
static int minimise(ctx *c, double *x, ds_noether_path *out) {
    int64_t n = (c->k + 1) * c->d, m = LBFGS_PAIRS;
    double *g = c->g, *dir = c->dir, *xn = c->xn, *gn = c->gn, *sv = c->sv, *yv = c->yv;
    double *work = c->work;
    double rho[LBFGS_PAIRS], alpha[LBFGS_PAIRS], s_val, sn;
    int64_t stored = 0, head = 0, it = 0, stalls = 0;
    int rc = evaluate(c, x, &s_val, g);
    double g0 = rc ? 0 : sqrt(dot(g, g, n)), gnorm = g0;
    while (!rc && it < c->o->max_iters && gnorm > c->o->grad_tol * g0) {
        // two-loop recursion
        memcpy(dir, g, sizeof(double) * (size_t)n);
        for (int64_t back = 0; back < stored; back++) {
            int64_t p = (head - 1 - back + m) % m;
            alpha[p] = rho[p] * dot(sv + p * n, dir, n);
            for (int64_t e = 0; e < n; e++) dir[e] -= alpha[p] * yv[p * n + e];
        }
        precondition(c, dir, work);
        for (int64_t back = stored - 1; back >= 0; back--) {
            int64_t p = (head - 1 - back + m) % m;
            double beta = rho[p] * dot(yv + p * n, dir, n);
            for (int64_t e = 0; e < n; e++) dir[e] += sv[p * n + e] * (alpha[p] - beta);
        }
        double slope = -dot(g, dir, n);
        if (!(slope < 0)) { // not a descent direction: restart from the preconditioned gradient
            stored = 0;
            memcpy(dir, g, sizeof(double) * (size_t)n);
            precondition(c, dir, work);
            slope = -dot(g, dir, n);
        }
        double step = 1;
        int accepted = 0;
        for (int tries = 0; tries < 60 && !rc; tries++, step *= 0.5) {
            for (int64_t e = 0; e < n; e++) xn[e] = x[e] - step * dir[e];
            rc = evaluate(c, xn, &sn, gn);
            if (!rc && sn <= s_val + 1e-4 * step * slope) {
                accepted = 1;
                break;
            }
        }
        if (rc || !accepted) break; // no decrease left at this precision
        // the differences of D set a floor on |grad S|: stop when S stops moving
        stalls = s_val - sn <= 1e-14 * fabs(s_val) ? stalls + 1 : 0;
        if (stalls == 5) break;
        for (int64_t e = 0; e < n; e++) {
            sv[head * n + e] = xn[e] - x[e];
            yv[head * n + e] = gn[e] - g[e];
        }
        double sy = dot(sv + head * n, yv + head * n, n);
        if (sy > 0) {
            rho[head] = 1 / sy;
            head = (head + 1) % m;
            if (stored < m) stored++;
        }
        memcpy(x, xn, sizeof(double) * (size_t)n);
        memcpy(g, gn, sizeof(double) * (size_t)n);
        s_val = sn;
        gnorm = sqrt(dot(g, g, n));
        it++;
    }
    // leave p-, p+ and the drift of the final path in c
    if (!rc) rc = evaluate(c, x, &s_val, g);
    if (!rc) {
        gnorm = sqrt(dot(g, g, n));
        out->action = s_val;
        out->iters = it;
        out->grad_rel = g0 > 0 ? gnorm / g0 : 0;
        out->converged = out->grad_rel <= c->o->grad_tol;
    }
    return rc;
}

// E and dL/dt at the midpoints of the final path (f, r in c), and the energy balance.
static int energy(ctx *c, const double *x, ds_noether_path *out) {
    int64_t k = c->k, d = c->d;
    double h = c->h, ds_dt = c->o->process == DS_NOETHER_REVERSE ? -1 : 0;
    for (int64_t i = 0; i < k; i++) {
        double vv = 0, ff = 0;
        for (int64_t j = 0; j < d; j++) {
            int64_t e = i * d + j;
            double v = (x[e + d] - x[e]) / h;
            vv += v * v, ff += c->f[e] * c->f[e];
        }
        out->energy[i] = (vv - ff) / (4 * c->q_mid[i]);
        out->dl_dt[i] = 0;
    }
    if (ds_dt != 0) {
        // dD/dsigma at the midpoints by a central difference: rows i (sigma + delta), k + i
        for (int64_t i = 0; i < k; i++) {
            double delta = c->o->fd_step * c->sig_mid[i];
            for (int64_t j = 0; j < d; j++)
                c->rows[i * d + j] = c->rows[(k + i) * d + j] =
                    0.5 * (x[i * d + j] + x[(i + 1) * d + j]);
            c->sig[i] = c->sig_mid[i] + delta, c->sig[k + i] = c->sig_mid[i] - delta;
        }
        DS_TRY(denoise_rows(c, 2 * k));
        for (int64_t i = 0; i < k; i++) {
            double s = c->sig_mid[i], delta = c->o->fd_step * s, q = c->q_mid[i];
            // reverse: a = 2 / sigma, a' = -2 / sigma^2; q = sigma, q' = 1
            double rdf = 0, rr = 0;
            for (int64_t j = 0; j < d; j++) {
                int64_t e = i * d + j;
                double dd = (c->den[e] - c->den[k * d + e]) / (2 * delta);
                double dmx = c->f[e] / c->a_mid[i];
                double df_dt = ds_dt * (-2 / (s * s) * dmx + c->a_mid[i] * dd);
                rdf += c->r[e] * df_dt, rr += c->r[e] * c->r[e];
            }
            out->dl_dt[i] = -rdf / (2 * q) - rr * ds_dt / (4 * q * q);
        }
    }
    double integral = 0;
    for (int64_t i = 0; i + 1 < k; i++) integral += h * 0.5 * (out->dl_dt[i] + out->dl_dt[i + 1]);
    out->energy_balance = out->energy[k - 1] - out->energy[0] + integral;
    return 0;
}

static int alloc_path(ds_noether_path *p, int64_t k, int64_t d) {
    memset(p, 0, sizeof *p);
    p->steps = k, p->d = d;
    const char *what = "noether: path";
    p->t = ds_try_alloc((size_t)(k + 1), sizeof(double), what);
    p->sigma = ds_try_alloc((size_t)(k + 1), sizeof(double), what);
    p->x = ds_try_alloc((size_t)((k + 1) * d), sizeof(double), what);
    p->p = ds_try_alloc((size_t)((k + 1) * d), sizeof(double), what);
    p->angular = ds_try_alloc((size_t)(k + 1), sizeof(double), what);
    p->energy = ds_try_alloc((size_t)k, sizeof(double), what);
    p->dl_dt = ds_try_alloc((size_t)k, sizeof(double), what);
    if (p->t && p->sigma && p->x && p->p && p->angular && p->energy && p->dl_dt) return 0;
    ds_noether_path_free(p);
    return -1;
}

int ds_noether_path_solve(ds_backend *be, ds_bound_model *bm, int64_t d, const double *x_from,
                          const double *x_to, const ds_noether_opts *o, ds_noether_path *out) {
    memset(out, 0, sizeof *out);
    DS_TRY(check_opts(d, o));
    for (int64_t j = 0; j < d; j++)
        if (!isfinite(x_from[j]) || !isfinite(x_to[j]))
            return ds_fail("noether: the end states must be finite");
    int64_t k = o->steps;
    ctx c;
    DS_TRY(ctx_init(&c, be, bm, d, o));
    if (alloc_path(out, k, d)) {
        ctx_free(&c);
        return -1;
    }
    for (int64_t i = 0; i <= k; i++) {
        double u = (double)i / (double)k;
        out->t[i] = i * c.h;
        out->sigma[i] = sigma_at(o, out->t[i]);
        for (int64_t j = 0; j < d; j++) out->x[i * d + j] = (1 - u) * x_from[j] + u * x_to[j];
    }
    int rc = minimise(&c, out->x, out);
    if (!rc) rc = energy(&c, out->x, out);
    for (int64_t i = 0; i <= k && !rc; i++) {
        for (int64_t j = 0; j < d; j++) {
            int64_t e = i * d + j;
            out->p[e] = i == 0 ? c.pp[e] : i == k ? c.pm[e] : 0.5 * (c.pm[e] + c.pp[e]);
        }
        out->angular[i] = d < 2 ? 0
                                : (out->x[i * d] - o->centre[0]) * out->p[i * d + 1] -
                                      (out->x[i * d + 1] - o->centre[1]) * out->p[i * d];
    }
    ctx_free(&c);
    if (rc) ds_noether_path_free(out);
    return rc;
}

int ds_noether_action(ds_backend *be, ds_bound_model *bm, int64_t d, const ds_noether_opts *o,
                      const double *x, double *action, double *grad) {
    DS_TRY(check_opts(d, o));
    ctx c;
    DS_TRY(ctx_init(&c, be, bm, d, o));
    int rc = evaluate(&c, x, action, grad);
    ctx_free(&c);
    return rc;
}

void ds_noether_path_free(ds_noether_path *p) {
    free(p->t), free(p->sigma), free(p->x), free(p->p), free(p->angular), free(p->energy);
    free(p->dl_dt);
    memset(p, 0, sizeof *p);
}
