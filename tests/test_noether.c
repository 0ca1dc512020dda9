// Most likely paths (host/analysis/analysis_noether.c): the action's gradient against a
// finite difference of the action; the reverse-SDE path of a Gaussian against its closed
// form (Ornstein-Uhlenbeck per eigen-direction) at second order; the angular momentum
// conserved for an isotropic Gaussian about its mean and not for an anisotropic one; the
// energy balance dE/dt = -dL/dt; bad options refused.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_backend.h"
#include "ds_error.h"
#include "ds_noether.h"
#include "testutil.h"

enum { D = 2 };

// A Gaussian in 2-D: eigenvalues lam, random orthonormal eigenvectors, mean mu.
static void gaussian(ds_model *m, const double *mu, const double *lam, uint64_t seed) {
    memset(m, 0, sizeof *m);
    m->kind = DS_MODEL_GAUSSIAN;
    m->d = D, m->k = 1, m->r = D;
    m->mean = malloc(sizeof(double) * D), m->means = malloc(sizeof(double) * D);
    memcpy(m->mean, mu, sizeof(double) * D), memcpy(m->means, mu, sizeof(double) * D);
    m->weights = malloc(sizeof(double)), m->weights[0] = 1;
    m->residual = calloc(1, sizeof(double));
    m->eigvals = malloc(sizeof(double) * D);
    memcpy(m->eigvals, lam, sizeof(double) * D);
    m->eigvecs = malloc(sizeof(double) * D * D);
    tu_orthonormal_columns(m->eigvecs, D, D, seed);
}

typedef struct {
    ds_backend *be;
    ds_bound_model *bm;
    ds_model m;
} bound;

static void bind(bound *b, const double *mu, const double *lam, uint64_t seed) {
    gaussian(&b->m, mu, lam, seed);
    b->be = ds_backend_new("ref");
    b->bm = b->be->bind(b->be, &b->m);
    assert_non_null(b->bm);
}

static void unbind(bound *b) {
    b->be->unbind(b->be, b->bm);
    ds_backend_free(b->be);
    ds_model_free(&b->m);
}

static void random_setup(uint64_t seed, double *mu, double *lam, double *a, double *b) {
    tu_fill_uniform(mu, D, seed, -1, 1);
    tu_fill_uniform(lam, D, seed + 1, 0.3, 3.0);
    tu_fill_uniform(a, D, seed + 2, -2, 2);
    tu_fill_uniform(b, D, seed + 3, -1, 1);
}

// The action is smooth: a central difference with step 1e-6 errs by ~1e-12 S''' and
// ~1e-16 S / 1e-6; the gradient's own difference of D (fd step 1e-4 sigma) by ~1e-8 of
// its J_f term. 1e-6 relative bounds both.
static void test_gradient_matches_difference_of_action(void **state) {
    (void)state;
    uint64_t seed = tu_seed();
    double mu[D], lam[D], a[D], b[D];
    random_setup(seed, mu, lam, a, b);
    bound bd;
    bind(&bd, mu, lam, seed + 4);
    ds_noether_opts o;
    ds_noether_opts_default(&o);
    o.steps = 12;
    int64_t n = (o.steps + 1) * D;
    double x[26], g[26], fd[26], s, sp, sm;
    tu_fill_normal(x, n, seed + 5);
    assert_int_equal(ds_noether_action(bd.be, bd.bm, D, &o, x, &s, g), 0);
    for (int64_t e = D; e < n - D; e++) {
        double keep = x[e];
        x[e] = keep + 1e-6;
        assert_int_equal(ds_noether_action(bd.be, bd.bm, D, &o, x, &sp, NULL), 0);
        x[e] = keep - 1e-6;
        assert_int_equal(ds_noether_action(bd.be, bd.bm, D, &o, x, &sm, NULL), 0);
        x[e] = keep;
        fd[e] = (sp - sm) / 2e-6;
    }
    fd[0] = fd[1] = fd[n - 2] = fd[n - 1] = 0;
    double err = tu_rel_l2(g, fd, n);
    printf("action gradient vs central difference: %.2e\n", err);
    assert_true(err < 1e-6);
    unbind(&bd);
}

// Closed form. Per eigen-direction y = U^T (x - mu), the reverse SDE has f = -k y,
// k = 2 sigma / (lam + sigma^2), q = sigma, sigma = sigma_a - t. Euler-Lagrange: p = (ydot +
// k y) / (2 q) obeys pdot = k p, so p = p0 u_a / u with u = lam + sigma^2, and then
// y(sigma) = (u / u_a) y_a + p0 (u_a - u): linear in u. The end y_b fixes
// p0 = (y_b - (u_b / u_a) y_a) / (u_a - u_b).
static double closed_form(double lam, double sa, double sb, double ya, double yb, double s) {
    double ua = lam + sa * sa, ub = lam + sb * sb, u = lam + s * s;
    return u / ua * ya + (ua - u) / (ua - ub) * (yb - ub / ua * ya);
}

static double path_error(bound *bd, const double *a, const double *b, int64_t steps) {
    ds_noether_opts o;
    ds_noether_opts_default(&o);
    o.sigma_from = 2, o.sigma_to = 0.2, o.steps = steps;
    ds_noether_path p;
    assert_int_equal(ds_noether_path_solve(bd->be, bd->bm, D, a, b, &o, &p), 0);
    const double *u = bd->m.eigvecs, *mu = bd->m.means, *lam = bd->m.eigvals;
    double ya[D], yb[D], err = 0;
    for (int c = 0; c < D; c++) {
        ya[c] = yb[c] = 0;
        for (int j = 0; j < D; j++)
            ya[c] += u[j * D + c] * (a[j] - mu[j]), yb[c] += u[j * D + c] * (b[j] - mu[j]);
    }
    for (int64_t i = 0; i <= steps; i++)
        for (int j = 0; j < D; j++) {
            double want = mu[j];
            for (int c = 0; c < D; c++)
                want += u[j * D + c] * closed_form(lam[c], 2, 0.2, ya[c], yb[c], p.sigma[i]);
            err = fmax(err, fabs(p.x[i * D + j] - want));
        }
    printf("steps %lld: %lld iterations, |grad| ratio %.1e, max error %.3e\n", (long long)steps,
           (long long)p.iters, p.grad_rel, err);
    assert_true(p.grad_rel < 1e-7); // converged, or stopped at the difference floor
    ds_noether_path_free(&p);
    return err;
}

// The midpoint action is a second-order discretisation, so the error must fall ~4x per
// halving of h (3 .. 5.5 allowed), and be within h^2 T^2 M: the discrete Green's
// function of the Dirichlet problem is <= T^2 / 8, and the truncation error <= h^2 (|y''''|
// / 12 + |k| |y'''| / 4 + (k^2 + |k'|) |y''| / 4 + ...) <= h^2 M with M the largest
// |y''| + |y'''| + |y''''| times (1 + k_max)^2 (a generous bound of those sums).
static void test_gaussian_path_matches_closed_form(void **state) {
    (void)state;
    uint64_t seed = tu_seed() + 101;
    double mu[D], lam[D], a[D], b[D];
    random_setup(seed, mu, lam, a, b);
    bound bd;
    bind(&bd, mu, lam, seed + 4);
    double e32 = path_error(&bd, a, b, 32), e64 = path_error(&bd, a, b, 64);
    // M from the closed form: derivatives in t = 2 - sigma by differences on a fine grid
    double ya[D], yb[D], mmax = 0, kmax = 0, T = 1.8;
    const double *u = bd.m.eigvecs;
    for (int c = 0; c < D; c++) {
        ya[c] = yb[c] = 0;
        for (int j = 0; j < D; j++)
            ya[c] += u[j * D + c] * (a[j] - mu[j]), yb[c] += u[j * D + c] * (b[j] - mu[j]);
        for (int i = 2; i <= 358; i++) {
            double hh = T / 360, y[5];
            for (int q = 0; q < 5; q++)
                y[q] = closed_form(lam[c], 2, 0.2, ya[c], yb[c], 2 - (i - 2 + q) * hh);
            double d2 = (y[3] - 2 * y[2] + y[1]) / (hh * hh);
            double d3 = (y[4] - 2 * y[3] + 2 * y[1] - y[0]) / (2 * hh * hh * hh);
            double d4 = (y[4] - 4 * y[3] + 6 * y[2] - 4 * y[1] + y[0]) / (hh * hh * hh * hh);
            mmax = fmax(mmax, fabs(d2) + fabs(d3) + fabs(d4));
            double s = 2 - i * hh;
            kmax = fmax(kmax, 2 * s / (lam[c] + s * s));
        }
    }
    double h = T / 64, bound_64 = h * h * T * T * mmax * (1 + kmax) * (1 + kmax);
    printf("error ratio %.3f, error at 64 steps %.3e, bound %.3e\n", e32 / e64, e64, bound_64);
    assert_true(e32 / e64 > 3 && e32 / e64 < 5.5);
    assert_true(e64 < bound_64);
    unbind(&bd);
}

// Isotropic Gaussian about mu: S_h is rotation invariant, so J is conserved to the
// stationarity and finite-difference error (1e-5 of its size); with eigenvalues 0.3 and 3
// it is not (drift above 1e-2).
static double angular_drift(const double *lam, uint64_t seed, double *balance) {
    double mu[D], unused[D], a[D], b[D];
    random_setup(seed, mu, unused, a, b);
    bound bd;
    bind(&bd, mu, lam, seed + 4);
    ds_noether_opts o;
    ds_noether_opts_default(&o);
    o.centre[0] = mu[0], o.centre[1] = mu[1];
    ds_noether_path p;
    assert_int_equal(ds_noether_path_solve(bd.be, bd.bm, D, a, b, &o, &p), 0);
    double drift = 0, size = 0, emin = p.energy[0], emax = p.energy[0];
    for (int64_t i = 0; i <= p.steps; i++) {
        drift = fmax(drift, fabs(p.angular[i] - p.angular[0]));
        size = fmax(size, fabs(p.angular[i]));
    }
    for (int64_t i = 0; i < p.steps; i++)
        emin = fmin(emin, p.energy[i]), emax = fmax(emax, p.energy[i]);
    *balance = fabs(p.energy_balance) / (emax - emin);
    ds_noether_path_free(&p);
    unbind(&bd);
    return drift / size;
}

static void test_angular_momentum_and_energy_balance(void **state) {
    (void)state;
    uint64_t seed = tu_seed() + 201;
    double iso[D] = {0.8, 0.8}, aniso[D] = {0.3, 3.0}, bal_iso, bal_aniso;
    double d_iso = angular_drift(iso, seed, &bal_iso),
           d_aniso = angular_drift(aniso, seed, &bal_aniso);
    printf("angular momentum drift: isotropic %.2e, anisotropic %.2e; energy balance residual "
           "/ energy range: %.2e, %.2e\n",
           d_iso, d_aniso, bal_iso, bal_aniso);
    assert_true(d_iso < 1e-5);
    assert_true(d_aniso > 1e-2);
    // the balance closes to the O(h^2) quadrature and difference errors: 1e-2 of E's range
    assert_true(bal_iso < 1e-2 && bal_aniso < 1e-2);
}

static void test_bad_options_refused(void **state) {
    (void)state;
    double mu[D] = {0, 0}, lam[D] = {1, 1}, a[D] = {1, 0}, b[D] = {0, 1};
    bound bd;
    bind(&bd, mu, lam, 3);
    ds_noether_opts o;
    ds_noether_opts_default(&o);
    o.sigma_to = 3;
    ds_noether_path p;
    assert_int_equal(ds_noether_path_solve(bd.be, bd.bm, D, a, b, &o, &p), -1);
    assert_non_null(strstr(ds_error(), "expected sigma_from > sigma_to > 0"));
    ds_noether_opts_default(&o);
    o.steps = 1;
    assert_int_equal(ds_noether_path_solve(bd.be, bd.bm, D, a, b, &o, &p), -1);
    assert_non_null(strstr(ds_error(), "1 steps"));
    unbind(&bd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradient_matches_difference_of_action),
        cmocka_unit_test(test_gaussian_path_matches_closed_form),
        cmocka_unit_test(test_angular_momentum_and_energy_balance),
        cmocka_unit_test(test_bad_options_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
