// Emergence of principal components (ds_emergence_compute): the settling rule on a
// hand-made trajectory, the Gaussian model's exact flow against the closed form, and the
// rank correlation against a direct computation.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ds_analysis.h"
#include "ds_backend.h"
#include "testutil.h"

// A one-dimensional trajectory: the rule's cases with values worked out by hand.
static void test_settle_rule(void **state) {
    (void)state;
    double mean = 0, basis = 1, lam = 1;
    ds_pca p = {1, 1, &mean, &basis, &lam, 1};
    const double sigmas[4] = {8, 4, 2, 0};
    const double x[4] = {3, 2, 1, 1}, denoised[3] = {0, 0.5, 0.98}; // final value 1
    ds_traj_view t = {4, 1, 1, 3, x, denoised};
    ds_emergence e;
    // dev = 1, 0.5, 0.02, 0. tol 0.1: bracket (4, 2); log dev linear in log sigma: t =
    // log(5) / log(25) = 1/2, sigma = sqrt(4 * 2).
    assert_int_equal(ds_emergence_compute(&t, sigmas, &p, 0.1, &e), 0);
    assert_true(fabs(e.sigma[0] - sqrt(8.0)) < 1e-12);
    assert_true(e.at_start[0] == 0 && fabs(e.final[0] - 1) < 1e-15);
    ds_emergence_free(&e);
    // tol 0.01: bracket (2, 0), the final point: linear in sigma, 2 - 2 (0.01 / 0.02) = 1.
    assert_int_equal(ds_emergence_compute(&t, sigmas, &p, 0.01, &e), 0);
    assert_true(fabs(e.sigma[0] - 1.0) < 1e-12);
    ds_emergence_free(&e);
    // tol 2: never farther: settled at sigmas[0].
    assert_int_equal(ds_emergence_compute(&t, sigmas, &p, 2.0, &e), 0);
    assert_true(e.sigma[0] == 8.0 && e.at_start[0] == 1.0);
    ds_emergence_free(&e);
    // The standard deviation scales the distance: variance 4 halves it (dev 0.5, 0.25,
    // 0.01): tol 0.1 brackets (4, 2) with t = log(2.5) / log(25).
    lam = 4;
    assert_int_equal(ds_emergence_compute(&t, sigmas, &p, 0.1, &e), 0);
    double tt = log(2.5) / log(25.0);
    assert_true(fabs(e.sigma[0] - exp(log(4.0) + tt * (log(2.0) - log(4.0)))) < 1e-12);
    ds_emergence_free(&e);
    // Bad input is refused: no tolerance, a component without variance.
    assert_int_equal(ds_emergence_compute(&t, sigmas, &p, 0, &e), -1);
    lam = 0;
    assert_int_equal(ds_emergence_compute(&t, sigmas, &p, 0.1, &e), -1);
}

enum { D = 5, B = 64, GRID = 400 };

// The closed form's crossing found independently: bisection on the distance to the
// final value in standard deviations, |g| (1 - (1 + s^2 / lambda)^-1/2), on [0, s_max].
static double bisect_crossing(double lam, double g, double tol, double s_max) {
    double dev_max = fabs(g) * (1 - 1 / sqrt(1 + s_max * s_max / lam));
    if (!(dev_max > tol)) return s_max;
    double lo = 0, hi = s_max;
    for (int it = 0; it < 200; it++) {
        double mid = 0.5 * (lo + hi);
        if (fabs(g) * (1 - 1 / sqrt(1 + mid * mid / lam)) > tol)
            hi = mid;
        else
            lo = mid;
    }
    return 0.5 * (lo + hi);
}

// A Gaussian model's trajectory from the exact flow (gaussian_flow on ref, float64) on a
// fine log grid 80 .. 1e-3 and a last point at 0, denoised with its own denoiser. The
// distance to the final value increases with sigma along the exact flow (derivation in
// analysis_emergence.c), so the measured crossing (any interpolation inside the bracket)
// and the closed form's lie between the same two schedule points: the tolerance is the
// bracket, a factor r = (80 / 1e-3)^(1/(GRID-1)) = 1.029 in sigma; float64 rounding of the
// distances (~1e-15) moves a crossing out of its bracket only when a grid point's
// distance is within 1e-15 of tol, which random inputs never give.
static void test_gaussian_closed_form(void **state) {
    (void)state;
    uint64_t seed = tu_seed();
    ds_model m = {0};
    m.kind = DS_MODEL_GAUSSIAN, m.d = D, m.k = 1, m.r = D;
    m.mean = malloc(sizeof(double) * D), m.means = malloc(sizeof(double) * D);
    m.weights = malloc(sizeof(double)), m.residual = calloc(1, sizeof(double));
    m.eigvals = malloc(sizeof(double) * D), m.eigvecs = malloc(sizeof(double) * D * D);
    m.weights[0] = 1;
    tu_fill_normal(m.mean, D, seed);
    memcpy(m.means, m.mean, sizeof(double) * D);
    double logs[D];
    tu_fill_uniform(logs, D, seed + 1, log(0.05), log(4.0));
    for (int j = 0; j < D; j++) m.eigvals[j] = exp(logs[j]);
    for (int a = 1; a < D; a++) // descending, as a PCA gives them
        for (int c = a; c > 0 && m.eigvals[c] > m.eigvals[c - 1]; c--) {
            double v = m.eigvals[c];
            m.eigvals[c] = m.eigvals[c - 1], m.eigvals[c - 1] = v;
        }
    tu_orthonormal_columns(m.eigvecs, D, D, seed + 2);
    // Its principal components are its eigenpairs.
    ds_pca p = {D, D, m.mean, m.eigvecs, m.eigvals, 0};
    double sigmas[GRID + 1];
    ds_log_grid(1e-3, 80, GRID, sigmas);
    for (int i = 0; i < GRID / 2; i++) { // descending
        double v = sigmas[i];
        sigmas[i] = sigmas[GRID - 1 - i], sigmas[GRID - 1 - i] = v;
    }
    sigmas[GRID] = 0;
    int S = GRID + 1;
    double *x = malloc(sizeof(double) * S * B * D), *den = malloc(sizeof(double) * GRID * B * D);
    ds_backend *be = ds_backend_new("ref");
    ds_bound_model *bm = be->bind(be, &m);
    ds_batch *x0 = be->batch_new(be, B, D), *xs = be->batch_new(be, B, D);
    ds_batch *ds = be->batch_new(be, B, D);
    assert_int_equal(be->randn(be, x0, seed + 3, 0), 0);
    const ds_batch *in[1] = {x0};
    double s0 = sigmas[0];
    assert_int_equal(be->lincomb(be, x0, 1, &s0, in), 0); // the samplers' start, sigma_0 n
    for (int s = 0; s < S; s++) {
        assert_int_equal(be->gaussian_flow(be, bm, x0, s0, sigmas[s], xs), 0);
        assert_int_equal(be->download(be, xs, x + (size_t)s * B * D), 0);
        if (s == GRID) break;
        assert_int_equal(be->denoise(be, bm, xs, &sigmas[s], 1, ds, NULL), 0);
        assert_int_equal(be->download(be, ds, den + (size_t)s * B * D), 0);
    }
    ds_traj_view t = {S, B, D, GRID, x, den};
    const double tol = 0.1;
    ds_emergence e;
    assert_int_equal(ds_emergence_compute(&t, sigmas, &p, tol, &e), 0);
    int checked = 0;
    for (int i = 0; i < B; i++)
        for (int j = 0; j < D; j++) {
            // The final coordinate in standard deviations, from the final point itself.
            double lam = m.eigvals[j], g = 0;
            for (int c = 0; c < D; c++)
                g += m.eigvecs[c * D + j] * (x[((size_t)GRID * B + i) * D + c] - m.mean[c]);
            g /= sqrt(lam);
            assert_true(fabs(e.final[i * D + j] - g) <= 1e-12 * (1 + fabs(g)));
            double pred = bisect_crossing(lam, g, tol, s0), got = e.sigma[i * D + j];
            // The library's closed form is the bisection's root (to its 1e-9 precision).
            double closed = ds_emergence_gaussian(lam, tol, g, s0);
            assert_true(fabs(closed - pred) <= 1e-9 * pred);
            if (pred == s0) { // settled from the start
                assert_true(got == s0);
                continue;
            }
            int k = 0; // the bracket sigmas[k] > pred >= sigmas[k + 1]
            while (sigmas[k + 1] > pred) k++;
            if (!(got <= sigmas[k] && got >= sigmas[k + 1]))
                fail_msg("sample %d component %d: measured %.9g outside the bracket [%.9g, "
                         "%.9g] of the closed form %.9g",
                         i, j, got, sigmas[k + 1], sigmas[k], pred);
            checked++;
        }
    assert_true(checked > B * D / 2); // most coordinates do move (|g| > tol)
    // The per-component medians rank with the variances (every eigenvalue distinct; with
    // 64 samples the medians can swap only for nearly equal eigenvalues).
    assert_true(e.spearman > 0);
    ds_emergence_free(&e);
    be->batch_free(be, x0), be->batch_free(be, xs), be->batch_free(be, ds);
    be->unbind(be, bm);
    ds_backend_free(be);
    free(x), free(den);
    ds_model_free(&m);
}

// Spearman's rho as the Pearson correlation of mean ranks, counted directly (O(n^2)).
static double direct_spearman(const double *a, const double *b, int n) {
    double ra[64], rb[64], ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (int i = 0; i < n; i++) {
        double less_a = 0, eq_a = 0, less_b = 0, eq_b = 0;
        for (int j = 0; j < n; j++) {
            less_a += a[j] < a[i], eq_a += a[j] == a[i];
            less_b += b[j] < b[i], eq_b += b[j] == b[i];
        }
        ra[i] = less_a + (eq_a + 1) / 2, rb[i] = less_b + (eq_b + 1) / 2;
        ma += ra[i] / n, mb += rb[i] / n;
    }
    for (int i = 0; i < n; i++) {
        sab += (ra[i] - ma) * (rb[i] - mb);
        saa += (ra[i] - ma) * (ra[i] - ma), sbb += (rb[i] - mb) * (rb[i] - mb);
    }
    return sab / sqrt(saa * sbb);
}

static void test_spearman(void **state) {
    (void)state;
    uint64_t seed = tu_seed();
    double a[64], b[64], up[64], down[64];
    tu_fill_normal(a, 64, seed);
    tu_fill_normal(b, 64, seed + 1);
    for (int i = 0; i < 64; i++) {
        b[i] = 0.5 * a[i] + b[i];
        if (i % 3 == 0) a[i] = round(a[i]); // ties
        if (i % 4 == 0) b[i] = round(b[i]);
        up[i] = exp(a[i]), down[i] = -a[i] * a[i] * a[i];
    }
    // Both are sums of rank products in double: equal to rounding (~1e-15 of n^3).
    double rho;
    assert_int_equal(ds_spearman(a, b, 64, &rho), 0);
    assert_true(fabs(rho - direct_spearman(a, b, 64)) < 1e-12);
    assert_int_equal(ds_spearman(a, up, 64, &rho), 0);
    assert_true(fabs(rho - 1) < 1e-12); // monotone increasing
    assert_int_equal(ds_spearman(a, down, 64, &rho), 0);
    assert_true(fabs(rho + 1) < 1e-12); // monotone decreasing
    double same[3] = {1, 1, 1};
    assert_int_equal(ds_spearman(a, same, 3, &rho), 0);
    assert_true(isnan(rho));
    assert_int_equal(ds_spearman(a, b, 1, &rho), 0);
    assert_true(isnan(rho));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settle_rule),
        cmocka_unit_test(test_gaussian_closed_form),
        cmocka_unit_test(test_spearman),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
