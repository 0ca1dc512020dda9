// The cpu backend: float32 batches, OpenBLAS SGEMM and OpenMP threads. This file holds
// the function table and the batch primitives; the denoisers live in cpu_empirical.c,
// cpu_gmm.c and cpu_local.c.
#include <stdlib.h>
#include <string.h>

#include "backend_common.h"
#include "bytes.h"
#include "cpu_models.h"
#include "ds_error.h"
#include "ds_philox.h"
#include "linear_features.h"
#include "local_mask.h"

// Rows of a batch handed to a denoiser at once: bounds the workspaces (a few MB per
// 1,024 rows) while keeping the GEMMs large.
#define CPU_ROW_BLOCK 1024

struct ds_bound_model {
    const ds_model *m;
    cpu_empirical *empirical;
    cpu_gmm *gmm;
    cpu_local *local;
    cpu_variance *variance;
};

static ds_bound_model *cpu_bind(ds_backend *b, const ds_model *m) {
    (void)b;
    if (ds_backend_check_bind("cpu backend", m)) return NULL;
    ds_bound_model *bm = ds_try_alloc(1, sizeof *bm, "cpu backend");
    if (!bm) return NULL;
    bm->m = m;
    if (m->kind == DS_MODEL_LINEAR_FEATURES) return bm; // no state: W is the model's
    if (m->kind == DS_MODEL_EMPIRICAL || m->kind == DS_MODEL_NEAREST ||
        m->kind == DS_MODEL_SMOOTHED)
        bm->empirical = cpu_empirical_new(m);
    else if (m->kind == DS_MODEL_VARIANCE)
        bm->variance = cpu_variance_new(m);
    else if (ds_model_holds_rows(m->kind)) // the local models: pca_locality, ls, els, pspc
        bm->local = cpu_local_new(m);
    else
        bm->gmm = cpu_gmm_new(m);
    if (bm->empirical || bm->gmm || bm->local || bm->variance) return bm;
    free(bm);
    return NULL;
}

static void cpu_unbind(ds_backend *b, ds_bound_model *bm) {
    (void)b;
    if (!bm) return;
    cpu_empirical_free(bm->empirical);
    cpu_gmm_free(bm->gmm);
    cpu_local_free(bm->local);
    cpu_variance_free(bm->variance);
    free(bm);
}

static ds_batch *cpu_batch_new(ds_backend *b, int64_t rows, int64_t cols) {
    (void)b;
    return ds_host_batch_new(rows, cols, sizeof(float));
}

static int cpu_upload(ds_backend *b, ds_batch *dst, const double *src) {
    (void)b;
    float *o = dst->data;
    int64_t count = dst->rows * dst->cols;
#pragma omp parallel for schedule(static) if (count > 65536)
    for (int64_t e = 0; e < count; e++) o[e] = (float)src[e];
    return 0;
}

static int cpu_download(ds_backend *b, const ds_batch *src, double *dst) {
    (void)b;
    const float *s = src->data;
    int64_t count = src->rows * src->cols;
#pragma omp parallel for schedule(static) if (count > 65536)
    for (int64_t e = 0; e < count; e++) dst[e] = s[e];
    return 0;
}

static int cpu_copy(ds_backend *b, ds_batch *dst, const ds_batch *src) {
    (void)b;
    memcpy(dst->data, src->data, sizeof(float) * (size_t)(src->rows * src->cols));
    return 0;
}

// One pass over memory: the sum is formed in double in an L1-sized tile, so the loops
// vectorise and out may alias any input.
static int cpu_lincomb(ds_backend *b, ds_batch *out, int n, const double *coef,
                       const ds_batch *const *v) {
    (void)b;
    enum { TILE = 512 };
    int64_t count = out->rows * out->cols;
    float *o = out->data;
#pragma omp parallel for schedule(static) if (count > 65536)
    for (int64_t start = 0; start < count; start += TILE) {
        int64_t len = count - start < TILE ? count - start : TILE;
        double sum[TILE] = {0};
        for (int k = 0; k < n; k++) {
            const float *in = (const float *)v[k]->data + start;
            double c = coef[k];
            for (int64_t e = 0; e < len; e++) sum[e] += c * in[e];
        }
        for (int64_t e = 0; e < len; e++) o[start + e] = (float)sum[e];
    }
    return 0;
}

static int cpu_randn(ds_backend *b, ds_batch *out, uint64_t seed, int64_t first_row) {
    (void)b;
    float *o = out->data;
    int64_t cols = out->cols;
#pragma omp parallel for schedule(static) if (out->rows * cols > 65536)
    for (int64_t i = 0; i < out->rows; i++)
        for (int64_t j = 0; j < cols; j++)
            o[i * cols + j] = (float)ds_philox_normal(seed, first_row + i, j);
    return 0;
}

// The nearest training row: the top row of the empirical softmax, which does not depend
// on sigma; at a small sigma the empirical path recomputes the products near the
// maximum in double, so the choice carries no SGEMM error.
static int nearest_rows(const ds_bound_model *bm, const float *x, int64_t rows, float *out) {
    const ds_model *m = bm->m;
    int64_t *top = ds_try_alloc((size_t)rows, sizeof(int64_t), "cpu nearest row");
    if (!top) return -1;
    ds_diag diag = {.top_index = top};
    double sigma = 1e-3;
    int rc = cpu_empirical_denoise(bm->empirical, x, rows, &sigma, 1, out, &diag);
    for (int64_t i = 0; i < rows && !rc; i++) ds_data_rows_f32(&m->data, top[i], 1, out + i * m->d);
    free(top);
    return rc;
}

// The smoothed model: the empirical denoiser on rows x smoothing_samples perturbed
// queries x + a eps_c (a = smoothing sqrt(1 + sigma^2), per row), averaged in double.
static int smoothed_rows(const ds_bound_model *bm, const float *x, int64_t rows,
                         const double *sigma, int64_t n_sigma, float *out) {
    const ds_model *m = bm->m;
    int64_t d = m->d, samples = m->smoothing_samples, count = rows * samples;
    double *eps = ds_try_alloc((size_t)(samples * d), sizeof(double), "cpu smoothed");
    double *s_all = eps ? ds_try_alloc((size_t)count, sizeof(double), "cpu smoothed") : NULL;
    float *q = s_all ? ds_try_alloc((size_t)(count * d), sizeof(float), "cpu smoothed") : NULL;
    float *dq = q ? ds_try_alloc((size_t)(count * d), sizeof(float), "cpu smoothed") : NULL;
    int rc = dq ? 0 : -1;
    if (!rc) {
        ds_smoothed_noise(m, eps);
        for (int64_t i = 0; i < rows; i++) {
            double s = sigma[n_sigma == 1 ? 0 : i], a = ds_smoothed_scale(m, s);
            for (int64_t c = 0; c < samples; c++) {
                s_all[i * samples + c] = s;
                for (int64_t j = 0; j < d; j++)
                    q[(i * samples + c) * d + j] = (float)(x[i * d + j] + a * eps[c * d + j]);
            }
        }
        rc = cpu_empirical_denoise(bm->empirical, q, count, s_all, count, dq, NULL);
    }
    for (int64_t i = 0; i < rows && !rc; i++)
        for (int64_t j = 0; j < d; j++) {
            double sum = 0;
            for (int64_t c = 0; c < samples; c++) sum += dq[(i * samples + c) * d + j];
            out[i * d + j] = (float)(sum / (double)samples);
        }
    free(eps);
    free(s_all);
    free(q);
    free(dq);
    return rc;
}

// The linear_features model shares ref's double code: at d <= 2 a row costs (d + 1) F
// products (at most 12,288), and a float version would only add its rounding. The float32
// query converts to double exactly; the output rounds once.
static void linear_features_rows(const ds_model *m, const float *x, int64_t rows,
                                 const double *sigma, int64_t n_sigma, float *out) {
    int64_t d = m->d;
#pragma omp parallel for schedule(static) if (rows > 64)
    for (int64_t i = 0; i < rows; i++) {
        double xi[2], oi[2];
        for (int64_t j = 0; j < d; j++) xi[j] = x[i * d + j];
        linear_features_row(m, xi, sigma[n_sigma == 1 ? 0 : i], oi);
        for (int64_t j = 0; j < d; j++) out[i * d + j] = (float)oi[j];
    }
}

static int cpu_denoise(ds_backend *b, ds_bound_model *bm, const ds_batch *x, const double *sigma,
                       int64_t n_sigma, ds_batch *out, ds_diag *diag) {
    (void)b;
    const ds_model *m = bm->m;
    DS_TRY(ds_backend_check_denoise("cpu denoise", m, x, sigma, n_sigma, out));
    int64_t d = m->d;
    for (int64_t start = 0; start < x->rows; start += CPU_ROW_BLOCK) {
        int64_t rows = x->rows - start < CPU_ROW_BLOCK ? x->rows - start : CPU_ROW_BLOCK;
        const float *xb = (const float *)x->data + start * d;
        float *ob = (float *)out->data + start * d;
        const double *sb = n_sigma == 1 ? sigma : sigma + start;
        if (m->kind == DS_MODEL_LINEAR_FEATURES) {
            linear_features_rows(m, xb, rows, sb, n_sigma == 1 ? 1 : rows, ob);
        } else if (m->kind == DS_MODEL_NEAREST) {
            DS_TRY(nearest_rows(bm, xb, rows, ob));
        } else if (m->kind == DS_MODEL_SMOOTHED) {
            DS_TRY(smoothed_rows(bm, xb, rows, sb, n_sigma == 1 ? 1 : rows, ob));
        } else if (bm->empirical) {
            ds_diag shifted = {0};
            if (diag)
                shifted = (ds_diag){diag->top_index ? diag->top_index + start : NULL,
                                    diag->top_weight ? diag->top_weight + start : NULL,
                                    diag->entropy ? diag->entropy + start : NULL};
            DS_TRY(cpu_empirical_denoise(bm->empirical, xb, rows, sb, n_sigma == 1 ? 1 : rows, ob,
                                         diag ? &shifted : NULL));
        } else if (bm->variance) {
            DS_TRY(cpu_variance_denoise(bm->variance, xb, rows, sb, n_sigma == 1 ? 1 : rows, ob));
        } else if (bm->local) {
            DS_TRY(cpu_local_denoise(bm->local, xb, rows, sb, n_sigma == 1 ? 1 : rows, ob));
        } else {
            DS_TRY(cpu_gmm_denoise(bm->gmm, xb, rows, sb, n_sigma == 1 ? 1 : rows, ob));
        }
    }
    return 0;
}

static int cpu_prune_on(ds_backend *b, ds_bound_model *bm, double eps, ds_prune_stats *stats) {
    (void)b;
    DS_TRY(ds_backend_check_prune("cpu backend", bm->m, eps));
    return cpu_empirical_prune(bm->empirical, eps, stats);
}

int cpu_bound_prune_kept(ds_bound_model *bm, const float *x, double sigma, uint8_t *keep) {
    if (!bm->empirical) return ds_fail("cpu pruning: the model is not empirical");
    return cpu_empirical_prune_kept(bm->empirical, x, sigma, keep);
}

static int cpu_gaussian_flow(ds_backend *b, ds_bound_model *bm, const ds_batch *x,
                             double sigma_from, double sigma_to, ds_batch *out) {
    (void)b;
    const ds_model *m = bm->m;
    DS_TRY(ds_backend_check_flow("cpu gaussian flow", m, x, sigma_from, sigma_to, out));
    int64_t d = m->d;
    for (int64_t start = 0; start < x->rows; start += CPU_ROW_BLOCK) {
        int64_t rows = x->rows - start < CPU_ROW_BLOCK ? x->rows - start : CPU_ROW_BLOCK;
        DS_TRY(cpu_gmm_flow(bm->gmm, (const float *)x->data + start * d, rows, sigma_from, sigma_to,
                            (float *)out->data + start * d));
    }
    return 0;
}

// The model's denoiser, which works on blocks of at most CPU_ROW_BLOCK rows; an empirical
// model's data set in its own dtype shares the host memory with the float copy.
static void cpu_memory(ds_backend *b, const ds_model *m, int64_t rows, ds_backend_memory *out) {
    (void)b;
    int64_t block = rows < CPU_ROW_BLOCK ? rows : CPU_ROW_BLOCK;
    if (m->kind == DS_MODEL_EMPIRICAL || m->kind == DS_MODEL_NEAREST ||
        m->kind == DS_MODEL_SMOOTHED) {
        // smoothed: every row is smoothing_samples queries, with their float copies
        int64_t copies = m->kind == DS_MODEL_SMOOTHED ? m->smoothing_samples : 1;
        cpu_empirical_memory(m, block * copies, &out->model_bytes, &out->batch_bytes);
        if (copies > 1) out->batch_bytes += 2 * sizeof(float) * (uint64_t)(block * copies * m->d);
    } else if (m->kind == DS_MODEL_VARIANCE) {
        cpu_variance_memory(m, block, &out->model_bytes, &out->batch_bytes);
    } else if (m->kind == DS_MODEL_LINEAR_FEATURES) {
        out->model_bytes = out->batch_bytes = 0; // W is used where it lies; features on the stack
    } else if (ds_model_holds_rows(m->kind)) {
        // the local models (cpu_local.c)
        cpu_local_memory(m, block, &out->model_bytes, &out->batch_bytes);
    } else
        cpu_gmm_memory(m, block, &out->model_bytes, &out->batch_bytes);
    if (ds_model_holds_rows(m->kind)) out->model_bytes += ds_backend_source_bytes(&m->data);
    out->available = ds_host_memory_available();
    out->available_what = "the available host memory";
}

static void cpu_destroy(ds_backend *b) {
    free(b);
}

ds_backend *ds_backend_cpu_new(void) {
    ds_backend *b = ds_try_alloc(1, sizeof *b, "backend cpu");
    if (!b) return NULL;
    b->name = "cpu";
    b->f64 = 0;
    b->bind = cpu_bind;
    b->unbind = cpu_unbind;
    b->batch_new = cpu_batch_new;
    b->batch_free = ds_host_batch_free;
    b->upload = cpu_upload;
    b->download = cpu_download;
    b->copy = cpu_copy;
    b->move_rows = ds_host_move_rows;
    b->lincomb = cpu_lincomb;
    b->randn = cpu_randn;
    b->denoise = cpu_denoise;
    b->gaussian_flow = cpu_gaussian_flow;
    b->prune = cpu_prune_on;
    b->prune_default = 1;
    b->memory = cpu_memory;
    b->destroy = cpu_destroy;
    return b;
}
