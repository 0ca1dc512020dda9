// Solver tests on a Gaussian data set, where the probability-flow ODE has the closed-form
// solution of the ref backend's gaussian_flow: a problem builder, the error of a solve,
// and the convergence order measured over a refinement series.
#ifndef DS_SOLVER_TESTUTIL_H
#define DS_SOLVER_TESTUTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_backend.h"
#include "ds_error.h"
#include "ds_solver.h"
#include "ds_schedule.h"
#include "testutil.h"
#include "fatal.h"

// A full-rank Gaussian N(mu, U diag(lam) U^T) in d dimensions (random orthonormal U,
// lam log-uniform in [lam_lo, lam_hi]) bound to the ref backend, and `rows` starting
// points x = sigma_max * n.
typedef struct {
    ds_model m;
    ds_backend *b;
    ds_bound_model *bm;
    int64_t rows;
    double *noise; // rows x d standard normal
} stu_problem;

static inline void stu_problem_init(stu_problem *p, uint64_t seed, int64_t d, int64_t rows,
                                    double lam_lo, double lam_hi) {
    memset(p, 0, sizeof *p);
    ds_model *m = &p->m;
    m->kind = DS_MODEL_GAUSSIAN, m->d = d, m->k = 1, m->r = d;
    m->weights = tu_alloc(1, sizeof(double));
    m->weights[0] = 1;
    m->means = tu_alloc((size_t)d, sizeof(double));
    m->mean = tu_alloc((size_t)d, sizeof(double));
    tu_fill_normal(m->means, d, seed + 1);
    memcpy(m->mean, m->means, sizeof(double) * (size_t)d);
    m->eigvals = tu_alloc((size_t)d, sizeof(double));
    tu_fill_uniform(m->eigvals, d, seed + 2, log(lam_lo), log(lam_hi));
    for (int64_t j = 0; j < d; j++) m->eigvals[j] = exp(m->eigvals[j]);
    m->eigvals[0] = lam_lo, m->eigvals[d - 1] = lam_hi;
    m->eigvecs = tu_alloc((size_t)(d * d), sizeof(double));
    tu_orthonormal_columns(m->eigvecs, d, d, seed + 3);
    m->residual = tu_alloc(1, sizeof(double));
    p->b = ds_backend_ref_new();
    p->bm = p->b->bind(p->b, m);
    p->rows = rows;
    p->noise = tu_alloc((size_t)(rows * d), sizeof(double));
    tu_fill_normal(p->noise, rows * d, seed + 4);
}

static inline void stu_problem_free(stu_problem *p) {
    p->b->unbind(p->b, p->bm);
    ds_backend_free(p->b);
    free(p->noise);
    ds_model_free(&p->m);
}

// Relative L2 error of the solver on the schedule against the exact flow from
// sigmas[0] to sigmas[n - 1] (-1 if the solver failed); *nfe receives its NFE.
static inline double stu_solve_error(stu_problem *p, const ds_solver_opts *o, const double *sigmas,
                                     int n, int64_t *nfe) {
    ds_backend *b = p->b;
    int64_t d = p->m.d, count = p->rows * d;
    double *start = tu_alloc((size_t)count, sizeof(double));
    double *got = tu_alloc((size_t)count, sizeof(double));
    double *want = tu_alloc((size_t)count, sizeof(double));
    for (int64_t i = 0; i < count; i++) start[i] = sigmas[0] * p->noise[i];
    ds_batch *x = b->batch_new(b, p->rows, d);
    assert_int_equal(b->upload(b, x, start), 0);
    ds_solver_ctx ctx = {.b = b, .model = p->bm};
    int rc = ds_solve(&ctx, o, sigmas, n, x);
    if (rc) fprintf(stderr, "solve failed: %s\n", ds_error());
    assert_int_equal(b->download(b, x, got), 0);
    assert_int_equal(b->upload(b, x, start), 0);
    b->gaussian_flow(b, p->bm, x, sigmas[0], sigmas[n - 1], x);
    assert_int_equal(b->download(b, x, want), 0);
    double err = rc ? -1 : tu_rel_l2(got, want, count);
    if (nfe) *nfe = ctx.nfe;
    b->batch_free(b, x);
    free(start), free(got), free(want);
    return err;
}

// EDM schedule of `steps` steps ending at sigma_min (no final zero).
static inline double *stu_edm(int steps, int *n) {
    ds_schedule_opts so;
    ds_schedule_opts_default(&so);
    so.steps = steps;
    so.final_zero = 0;
    double *s;
    if (ds_schedule_build(&so, NULL, NULL, &s, n)) fail_msg("schedule: %s", ds_error());
    return s;
}

// Errors over the refinement series steps[0..count) on EDM schedules; slopes[k] =
// log(err[k] / err[k + 1]) / log(steps[k + 1] / steps[k]), the measured order between
// consecutive refinements. Prints the table.
static inline void stu_refine(stu_problem *p, const ds_solver_opts *o, const int *steps, int count,
                              double *errs, double *slopes) {
    for (int k = 0; k < count; k++) {
        int n;
        double *s = stu_edm(steps[k], &n);
        int64_t nfe;
        errs[k] = stu_solve_error(p, o, s, n, &nfe);
        free(s);
        if (k > 0)
            slopes[k - 1] = log(errs[k - 1] / errs[k]) / log((double)steps[k] / steps[k - 1]);
        printf("  %-9s order %d  steps %5d  nfe %6lld  rel err %.3e", o->solver, o->order, steps[k],
               (long long)nfe, errs[k]);
        if (k > 0) printf("  slope %.2f", slopes[k - 1]);
        printf("\n");
    }
}

// Measures the slopes over steps[0..count) and asserts |slope - order| <= tol over the
// asymptotic range, the slopes from steps[first] on.
static inline void stu_check_order(stu_problem *p, ds_solver_opts o, const int *steps, int count,
                                   int first, double order, double tol) {
    double errs[16], slopes[16];
    stu_refine(p, &o, steps, count, errs, slopes);
    for (int k = first; k + 1 < count; k++) {
        if (fabs(slopes[k] - order) > tol)
            fail_msg("%s (order option %d, full_order %d): slope %.3f between %d and %d steps, "
                     "expected %.1f +- %.2f",
                     o.solver, o.order, o.full_order, slopes[k], steps[k], steps[k + 1], order,
                     tol);
    }
}

#endif
