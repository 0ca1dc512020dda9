// The ref denoisers of els and pspc: each patch distance summed term by term in float64,
// each softmax in two passes (its maximum, then the weights), nothing cached. Obviously
// correct and slow: the judge of the cpu paths (host/backends/cpu_els.c, cpu_pspc.c).
#include <math.h>

#include "ref_patch.h"

// Value (c, i, j) of training image k, or of the query when k < 0; 0 outside the image
// (the zero padding of ls and els).
static double pixel(const ds_model *m, const double *x, int64_t k, int64_t c, int64_t i,
                    int64_t j) {
    if (i < 0 || i >= m->height || j < 0 || j >= m->width) return 0;
    int64_t at = (c * m->height + i) * m->width + j;
    return k < 0 ? x[at] : ds_data_value(&m->data, k, at);
}

// The squared distance between the query's patch centred on (pi, pj) and image k's patch
// centred on (qi, qj), every channel, both zero-padded.
static double els_distance(const ds_model *m, const double *x, int64_t half, int64_t pi, int64_t pj,
                           int64_t k, int64_t qi, int64_t qj) {
    double sum = 0;
    for (int64_t c = 0; c < m->channels; c++)
        for (int64_t a = -half; a <= half; a++)
            for (int64_t b = -half; b <= half; b++) {
                double diff =
                    pixel(m, x, -1, c, pi + a, pj + b) - pixel(m, x, k, c, qi + a, qj + b);
                sum += diff * diff;
            }
    return sum;
}

// els: pixel (c, p) is the softmax over every image k and position q of
// -|patch_p(x) - patch_q(y_k)|^2 / (2 sigma^2), weighting pixel (c, q) of y_k.
void ref_els_row(const ds_model *m, const double *x, double sigma, double *out) {
    int64_t n = m->data.n, h = m->height, w = m->width, hw = h * w;
    int64_t half = ds_patch_at(m, sigma) / 2;
    double scale = 1.0 / (2.0 * sigma * sigma);
    for (int64_t p = 0; p < hw; p++) {
        int64_t pi = p / w, pj = p % w;
        double top = -INFINITY, z = 0;
        for (int64_t k = 0; k < n; k++)
            for (int64_t q = 0; q < hw; q++)
                top = fmax(top, -els_distance(m, x, half, pi, pj, k, q / w, q % w) * scale);
        for (int64_t c = 0; c < m->channels; c++) out[c * hw + p] = 0;
        for (int64_t k = 0; k < n; k++)
            for (int64_t q = 0; q < hw; q++) {
                double e = exp(-els_distance(m, x, half, pi, pj, k, q / w, q % w) * scale - top);
                z += e;
                for (int64_t c = 0; c < m->channels; c++)
                    out[c * hw + p] += e * ds_data_value(&m->data, k, c * hw + q);
            }
        for (int64_t c = 0; c < m->channels; c++) out[c * hw + p] /= z;
    }
}

// pspc: every P x P patch inside the image (top-left corner (a, b)) has the posterior mean
// of the training images' patches at that place, softmax_k(-|patch(x) - patch(y_k)|^2 /
// (2 sigma^2)); pixel (c, i, j) is the mean of the patches' means over the patches that
// hold it.
void ref_pspc_row(const ds_model *m, const double *x, double sigma, double *out, double *work) {
    int64_t n = m->data.n, h = m->height, w = m->width, hw = h * w, patch = ds_patch_at(m, sigma);
    double scale = 1.0 / (2.0 * sigma * sigma), *weight = work, *count = work + n;
    for (int64_t e = 0; e < m->d; e++) out[e] = 0;
    for (int64_t p = 0; p < hw; p++) count[p] = 0;
    for (int64_t a = 0; a + patch <= h; a++)
        for (int64_t b = 0; b + patch <= w; b++) {
            double top = -INFINITY, z = 0;
            for (int64_t k = 0; k < n; k++) {
                double dist = 0;
                for (int64_t c = 0; c < m->channels; c++)
                    for (int64_t i = a; i < a + patch; i++)
                        for (int64_t j = b; j < b + patch; j++) {
                            double diff = pixel(m, x, -1, c, i, j) - pixel(m, x, k, c, i, j);
                            dist += diff * diff;
                        }
                weight[k] = -dist * scale;
                top = fmax(top, weight[k]);
            }
            for (int64_t k = 0; k < n; k++) z += (weight[k] = exp(weight[k] - top));
            for (int64_t k = 0; k < n; k++)
                for (int64_t c = 0; c < m->channels; c++)
                    for (int64_t i = a; i < a + patch; i++)
                        for (int64_t j = b; j < b + patch; j++)
                            out[(c * h + i) * w + j] += weight[k] / z * pixel(m, x, k, c, i, j);
            for (int64_t i = a; i < a + patch; i++)
                for (int64_t j = b; j < b + patch; j++) count[i * w + j] += 1;
        }
    for (int64_t e = 0; e < m->d; e++) out[e] /= count[e % hw];
}
