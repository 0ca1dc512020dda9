// What the backends share: the argument checks they run first, and host batches.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend_common.h"
#include "ds_error.h"
#include "linear_features.h"

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

int ds_backend_check_prune(const char *who, const ds_model *m, double eps) {
    if (m->kind != DS_MODEL_EMPIRICAL)
        return ds_fail("%s: pruning is for the empirical model (got %s)", who,
                       ds_model_kind_name(m->kind));
    if (!(eps > 0 && eps <= 1e-3))
        return ds_fail("%s: the prune eps %g is outside (0, 1e-3]", who, eps);
    return 0;
}

int ds_backend_check_bind(const char *who, const ds_model *m) {
    if (m->kind == DS_MODEL_CALLBACK)
        return ds_fail("%s: a callback model needs the callback backend (ds_backend_callback_new)",
                       who);
    if (ds_model_holds_rows(m->kind)) {
        if (m->data.n < 1 || m->d < 1 || m->data.d != m->d || !m->data.values || !m->mean)
            return ds_fail("%s: %s model lacks its training rows or their mean (got %lld rows "
                           "of %lld for d = %lld; expected n >= 1 rows of d and the mean)",
                           who, ds_model_kind_name(m->kind), (long long)m->data.n,
                           (long long)m->data.d, (long long)m->d);
        // pca_locality also keeps its Wiener filter, a one-component Gaussian (below)
        if (m->kind != DS_MODEL_PCA_LOCALITY) return 0;
    }
    if (m->kind == DS_MODEL_LINEAR_FEATURES) {
        if (!m->feature_weights || !m->mean)
            return ds_fail("%s: linear_features model lacks its weights W or its mean (fit it "
                           "or load its folder)",
                           who);
        return linear_features_check(who, m->d, m->features_per_axis, m->feature_draws,
                                     m->feature_cutoff, m->feature_ridge, m->feature_range);
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
    ds_batch *v = ds_try_alloc(1, sizeof *v, "a batch");
    if (!v) return NULL;
    v->rows = rows;
    v->cols = cols;
    v->data = ds_try_alloc((size_t)(rows * cols), elem_size, "a batch");
    if (!v->data) {
        free(v);
        return NULL;
    }
    return v;
}

void ds_host_batch_free(ds_backend *b, ds_batch *v) {
    (void)b;
    if (!v) return;
    free(v->data);
    free(v);
}

static int check_rows(const char *who, const char *what, const int64_t *rows, int64_t n,
                      int64_t limit) {
    if (n > limit && !rows)
        return ds_fail("%s: %lld rows of a %s with %lld", who, (long long)n, what,
                       (long long)limit);
    for (int64_t k = 0; rows && k < n; k++)
        if (rows[k] < 0 || rows[k] >= limit)
            return ds_fail("%s: row %lld of a %s with %lld rows", who, (long long)rows[k], what,
                           (long long)limit);
    return 0;
}

int ds_check_move_rows(const char *who, const ds_batch *dst, const int64_t *dst_rows,
                       const ds_batch *src, const int64_t *src_rows, int64_t n) {
    if (dst == src || dst->data == src->data || dst->cols != src->cols)
        return ds_fail("%s: needs two distinct batches of the same width", who);
    DS_TRY(check_rows(who, "destination", dst_rows, n, dst->rows));
    return check_rows(who, "source", src_rows, n, src->rows);
}

int ds_host_move_rows(ds_backend *b, ds_batch *dst, const int64_t *dst_rows, const ds_batch *src,
                      const int64_t *src_rows, int64_t n) {
    DS_TRY(ds_check_move_rows(b->name, dst, dst_rows, src, src_rows, n));
    size_t row_bytes = (size_t)src->cols * (b->f64 ? sizeof(double) : sizeof(float));
    for (int64_t k = 0; k < n; k++)
        memcpy((char *)dst->data + (size_t)(dst_rows ? dst_rows[k] : k) * row_bytes,
               (const char *)src->data + (size_t)(src_rows ? src_rows[k] : k) * row_bytes,
               row_bytes);
    return 0;
}
