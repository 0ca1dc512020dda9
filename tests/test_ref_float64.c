// The ref backend is float64 end to end: on training rows drawn at random in float64
// (not on a grid that float represents exactly), its empirical denoiser and its Euler,
// Heun and DPM-2 solvers match an independent long double computation (k-diffusion's
// loops, transcribed) to 1e-12 (the denoiser: plus what the logits' rounding moves a
// shared softmax by, see below). Had the rows been rounded to float32 on the way (as
// data sets were stored before), the denoiser would be off by ~3e-8 relative (the
// rounding of a row, which the one-hot softmax at small sigma passes on unchanged;
// measured 2.9e-8 at sigma 0.002, and 3.4e-8 on the Euler trajectory), so every check
// below fails on such a path.
//
// Error analysis of the double side: ref's logit (x.y - |y|^2/2) / sigma^2 on centred
// rows carries an absolute error of at most E = 2 (d + 4) u (|x| Y + Y^2) / sigma^2
// (u = 1.1e-16, Y the largest centred row norm: gamma_d for the dot product and for
// |y|^2 / 2, a few u |logit| for the subtraction, the scaling, the max shift and exp's
// argument; the factor 2 covers the centring). Errors e_i in the logits move
// D = sum_i w_i y_i by sum_i w_i (e_i - e_mean) y_i = sum_i w_i e_i (y_i - D), so by at
// most E S with S = sum_i w_i |y_i - D|. Where the softmax is one-hot (sigma 0.002 -
// 0.01 near a row) S ~ 0 and D(x) = y_a (+ mean) up to ~u; where a pair of rows shares
// the weight (a query near the midpoint of two rows: the odd rows below, whose logit gap
// noise.(y_a - y_b) / sigma falls within a few units for about 1 seed in 100 at sigma
// 0.01) S ~ |y_a - y_b| / 2 and E S / |D| reaches ~5e-10 at sigma 0.01 (measured 1.3e-12,
// seed 2179). So each row's tolerance is 1e-12 (the vector operations, ~d u, with a wide
// margin) plus E S / |D|, computed from the long double weights: it stays 1e-12 where the
// softmax is one-hot, where a float32 rounding of the rows is off by ~3e-8.
//
// The solvers: ~20 steps of a few vector operations each add ~1e-15 per step; the
// ODE's flow contracts towards the rows at small sigma (D is flat there), and at large
// sigma the Jacobian of D is Cov_w / sigma^2 < 1, so the errors are not amplified by
// more than a few units: 1e-12 again holds with a wide margin.
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "solver_testutil.h"

enum { N = 64, D = 8, ROWS = 6 };

// The empirical denoiser in long double, from the rows as given (no centring, a
// max-shifted softmax of -|x - y_i|^2 / (2 sigma^2)); spread (unless NULL) gets
// S = sum_i w_i |y_i - D| of the error analysis.
static void denoise_ld(const double *y, const long double *x, long double sigma, long double *out,
                       long double *spread) {
    long double logit[N], top = -INFINITY, sum = 0;
    for (int i = 0; i < N; i++) {
        long double s = 0;
        for (int j = 0; j < D; j++) s += (x[j] - y[i * D + j]) * (x[j] - y[i * D + j]);
        logit[i] = -s / (2 * sigma * sigma);
        top = fmaxl(top, logit[i]);
    }
    for (int j = 0; j < D; j++) out[j] = 0;
    for (int i = 0; i < N; i++) {
        long double w = expl(logit[i] - top);
        sum += w;
        for (int j = 0; j < D; j++) out[j] += w * y[i * D + j];
    }
    for (int j = 0; j < D; j++) out[j] /= sum;
    if (!spread) return;
    *spread = 0;
    for (int i = 0; i < N; i++) {
        long double dist = 0;
        for (int j = 0; j < D; j++) dist += (y[i * D + j] - out[j]) * (y[i * D + j] - out[j]);
        *spread += expl(logit[i] - top) / sum * sqrtl(dist);
    }
}

static void denoise_rows_ld(const double *y, const long double *x, long double sigma,
                            long double *out) {
    for (int r = 0; r < ROWS; r++) denoise_ld(y, x + r * D, sigma, out + r * D, NULL);
}

// One step of k-diffusion's sample_euler / sample_heun / sample_dpm_2 (no churn) on all
// rows, from sigma s to sigma t.
static void step_ld(const char *solver, const double *y, long double *x, long double s,
                    long double t) {
    long double den[ROWS * D], d[ROWS * D], x2[ROWS * D], d2[ROWS * D];
    denoise_rows_ld(y, x, s, den);
    for (int e = 0; e < ROWS * D; e++) d[e] = (x[e] - den[e]) / s;
    if (!strcmp(solver, "euler") || t == 0) {
        for (int e = 0; e < ROWS * D; e++) x[e] += d[e] * (t - s);
        return;
    }
    // Heun: the second evaluation at t; DPM-2: at the geometric midpoint.
    long double mid = !strcmp(solver, "heun") ? t : expl(logl(s) + 0.5L * (logl(t) - logl(s)));
    for (int e = 0; e < ROWS * D; e++) x2[e] = x[e] + d[e] * (mid - s);
    denoise_rows_ld(y, x2, mid, den);
    for (int e = 0; e < ROWS * D; e++) d2[e] = (x2[e] - den[e]) / mid;
    for (int e = 0; e < ROWS * D; e++)
        x[e] += (!strcmp(solver, "heun") ? (d[e] + d2[e]) / 2 : d2[e]) * (t - s);
}

// Relative error (in the 2-norm) of one row of got against the long double want.
static double rel_err_row(const double *got, const long double *want) {
    long double e = 0, n = 0;
    for (int j = 0; j < D; j++) {
        long double v = (long double)got[j] - want[j];
        e += v * v, n += want[j] * want[j];
    }
    return (double)sqrtl(e / n);
}

// Largest relative error over the rows.
static double rel_err(const double *got, const long double *want) {
    double worst = 0;
    for (int r = 0; r < ROWS; r++) worst = fmax(worst, rel_err_row(got + r * D, want + r * D));
    return worst;
}

static long double norm_ld(const long double *v) {
    long double s = 0;
    for (int j = 0; j < D; j++) s += v[j] * v[j];
    return sqrtl(s);
}

// The error analysis' tolerance for the denoiser at the query x: 1e-12 + E S / |D|.
static double denoiser_tolerance(const double *y, const long double *x, long double sigma) {
    long double mean[D] = {0}, xc[D], yc[D], big = 0, want[D], spread;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) mean[j] += y[i * D + j] / N;
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++) yc[j] = y[i * D + j] - mean[j];
        big = fmaxl(big, norm_ld(yc));
    }
    for (int j = 0; j < D; j++) xc[j] = x[j] - mean[j];
    long double e =
        2 * (D + 4) * DBL_EPSILON / 2 * (norm_ld(xc) * big + big * big) / (sigma * sigma);
    denoise_ld(y, x, sigma, want, &spread);
    return (double)(1e-12L + e * spread / norm_ld(want));
}

typedef struct {
    double y[N * D];
    ds_model m;
    ds_backend *b;
    ds_bound_model *bm;
} problem;

// N float64 rows from a normal with a non-zero mean, bound to the ref backend.
static void problem_init(problem *p, uint64_t seed) {
    tu_fill_normal(p->y, N * D, seed);
    for (int e = 0; e < N * D; e++) p->y[e] += 0.25 * (e % D);
    tu_empirical_model(&p->m, p->y, N, D);
    assert_int_equal(p->m.data.dtype, DS_F64);
    p->b = ds_backend_ref_new();
    p->bm = p->b->bind(p->b, &p->m);
    assert_non_null(p->bm);
}

static void problem_free(problem *p) {
    p->b->unbind(p->b, p->bm);
    ds_backend_free(p->b);
    ds_model_free(&p->m);
}

static void test_denoiser_matches_long_double(void **state) {
    (void)state;
    problem p;
    uint64_t seed = tu_seed();
    problem_init(&p, seed);
    // sigma 0.002 - 0.01: the softmax is one-hot (where float32 rows were off by 2.7e-8);
    // 0.1 - 1: a few rows share the weight; 10: nearly the mean.
    const double sigmas[] = {0.002, 0.003, 0.005, 0.01, 0.03, 0.1, 0.3, 1, 3, 10};
    double x[ROWS * D], noise[ROWS * D], got[ROWS * D], sig[ROWS];
    long double xl[ROWS * D], want[ROWS * D];
    tu_fill_normal(noise, ROWS * D, seed + 1);
    ds_batch *xb = p.b->batch_new(p.b, ROWS, D), *out = p.b->batch_new(p.b, ROWS, D);
    for (size_t s = 0; s < sizeof sigmas / sizeof sigmas[0]; s++) {
        // Queries near training rows, and (odd rows) between two rows.
        for (int r = 0; r < ROWS; r++)
            for (int j = 0; j < D; j++) {
                double a = p.y[(r * 11 % N) * D + j], b = p.y[(r * 5 + 3) % N * D + j];
                x[r * D + j] = (r % 2 ? 0.5 * (a + b) : a) + sigmas[s] * noise[r * D + j];
                xl[r * D + j] = x[r * D + j];
            }
        for (int r = 0; r < ROWS; r++) sig[r] = sigmas[s];
        assert_int_equal(p.b->upload(p.b, xb, x), 0);
        if (p.b->denoise(p.b, p.bm, xb, sig, ROWS, out, NULL)) fail_msg("%s", ds_error());
        assert_int_equal(p.b->download(p.b, out, got), 0);
        denoise_rows_ld(p.y, xl, sigmas[s], want);
        double err = 0, tol = 0; // the worst error and the tolerance of that row
        for (int r = 0; r < ROWS; r++) {
            double e = rel_err_row(got + r * D, want + r * D);
            double t = denoiser_tolerance(p.y, xl + r * D, sigmas[s]);
            if (e > t)
                fail_msg("sigma %g row %d: rel err %.2e > tolerance %.2e", sigmas[s], r, e, t);
            if (e >= err) err = e, tol = t;
        }
        printf("denoiser sigma %-6g max rel err %.2e (its row's tolerance %.2e)\n", sigmas[s], err,
               tol);
    }
    p.b->batch_free(p.b, xb);
    p.b->batch_free(p.b, out);
    problem_free(&p);
}

// The solver's state at every point of the schedule (the hook's x).
typedef struct {
    ds_backend *b;
    double (*x)[ROWS * D];
} trajectory;

static int keep_state(void *user, int index, double sigma, const ds_batch *x,
                      const ds_batch *denoised) {
    (void)sigma, (void)denoised;
    trajectory *t = user;
    return t->b->download(t->b, x, t->x[index]);
}

// The states are compared at every point, not only at the end: the last step to 0
// lands on a training row at sigma_min = 0.002, the same row for every solver.
static void test_solvers_match_long_double(void **state) {
    (void)state;
    problem p;
    uint64_t seed = tu_seed() + 50;
    problem_init(&p, seed);
    int points;
    double *edm = stu_edm(18, &points);
    double *sigmas = malloc(sizeof(double) * (size_t)(points + 1));
    memcpy(sigmas, edm, sizeof(double) * (size_t)points);
    sigmas[points] = 0; // k-diffusion's final step to 0
    free(edm);
    double noise[ROWS * D], start[ROWS * D], mid[3][ROWS * D];
    double(*got)[ROWS * D] = malloc(sizeof *got * (size_t)(points + 1));
    tu_fill_normal(noise, ROWS * D, seed + 1);
    for (int e = 0; e < ROWS * D; e++) start[e] = sigmas[0] * noise[e];
    const char *solvers[] = {"euler", "heun", "dpm2"};
    for (int k = 0; k < 3; k++) {
        long double want[ROWS * D];
        for (int e = 0; e < ROWS * D; e++) want[e] = start[e];
        ds_batch *x = p.b->batch_new(p.b, ROWS, D);
        assert_int_equal(p.b->upload(p.b, x, start), 0);
        ds_solver_opts o;
        ds_solver_opts_default(&o);
        o.solver = solvers[k];
        trajectory t = {p.b, got};
        ds_solver_ctx ctx = {.b = p.b, .model = p.bm, .on_step = keep_state, .user = &t};
        if (ds_solve(&ctx, &o, sigmas, points + 1, x)) fail_msg("%s", ds_error());
        p.b->batch_free(p.b, x);
        double err = 0;
        for (int i = 0; i <= points; i++) {
            err = fmax(err, rel_err(got[i], want));
            if (i < points) step_ld(solvers[k], p.y, want, sigmas[i], sigmas[i + 1]);
        }
        memcpy(mid[k], got[points / 2], sizeof mid[k]);
        printf("%-5s %d steps: max rel err over the trajectory %.2e (tolerance 1e-12)\n",
               solvers[k], points, err);
        assert_true(err <= 1e-12);
    }
    // The three solvers are distinct methods: their states differ midway.
    assert_true(tu_rel_l2(mid[0], mid[1], ROWS * D) > 1e-6);
    assert_true(tu_rel_l2(mid[1], mid[2], ROWS * D) > 1e-6);
    free(got);
    free(sigmas);
    problem_free(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_denoiser_matches_long_double),
        cmocka_unit_test(test_solvers_match_long_double),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
