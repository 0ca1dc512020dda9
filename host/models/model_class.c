// A mixture's moments, and the model of one class of a mixture fitted per class: its
// components of that class, weights renormalised (README, section Data: --class).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ds_error.h"
#include "ds_model.h"
#include "fit_common.h"

int model_mixture_moments(ds_model *m) {
    int64_t d = m->d, r = m->r;
    free(m->mean);
    m->mean = ds_try_alloc((size_t)d, sizeof(double), "mixture mean");
    if (!m->mean) return -1;
    for (int64_t c = 0; c < m->k; c++)
        for (int64_t j = 0; j < d; j++) m->mean[j] += m->weights[c] * m->means[c * d + j];
    double total = 0;
    for (int64_t c = 0; c < m->k; c++) {
        double var = (double)(d - r) * m->residual[c];
        for (int64_t j = 0; j < r; j++) var += m->eigvals[c * r + j];
        for (int64_t j = 0; j < d; j++) {
            double dm = m->means[c * d + j] - m->mean[j];
            var += dm * dm;
        }
        total += m->weights[c] * var;
    }
    m->sigma_data = sqrt(total / (double)d);
    return 0;
}

int ds_model_select_class(ds_model *m, int64_t label) {
    if (m->kind != DS_MODEL_GMM)
        return ds_fail("--class: a %s model has no components to select (a gmm model has)",
                       ds_model_kind_name(m->kind));
    if (!m->classes)
        return ds_fail("--class %lld: this gmm model records no component classes (prepare it "
                       "with --per-class or --gmm-from-labels on labelled data)",
                       (long long)label);
    int64_t d = m->d, r = m->r, kept = 0;
    double total = 0;
    for (int64_t c = 0; c < m->k; c++) total += m->classes[c] == label ? m->weights[c] : 0;
    if (!(total > 0))
        return ds_fail("--class %lld: no component of this gmm model has that class (its "
                       "classes: %d .. %d)",
                       (long long)label, (int)m->classes[0], (int)m->classes[m->k - 1]);
    // Compact the kept components to the front, in order (kept <= c: no overlap).
    for (int64_t c = 0; c < m->k; c++) {
        if (m->classes[c] != label) continue;
        m->weights[kept] = m->weights[c] / total;
        m->residual[kept] = m->residual[c];
        m->classes[kept] = m->classes[c];
        memmove(m->means + kept * d, m->means + c * d, sizeof(double) * (size_t)d);
        memmove(m->eigvals + kept * r, m->eigvals + c * r, sizeof(double) * (size_t)r);
        memmove(m->eigvecs + kept * d * r, m->eigvecs + c * d * r,
                sizeof(double) * (size_t)(d * r));
        kept++;
    }
    m->k = kept;
    return model_mixture_moments(m);
}
