// The local models' masks, kept by columns: pca_locality's binarised Wiener filter
// (Lukoianov et al., as analytic-diffusion-studio computes it) and ls's patches (Kamb &
// Ganguli).
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ds_error.h"
#include "local_mask.h"

int ds_model_is_local(ds_model_kind k) {
    return k == DS_MODEL_PCA_LOCALITY || k == DS_MODEL_LS;
}

void ds_local_mask_free(ds_local_mask *mask) {
    free(mask->start);
    free(mask->row);
    free(mask->weight);
    memset(mask, 0, sizeof *mask);
}

// The normalised Wiener filter at sigma, d x d row-major: U diag(f) U^T with
// f = lambda / (lambda + sigma^2), each row divided by its diagonal entry.
static int wiener_mask(const ds_model *m, double sigma, double *out) {
    int64_t d = m->d, r = m->r;
    double *scaled = ds_try_alloc((size_t)(d * r), sizeof(double), "pca_locality mask");
    if (!scaled) return -1;
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < r; j++) {
            double lam = m->eigvals[j];
            scaled[i * r + j] = m->eigvecs[i * r + j] * (lam / (lam + sigma * sigma));
        }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d, (int)d, (int)r, 1.0, scaled,
                (int)r, m->eigvecs, (int)r, 0.0, out, (int)d);
    free(scaled);
    for (int64_t n = 0; n < d; n++) {
        double diag = out[n * d + n];
        if (fabs(diag) < 1e-6) diag = 1.0;
        for (int64_t j = 0; j < d; j++) out[n * d + j] /= diag;
    }
    return 0;
}

// Keeps the dense d x d mask by columns: entries with |v| >= cut, as 1 when binarised.
static int compress(const double *dense, int64_t d, double cut, int binarise, ds_local_mask *out) {
    int64_t count = 0;
    for (int64_t e = 0; e < d * d; e++) count += fabs(dense[e]) >= cut && dense[e] != 0;
    out->d = d;
    out->start = ds_try_alloc((size_t)(d + 1), sizeof(int64_t), "local mask");
    out->row = ds_try_alloc((size_t)(count ? count : 1), sizeof(int32_t), "local mask");
    out->weight = ds_try_alloc((size_t)(count ? count : 1), sizeof(double), "local mask");
    if (!out->start || !out->row || !out->weight) {
        ds_local_mask_free(out);
        return -1;
    }
    int64_t at = 0;
    for (int64_t col = 0; col < d; col++) {
        out->start[col] = at;
        for (int64_t n = 0; n < d; n++) {
            double v = dense[n * d + col];
            if (!(fabs(v) >= cut && v != 0)) continue;
            out->row[at] = (int32_t)n;
            out->weight[at++] = binarise ? 1.0 : v;
        }
    }
    out->start[d] = at;
    return 0;
}

// The patch mask: column (c, i, j) holds every channel of the pixels within patch / 2
// of (i, j) in both directions.
static int patch_mask(const ds_model *m, int patch, ds_local_mask *out) {
    int64_t c = m->channels, h = m->height, w = m->width, half = patch / 2;
    int64_t side_h = 2 * half + 1 < h ? 2 * half + 1 : h,
            side_w = 2 * half + 1 < w ? 2 * half + 1 : w;
    int64_t most = m->d * c * side_h * side_w;
    out->d = m->d;
    out->start = ds_try_alloc((size_t)(m->d + 1), sizeof(int64_t), "ls mask");
    out->row = ds_try_alloc((size_t)most, sizeof(int32_t), "ls mask");
    out->weight = ds_try_alloc((size_t)most, sizeof(double), "ls mask");
    if (!out->start || !out->row || !out->weight) {
        ds_local_mask_free(out);
        return -1;
    }
    int64_t at = 0;
    for (int64_t col = 0; col < m->d; col++) {
        int64_t i = col / w % h, j = col % w;
        out->start[col] = at;
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t a = i - half; a <= i + half; a++)
                for (int64_t b = j - half; b <= j + half; b++) {
                    if (a < 0 || a >= h || b < 0 || b >= w) continue;
                    out->row[at] = (int32_t)((ch * h + a) * w + b);
                    out->weight[at++] = 1.0;
                }
    }
    out->start[m->d] = at;
    return 0;
}

int ds_local_mask_build(const ds_model *m, double sigma, ds_local_mask *out) {
    memset(out, 0, sizeof *out);
    if (m->kind == DS_MODEL_LS) return patch_mask(m, ds_patch_at(m, sigma), out);
    if (m->kind != DS_MODEL_PCA_LOCALITY || m->k != 1)
        return ds_fail("local mask: a %s model has none", ds_model_kind_name(m->kind));
    int64_t d = m->d;
    double *dense = ds_try_alloc((size_t)(d * d), sizeof(double), "pca_locality mask");
    if (!dense) return -1;
    int rc = wiener_mask(m, sigma, dense);
    double largest = 0;
    for (int64_t e = 0; e < d * d && !rc; e++) largest = fmax(largest, fabs(dense[e]));
    int binarise = m->mask_threshold > 0;
    if (!rc) rc = compress(dense, d, binarise ? m->mask_threshold * largest : 0.0, binarise, out);
    free(dense);
    return rc;
}
