// The variance model on the cpu backend (maths: host/models/model_variance.c):
// D_var = D + sqrt(kappa) (P + S (mean - D)) with weights w = softmax(l),
// l_i = (x.y_i - |y_i|^2/2) / sigma^2 on centred rows, a_i = sqrt(w_i) z_i(sigma),
// P = sum_i a_i y_i and S = sum_i a_i.
//
// The rows are kept centred in double and the three products (the logits X Y^T, then
// W Y and A Y) are DGEMMs over sub-blocks of queries, so the logits carry no float32
// product error (which sigma^-2 would amplify at small sigma: DESIGN.md); float32 enters
// only through the batch itself, so the result is ref's to about float rounding.
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "cpu_models.h"
#include "ds_error.h"

// Queries per sub-block: the rows x n logits and the z stay around 16 MB each.
#define SUB_DOUBLES (1 << 21)

struct cpu_variance {
    const ds_model *m;
    int64_t n, d;
    double *y;       // n x d centred rows
    double *half_sq; // |y_i|^2 / 2
};

cpu_variance *cpu_variance_new(const ds_model *m) {
    int64_t n = m->data.n, d = m->d;
    cpu_variance *v = ds_try_alloc(1, sizeof *v, "cpu backend");
    if (!v) return NULL;
    *v = (cpu_variance){m, n, d, NULL, NULL};
    v->y = ds_try_alloc((size_t)(n * d), sizeof(double), "cpu backend: centred training rows");
    v->half_sq = v->y ? ds_try_alloc((size_t)n, sizeof(double), "cpu backend") : NULL;
    if (!v->half_sq) {
        cpu_variance_free(v);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t j = 0; j < d; j++) {
            double c = ds_data_value(&m->data, i, j) - m->mean[j];
            v->y[i * d + j] = c;
            s += c * c;
        }
        v->half_sq[i] = 0.5 * s;
    }
    return v;
}

void cpu_variance_free(cpu_variance *v) {
    if (!v) return;
    free(v->y);
    free(v->half_sq);
    free(v);
}

static int64_t sub_rows(int64_t n, int64_t rows) {
    int64_t s = SUB_DOUBLES / n;
    s = s < 1 ? 1 : s;
    return s < rows ? s : rows;
}

void cpu_variance_memory(const ds_model *m, int64_t rows, uint64_t *model, uint64_t *work) {
    uint64_t n = (uint64_t)m->data.n, d = (uint64_t)m->d, s = (uint64_t)sub_rows(m->data.n, rows);
    *model = sizeof(double) * n * (d + 1);
    *work = sizeof(double) * ((2 * s + 1) * n + s + 3 * s * d);
}

// The count rows' products x.y_i in w become the weights w and a = sqrt(w) z; z holds the
// normals of sigma *z_sigma, redrawn when a row's sigma differs.
static void weights(const cpu_variance *v, const double *sig, int64_t count, double *w, double *a,
                    double *z, double *z_sigma) {
    int64_t n = v->n;
    for (int64_t r = 0; r < count; r++) {
        double inv_s2 = 1.0 / (sig[r] * sig[r]), max = -DBL_MAX, total = 0;
        double *wr = w + r * n, *ar = a + r * n;
        for (int64_t i = 0; i < n; i++) {
            wr[i] = (wr[i] - v->half_sq[i]) * inv_s2;
            max = fmax(max, wr[i]);
        }
        for (int64_t i = 0; i < n; i++) total += (wr[i] = exp(wr[i] - max));
        if (sig[r] != *z_sigma) ds_variance_z(v->m, *z_sigma = sig[r], z);
        for (int64_t i = 0; i < n; i++) {
            wr[i] /= total;
            ar[i] = sqrt(wr[i]) * z[i];
        }
    }
}

int cpu_variance_denoise(const cpu_variance *v, const float *x, int64_t rows, const double *sigma,
                         int64_t n_sigma, float *out) {
    int64_t n = v->n, d = v->d, sub = sub_rows(n, rows);
    const double *mean = v->m->mean, scale = sqrt(v->m->variance);
    double *w = ds_try_alloc((size_t)(sub * n), sizeof(double), "cpu variance");
    double *a = w ? ds_try_alloc((size_t)((sub + 1) * n), sizeof(double), "cpu variance") : NULL;
    double *sig = a ? ds_try_alloc((size_t)sub, sizeof(double), "cpu variance") : NULL;
    double *xc = sig ? ds_try_alloc((size_t)(3 * sub * d), sizeof(double), "cpu variance") : NULL;
    if (!xc) {
        free(w), free(a), free(sig);
        return -1;
    }
    double *dn = xc + sub * d, *p = dn + sub * d, *z = a + sub * n, z_sigma = NAN;
    for (int64_t first = 0; first < rows; first += sub) {
        int64_t count = rows - first < sub ? rows - first : sub;
        for (int64_t r = 0; r < count; r++) {
            sig[r] = sigma[n_sigma == 1 ? 0 : first + r];
            for (int64_t j = 0; j < d; j++) xc[r * d + j] = x[(first + r) * d + j] - mean[j];
        }
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)count, (int)n, (int)d, 1.0, xc,
                    (int)d, v->y, (int)d, 0.0, w, (int)n);
        weights(v, sig, count, w, a, z, &z_sigma);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)count, (int)d, (int)n, 1.0, w,
                    (int)n, v->y, (int)d, 0.0, dn, (int)d);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)count, (int)d, (int)n, 1.0, a,
                    (int)n, v->y, (int)d, 0.0, p, (int)d);
        for (int64_t r = 0; r < count; r++) {
            double s = 0;
            for (int64_t i = 0; i < n; i++) s += a[r * n + i];
            // dn is D - mean (centred), so mean - D = -dn
            for (int64_t j = 0; j < d; j++)
                out[(first + r) * d + j] =
                    (float)(mean[j] + dn[r * d + j] + scale * (p[r * d + j] - s * dn[r * d + j]));
        }
    }
    free(w), free(a), free(sig), free(xc);
    return 0;
}
