// Helpers of the multistep-solver tests: a random Gaussian model, the EDM schedule, and
// ds_solve / the exact Gaussian flow on the ref backend.
#ifndef DS_MULTISTEP_TESTUTIL_H
#define DS_MULTISTEP_TESTUTIL_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ds_error.h"
#include "ds_sampler.h"
#include "testutil.h"

// A full-rank Gaussian in d dimensions: mean ~ 0.3 N(0, I), eigenvalues uniform in
// [lam_lo, lam_hi], eigenvectors from Gram-Schmidt on normal vectors (columns of U).
static inline void mt_gaussian(ds_model *m, int64_t d, uint64_t seed, double lam_lo,
                               double lam_hi) {
    memset(m, 0, sizeof *m);
    m->kind = DS_MODEL_GAUSSIAN;
    m->d = m->r = d;
    m->k = 1;
    m->weights = ds_alloc(1, sizeof(double));
    m->weights[0] = 1;
    m->residual = ds_alloc(1, sizeof(double));
    m->mean = ds_alloc((size_t)d, sizeof(double));
    m->means = ds_alloc((size_t)d, sizeof(double));
    m->eigvals = ds_alloc((size_t)d, sizeof(double));
    m->eigvecs = ds_alloc((size_t)(d * d), sizeof(double));
    tu_fill_normal(m->mean, d, seed + 1);
    for (int64_t i = 0; i < d; i++) m->means[i] = m->mean[i] *= 0.3;
    tu_fill_uniform(m->eigvals, d, seed + 2, lam_lo, lam_hi);
    double *g = ds_alloc((size_t)(d * d), sizeof(double));
    tu_fill_normal(g, d * d, seed + 3);
    for (int64_t j = 0; j < d; j++) { // column j of U, stored U[i * d + j]
        for (int64_t k = 0; k < j; k++) {
            double dot = 0;
            for (int64_t i = 0; i < d; i++) dot += g[i * d + j] * m->eigvecs[i * d + k];
            for (int64_t i = 0; i < d; i++) g[i * d + j] -= dot * m->eigvecs[i * d + k];
        }
        double norm = 0;
        for (int64_t i = 0; i < d; i++) norm += g[i * d + j] * g[i * d + j];
        for (int64_t i = 0; i < d; i++) m->eigvecs[i * d + j] = g[i * d + j] / sqrt(norm);
    }
    free(g);
}

// EDM's polynomial schedule: n sigmas from sigma_max down to sigma_min.
static inline void mt_edm_sigmas(double *s, int n, double sigma_min, double sigma_max, double rho) {
    double a = pow(sigma_max, 1 / rho), b = pow(sigma_min, 1 / rho);
    for (int i = 0; i < n; i++) s[i] = pow(a + (double)i / (n - 1) * (b - a), rho);
}

// Runs ds_solve on the ref backend from x0 (rows x d, the state at sigmas[0]); returns
// its status, the result in out and the NFE in *nfe.
static inline int mt_solve(const ds_model *m, const ds_solver_opts *o, const double *sigmas, int n,
                           const double *x0, int64_t rows, double *out, int64_t *nfe) {
    ds_backend *b = ds_backend_ref_new();
    ds_bound_model *bm = b->bind(b, m);
    ds_batch *x = b->batch_new(b, rows, m->d);
    b->upload(b, x, x0);
    ds_solver_ctx ctx = {.b = b, .model = bm};
    int rc = ds_solve(&ctx, o, sigmas, n, x);
    b->download(b, x, out);
    *nfe = ctx.nfe;
    b->batch_free(b, x);
    b->unbind(b, bm);
    b->destroy(b);
    return rc;
}

// The exact solution of the probability-flow ODE from sigma_from to sigma_to.
static inline void mt_exact(const ds_model *m, const double *x0, int64_t rows, double sigma_from,
                            double sigma_to, double *out) {
    ds_backend *b = ds_backend_ref_new();
    ds_bound_model *bm = b->bind(b, m);
    ds_batch *x = b->batch_new(b, rows, m->d);
    b->upload(b, x, x0);
    assert_int_equal(b->gaussian_flow(b, bm, x, sigma_from, sigma_to, x), 0);
    b->download(b, x, out);
    b->batch_free(b, x);
    b->unbind(b, bm);
    b->destroy(b);
}

#endif
