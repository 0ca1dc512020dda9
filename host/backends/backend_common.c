// What the backends share: the argument checks they run first, and host batches.
#include <math.h>
#include <stdlib.h>

#include "backend_common.h"
#include "ds_error.h"

static int check_shapes(const char *who, const ds_model *m, const ds_batch *x,
                        const ds_batch *out) {
    if (x->cols != m->d || out->cols != m->d || out->rows != x->rows)
        return ds_fail("%s: batches of %lld x %lld (out %lld x %lld) for a model with d = %lld",
                       who, (long long)x->rows, (long long)x->cols, (long long)out->rows,
                       (long long)out->cols, (long long)m->d);
    return 0;
}

uint64_t ds_backend_source_bytes(const ds_data *d) {
    return d->map_base ? 0 : (uint64_t)ds_data_value_bytes(d);
}

int ds_backend_check_bind(const char *who, const ds_model *m) {
    if (m->kind == DS_MODEL_CALLBACK)
        return ds_fail("%s: a callback model needs the callback backend (ds_backend_callback_new)",
                       who);
    if (m->kind == DS_MODEL_EMPIRICAL) {
        if (m->data.n < 1 || m->d < 1 || m->data.d != m->d || !m->data.values || !m->mean)
            return ds_fail("%s: empirical model lacks its training rows or their mean (got %lld "
                           "rows of %lld for d = %lld; expected n >= 1 rows of d and the mean)",
                           who, (long long)m->data.n, (long long)m->data.d, (long long)m->d);
        return 0;
    }
    if (m->k < 1 || m->r < 1 || m->r > m->d || !m->weights || !m->means || !m->eigvals ||
        !m->eigvecs || !m->residual)
        return ds_fail("%s: %s model with k = %lld, r = %lld, d = %lld lacks its factors "
                       "(expected k >= 1, 1 <= r <= d, weights, means, eigenvalues, "
                       "eigenvectors and residuals)",
                       who, ds_model_kind_name(m->kind), (long long)m->k, (long long)m->r,
                       (long long)m->d);
    return 0;
}

int ds_backend_check_denoise(const char *who, const ds_model *m, const ds_batch *x,
                             const double *sigma, int64_t n_sigma, const ds_batch *out) {
    DS_TRY(check_shapes(who, m, x, out));
    if (n_sigma != 1 && n_sigma != x->rows)
        return ds_fail("%s: %lld sigmas for %lld rows (expected 1 or one per row)", who,
                       (long long)n_sigma, (long long)x->rows);
    for (int64_t i = 0; i < n_sigma; i++)
        if (!(sigma[i] > 0) || !isfinite(sigma[i]))
            return ds_fail("%s: sigma[%lld] = %g (expected a finite value > 0)", who, (long long)i,
                           sigma[i]);
    return 0;
}

int ds_backend_check_flow(const char *who, const ds_model *m, const ds_batch *x, double sigma_from,
                          double sigma_to, const ds_batch *out) {
    if ((m->kind != DS_MODEL_GAUSSIAN && m->kind != DS_MODEL_GMM) || m->k != 1)
        return ds_fail("%s: the Gaussian flow needs a Gaussian model (one component)", who);
    DS_TRY(check_shapes(who, m, x, out));
    if (!(sigma_from >= 0) || !(sigma_to >= 0) || !isfinite(sigma_from) || !isfinite(sigma_to))
        return ds_fail("%s: sigmas %g -> %g (expected finite values >= 0)", who, sigma_from,
                       sigma_to);
    return 0;
}

ds_batch *ds_host_batch_new(int64_t rows, int64_t cols, size_t elem_size) {
    ds_batch *v = ds_alloc(1, sizeof *v);
    v->rows = rows;
    v->cols = cols;
    v->data = ds_alloc((size_t)(rows * cols), elem_size);
    return v;
}

void ds_host_batch_free(ds_backend *b, ds_batch *v) {
    (void)b;
    if (!v) return;
    free(v->data);
    free(v);
}
