// The pruning index shared by the cpu and cuda backends (prune_index.h).
#include "prune_index.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ds_error.h"
#include "ds_philox.h"

#define PRUNE_PCA_ROWS 8192 // rows the directions are fitted on (evenly spread)
#define PRUNE_PCA_ITERS 4   // subspace iterations
#define PROJECT_ROWS 1024   // rows projected at a time

int64_t ds_prune_k(int64_t d) {
    int64_t k = d / 8;
    return k < 1 ? 1 : k > DS_PRUNE_K ? DS_PRUNE_K : k;
}

// A query is pruned when its S survivors satisfy S G 4d + passes 2 k N < 4 d N.
int64_t ds_prune_cap(int64_t n, int64_t d, int64_t k, int passes) {
    double share = 1.0 - (double)passes * (double)k / (2.0 * (double)d);
    int64_t cap = (int64_t)((double)n * share / DS_PRUNE_GATHER_COST);
    return cap < 0 ? 0 : cap > DS_PRUNE_MAX_SURVIVORS ? DS_PRUNE_MAX_SURVIVORS : cap;
}

// k orthonormal directions near the top principal subspace of (up to PRUNE_PCA_ROWS of)
// the centred rows, by subspace iteration from a fixed random start: Q <- orth(Y^T Y Q),
// PRUNE_PCA_ITERS times, 4 m d k flops each (SGEMM; the orthonormalisation in double by
// QR). The covariance and its eigenvectors would cost m d^2 + O(d^3): at d = 3,072 about
// 90 s on the benchmark machine. Any orthonormal basis gives a valid bound (omega below
// bounds what rounding leaves of orthonormality); the nearer the top subspace, the
// tighter.
static int fit_basis(ds_prune_index *p, ds_prune_rows_fn rows, void *user, const char *what) {
    int64_t n = p->n, d = p->d, k = p->k, m = n < PRUNE_PCA_ROWS ? n : PRUNE_PCA_ROWS;
    float *ys = ds_try_alloc((size_t)(m * d + d * k + m * k), sizeof(float), what);
    double *tau = ys ? ds_try_alloc((size_t)k, sizeof(double), what) : NULL;
    if (!tau) {
        free(ys);
        return -1;
    }
    float *q = ys + m * d, *t = q + d * k;
    for (int64_t i = 0; i < m; i++) rows(user, i * n / m, 1, ys + i * d);
    for (int64_t e = 0; e < d * k; e++) p->basis[e] = ds_philox_normal(29, e / k, e % k);
    int rc = 0;
    for (int it = 0; it <= PRUNE_PCA_ITERS && !rc; it++) {
        if (it > 0) { // basis <- Y^T (Y basis)
            for (int64_t e = 0; e < d * k; e++) q[e] = (float)p->basis[e];
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)k, (int)d, 1.0f, ys,
                        (int)d, q, (int)k, 0.0f, t, (int)k);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)k, (int)m, 1.0f, ys,
                        (int)d, t, (int)k, 0.0f, q, (int)k);
            for (int64_t e = 0; e < d * k; e++) p->basis[e] = q[e];
        }
        lapack_int info = LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (lapack_int)d, (lapack_int)k, p->basis,
                                         (lapack_int)k, tau);
        if (!info)
            info = LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (lapack_int)d, (lapack_int)k, (lapack_int)k,
                                  p->basis, (lapack_int)k, tau);
        if (info) rc = ds_fail("%s: QR failed (LAPACKE info %d)", what, (int)info);
    }
    // Gershgorin on Q^T Q - I bounds its largest eigenvalue, hence |Q^T v|^2 / |v|^2 - 1.
    for (int64_t a = 0; a < k && !rc; a++) {
        double row = 0;
        for (int64_t b = 0; b < k; b++) {
            double g = 0;
            for (int64_t j = 0; j < d; j++) g += p->basis[j * k + a] * p->basis[j * k + b];
            row += fabs(g - (a == b));
        }
        p->omega = fmax(p->omega, row + 1e-15 * (double)d);
    }
    free(ys), free(tau);
    return rc;
}

// py = the rows' projections (in double, then rounded), their norms and residuals.
static int project_rows(ds_prune_index *p, ds_prune_rows_fn rows, void *user, const char *what) {
    int64_t n = p->n, d = p->d, k = p->k;
    float *f = ds_try_alloc((size_t)(PROJECT_ROWS * d), sizeof(float), what);
    double *buf = f ? ds_try_alloc((size_t)(PROJECT_ROWS * (d + k)), sizeof(double), what) : NULL;
    if (!buf) {
        free(f);
        return -1;
    }
    double *proj = buf + PROJECT_ROWS * d;
    for (int64_t first = 0; first < n; first += PROJECT_ROWS) {
        int64_t c = n - first < PROJECT_ROWS ? n - first : PROJECT_ROWS;
        rows(user, first, c, f);
        for (int64_t e = 0; e < c * d; e++) buf[e] = f[e];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)c, (int)k, (int)d, 1.0, buf,
                    (int)d, p->basis, (int)k, 0.0, proj, (int)k);
        for (int64_t i = 0; i < c; i++) {
            double sq = 0, exact = 0, yy = 0;
            for (int64_t j = 0; j < d; j++) yy += buf[i * d + j] * buf[i * d + j];
            for (int64_t j = 0; j < k; j++) {
                float v = (float)proj[i * k + j];
                p->py[(first + i) * k + j] = v;
                sq += (double)v * v, exact += proj[i * k + j] * proj[i * k + j];
            }
            p->py_sq[first + i] = sq;
            p->py_max = fmax(p->py_max, sqrt(sq));
            p->res_max = fmax(p->res_max, sqrt(fmax(0.0, yy - exact)));
        }
    }
    free(f), free(buf);
    return 0;
}

int ds_prune_index_new(ds_prune_index *ix, int64_t n, int64_t d, ds_prune_rows_fn rows, void *user,
                       const char *what) {
    int64_t k = ds_prune_k(d);
    *ix = (ds_prune_index){.n = n, .d = d, .k = k};
    ix->basis = ds_try_alloc((size_t)(d * k), sizeof(double), what);
    ix->py = ix->basis ? ds_try_alloc((size_t)(n * k), sizeof(float), what) : NULL;
    ix->py_sq = ix->py ? ds_try_alloc((size_t)n, sizeof(double), what) : NULL;
    if (ix->py_sq && !fit_basis(ix, rows, user, what) && !project_rows(ix, rows, user, what))
        return 0;
    ds_prune_index_free(ix);
    return -1;
}

void ds_prune_index_free(ds_prune_index *ix) {
    free(ix->basis), free(ix->py), free(ix->py_sq);
    memset(ix, 0, sizeof *ix);
}
