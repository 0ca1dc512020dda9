// The model check shared by the backends' bind.
#include "model_check.h"

#include "ds_error.h"

int ds_backend_check_model(const char *who, const ds_model *m) {
    if (m->kind == DS_MODEL_EMPIRICAL) {
        if (m->data.n < 1 || m->d < 1 || m->data.d != m->d || !m->data.x || !m->mean)
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
