// The Gaussian fit: mean and covariance of the data in float64 (dsyrk over centred
// chunks), then the top r eigenpairs (LAPACKE dsyevr) with the remaining variance spread
// isotropically over the complement. The covariance is normalised by N, so the model
// has exactly the first two moments of the training set.
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ds_error.h"
#include "fit_common.h"

#define FIT_CHUNK 1024 // rows per dsyrk call: 8 MiB of float64 at d = 1024

void fit_rows_f64(const ds_data *data, const int64_t *idx, int64_t first, int64_t count,
                  const double *shift, double *out) {
    int64_t d = data->d;
    for (int64_t i = 0; i < count; i++) {
        int64_t row = idx ? idx[first + i] : first + i;
        double *o = out + i * d;
        for (int64_t j = 0; j < d; j++)
            o[j] = ds_data_value(data, row, j) - (shift ? shift[j] : 0.0);
    }
}

// The mean as the first row plus the mean deviation from it: exact when all rows are
// equal (so that their covariance is exactly 0), and less cancellation otherwise.
static void rows_mean(const ds_data *data, const int64_t *idx, int64_t n, double *mean) {
    int64_t d = data->d, first = idx ? idx[0] : 0;
    memset(mean, 0, sizeof(double) * (size_t)d);
    for (int64_t i = 0; i < n; i++) {
        int64_t row = idx ? idx[i] : i;
        for (int64_t j = 0; j < d; j++)
            mean[j] += ds_data_value(data, row, j) - ds_data_value(data, first, j);
    }
    for (int64_t j = 0; j < d; j++) mean[j] = ds_data_value(data, first, j) + mean[j] / (double)n;
}

void fit_mean_rms(const ds_data *data, double *mean, double *sigma_data) {
    rows_mean(data, NULL, data->n, mean);
    double s = 0;
    for (int64_t i = 0; i < data->n; i++)
        for (int64_t j = 0; j < data->d; j++) {
            double v = ds_data_value(data, i, j) - mean[j];
            s += v * v;
        }
    *sigma_data = sqrt(s / (double)(data->n * data->d));
}

int fit_moments(const ds_data *data, const int64_t *idx, int64_t n, double *mean, double *cov) {
    int64_t d = data->d;
    if (n < 1) return ds_fail("covariance of an empty set of rows (expected at least one)");
    double *buf = ds_try_alloc((size_t)(FIT_CHUNK * d), sizeof(double), "covariance workspace");
    if (!buf) return -1;
    rows_mean(data, idx, n, mean);
    memset(cov, 0, sizeof(double) * (size_t)(d * d));
    for (int64_t first = 0; first < n; first += FIT_CHUNK) {
        int64_t count = n - first < FIT_CHUNK ? n - first : FIT_CHUNK;
        fit_rows_f64(data, idx, first, count, mean, buf);
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)count, 1.0, buf, (int)d,
                    1.0, cov, (int)d);
    }
    free(buf);
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = i; j < d; j++) cov[j * d + i] = cov[i * d + j] /= (double)n;
    return 0;
}

int fit_decompose(const char *what, double *cov, int64_t d, int64_t r, double *eigvals,
                  double *eigvecs, double *residual) {
    double trace = 0;
    for (int64_t j = 0; j < d; j++) trace += cov[j * d + j];
    double *w = ds_try_alloc((size_t)d, sizeof(double), what);
    double *z = w ? ds_try_alloc((size_t)(d * r), sizeof(double), what) : NULL;
    lapack_int *support = z ? ds_try_alloc((size_t)(2 * r), sizeof(lapack_int), what) : NULL;
    if (!support) {
        free(w);
        free(z);
        return -1;
    }
    lapack_int found = 0;
    // RANGE 'I': only eigenvalues d-r+1 .. d (ascending), i.e. the top r.
    lapack_int info = LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'I', 'U', (lapack_int)d, cov,
                                     (lapack_int)d, 0.0, 0.0, (lapack_int)(d - r + 1),
                                     (lapack_int)d, 0.0, &found, w, z, (lapack_int)r, support);
    int rc = 0;
    if (info != 0 || found != r)
        rc = ds_fail("%s: eigendecomposition failed (LAPACKE_dsyevr info %d, %d of %lld "
                     "eigenpairs)",
                     what, (int)info, (int)found, (long long)r);
    // Rounding can leave eigenvalues of a PSD matrix slightly negative; anything beyond
    // 1e-9 of the largest eigenvalue means the matrix itself is not PSD.
    double tol = r > 0 ? 1e-9 * fabs(w[r - 1]) + 1e-300 : 0, kept = 0;
    for (int64_t j = 0; j < r && !rc; j++) {
        double lam = w[r - 1 - j];
        if (lam < -tol)
            rc = ds_fail("%s: covariance is not positive semi-definite (eigenvalue %.3g, largest "
                         "%.3g)",
                         what, lam, w[r - 1]);
        kept += lam;
        eigvals[j] = fmax(lam, 0.0);
        for (int64_t i = 0; i < d; i++) eigvecs[i * r + j] = z[i * r + (r - 1 - j)];
    }
    *residual = r < d ? fmax((trace - kept) / (double)(d - r), 0.0) : 0.0;
    free(w);
    free(z);
    free(support);
    return rc;
}

// The one-component fit of rank r; the covariance normalised by n - ddof.
static int fit_one_gaussian(const ds_data *data, int64_t r, int ddof, ds_model *m) {
    int64_t d = data->d;
    m->k = 1;
    m->r = r;
    m->weights = ds_try_alloc(1, sizeof(double), "gaussian");
    m->means = ds_try_alloc((size_t)d, sizeof(double), "gaussian mean");
    m->eigvals = ds_try_alloc((size_t)m->r, sizeof(double), "gaussian eigenvalues");
    m->eigvecs = ds_try_alloc((size_t)(d * m->r), sizeof(double), "gaussian eigenvectors");
    m->residual = ds_try_alloc(1, sizeof(double), "gaussian");
    if (!m->weights || !m->means || !m->eigvals || !m->eigvecs || !m->residual) return -1;
    m->weights[0] = 1.0;
    double *cov = ds_try_alloc((size_t)(d * d), sizeof(double), "gaussian covariance");
    if (!cov) return -1;
    int rc = fit_moments(data, NULL, data->n, m->means, cov);
    double unbias = (double)data->n / (double)(data->n - ddof);
    for (int64_t i = 0; i < d * d && ddof; i++) cov[i] *= unbias;
    if (!rc) rc = fit_decompose("gaussian", cov, d, m->r, m->eigvals, m->eigvecs, m->residual);
    free(cov);
    return rc;
}

int fit_gaussian(const ds_data *data, const ds_fit_opts *o, ds_model *m) {
    return fit_one_gaussian(data, o->rank ? o->rank : data->d, 0, m);
}

int fit_wiener(const ds_data *data, ds_model *m) {
    return fit_one_gaussian(data, data->d, 1, m);
}
