// Network-free quality: the top principal components of the training data and the
// Frechet distance between two sets of samples in that space.
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ds_analysis.h"
#include "ds_error.h"
#include "fit_common.h"

enum { CHUNK_ROWS = 1024 };

int ds_pca_fit(const ds_data *train, int64_t k, ds_pca *out) {
    memset(out, 0, sizeof *out);
    int64_t n = train->n, d = train->d;
    if (k < 1 || k > d || n < 2)
        return ds_fail("PCA of %s: k = %lld components (--pca-k) of %lld rows of dimension %lld "
                       "(expected 1 <= k <= d and at least 2 rows)",
                       train->path, (long long)k, (long long)n, (long long)d);
    double *cov = ds_try_alloc((size_t)(d * d), sizeof(double), "covariance");
    if (!cov) return -1;
    double residual = 0;
    out->d = d;
    out->k = k;
    out->mean = ds_try_alloc((size_t)d, sizeof(double), "PCA");
    out->basis = ds_try_alloc((size_t)(d * k), sizeof(double), "PCA");
    out->eigvals = ds_try_alloc((size_t)k, sizeof(double), "PCA");
    int rc = out->mean && out->basis && out->eigvals ? 0 : -1;
    if (!rc) rc = fit_moments(train, NULL, n, out->mean, cov);
    if (!rc) rc = fit_decompose("PCA", cov, d, k, out->eigvals, out->basis, &residual);
    // Without variance every direction is a principal one: the basis would be arbitrary.
    if (!rc && !(out->eigvals[0] > 0))
        rc = ds_fail("PCA of %s: all %lld rows are equal (expected data with some variance)",
                     train->path, (long long)n);
    free(cov);
    if (rc) {
        ds_pca_free(out);
        return -1;
    }
    out->total_var = (double)(d - k) * residual;
    for (int64_t c = 0; c < k; c++) out->total_var += out->eigvals[c];
    return 0;
}

void ds_pca_free(ds_pca *p) {
    free(p->mean);
    free(p->basis);
    free(p->eigvals);
    memset(p, 0, sizeof *p);
}

int ds_pca_project(const ds_pca *p, const double *x, int64_t n, double *z) {
    int64_t d = p->d, k = p->k, chunk = n < CHUNK_ROWS ? n : CHUNK_ROWS;
    double *c = ds_try_alloc((size_t)(chunk * d), sizeof(double), "PCA projection");
    if (!c) return -1;
    for (int64_t first = 0; first < n; first += chunk) {
        int64_t m = n - first < chunk ? n - first : chunk;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < d; j++) c[i * d + j] = x[(first + i) * d + j] - p->mean[j];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)k, (int)d, 1.0, c,
                    (int)d, p->basis, (int)k, 0.0, z + first * k, (int)k);
    }
    free(c);
    return 0;
}

// Mean and unbiased covariance of n k-vectors.
static int mean_cov(const double *z, int64_t n, int64_t k, double *mean, double *cov) {
    double *c = ds_try_alloc((size_t)(n * k), sizeof(double), "Frechet distance");
    if (!c) return -1;
    for (int64_t j = 0; j < k; j++) {
        mean[j] = 0;
        for (int64_t i = 0; i < n; i++) mean[j] += z[i * k + j];
        mean[j] /= (double)n;
        for (int64_t i = 0; i < n; i++) c[i * k + j] = z[i * k + j] - mean[j];
    }
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)k, (int)n,
                1.0 / (double)(n - 1), c, (int)k, c, (int)k, 0.0, cov, (int)k);
    free(c);
    return 0;
}

// a <- V diag(sqrt(w)) V^T, the square root of the symmetric PSD k x k matrix a (destroyed
// on the way; v and w receive its eigenvectors and eigenvalues).
static int sqrtm_sym(double *a, int64_t k, double *v, double *w) {
    double residual;
    DS_TRY(fit_decompose("sample covariance", a, k, k, w, v, &residual));
    for (int64_t i = 0; i < k; i++)
        for (int64_t j = 0; j < k; j++) {
            double s = 0;
            for (int64_t c = 0; c < k; c++)
                s += v[i * k + c] * sqrt(fmax(w[c], 0.0)) * v[j * k + c];
            a[i * k + j] = s;
        }
    return 0;
}

int ds_frechet(const double *za, int64_t na, const double *zb, int64_t nb, int64_t k, double *fd) {
    if (na < 2 || nb < 2)
        return ds_fail("Frechet distance: sets of %lld and %lld rows (expected at least 2 each)",
                       (long long)na, (long long)nb);
    for (int64_t e = 0; e < (na > nb ? na : nb) * k; e++)
        if ((e < na * k && !isfinite(za[e])) || (e < nb * k && !isfinite(zb[e])))
            return ds_fail("Frechet distance: row %lld holds NaN or Inf (expected finite rows)",
                           (long long)(e / k));
    size_t kk = (size_t)(k * k);
    double *buf = ds_try_alloc(5 * kk + 3 * (size_t)k, sizeof(double), "Frechet matrices");
    if (!buf) return -1;
    double *sa = buf, *sb = sa + kk, *root = sb + kk, *tmp = root + kk, *v = tmp + kk;
    double *ma = v + kk, *mb = ma + k, *w = mb + k;
    int rc = -1;
    if (mean_cov(za, na, k, ma, sa) || mean_cov(zb, nb, k, mb, sb)) {
        free(buf);
        return -1;
    }
    memcpy(root, sa, sizeof(double) * kk);
    if (sqrtm_sym(root, k, v, w) == 0) {
        // tmp = S_a^1/2 S_b S_a^1/2; its square root's trace is sum sqrt(eigenvalues).
        cblas_dsymm(CblasRowMajor, CblasLeft, CblasUpper, (int)k, (int)k, 1.0, root, (int)k, sb,
                    (int)k, 0.0, v, (int)k);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)k, (int)k, (int)k, 1.0, v,
                    (int)k, root, (int)k, 0.0, tmp, (int)k);
        for (int64_t i = 0; i < k; i++) // symmetrise away rounding (only one triangle is read)
            for (int64_t j = i + 1; j < k; j++)
                tmp[i * k + j] = 0.5 * (tmp[i * k + j] + tmp[j * k + i]);
        double residual;
        if (fit_decompose("product of covariances", tmp, k, k, w, v, &residual) == 0) {
            double dist = 0, tr = 0;
            for (int64_t j = 0; j < k; j++) {
                dist += (ma[j] - mb[j]) * (ma[j] - mb[j]);
                tr += sa[j * k + j] + sb[j * k + j] - 2.0 * sqrt(fmax(w[j], 0.0));
            }
            *fd = dist + tr;
            rc = 0;
        }
    }
    free(buf);
    return rc;
}

int ds_pca_frechet(const ds_pca *p, const double *a, int64_t na, const double *b, int64_t nb,
                   double *fd) {
    double *za = ds_try_alloc((size_t)(na * p->k), sizeof(double), "projected samples");
    double *zb = ds_try_alloc((size_t)(nb * p->k), sizeof(double), "projected samples");
    int rc = -1;
    if (za && zb && !ds_pca_project(p, a, na, za) && !ds_pca_project(p, b, nb, zb))
        rc = ds_frechet(za, na, zb, nb, p->k, fd);
    free(za);
    free(zb);
    return rc;
}
