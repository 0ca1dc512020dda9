// The cpu backend: float32 batches, OpenBLAS SGEMM and OpenMP threads. This file holds
// the function table and the batch primitives; the denoisers live in cpu_empirical.c
// and cpu_gmm.c.
#include <stdlib.h>
#include <string.h>

#include "backend_common.h"
#include "bytes.h"
#include "cpu_models.h"
#include "ds_error.h"
#include "ds_philox.h"

// Rows of a batch handed to a denoiser at once: bounds the workspaces (a few MB per
// 1,024 rows) while keeping the GEMMs large.
#define CPU_ROW_BLOCK 1024

struct ds_bound_model {
    const ds_model *m;
    cpu_empirical *empirical;
    cpu_gmm *gmm;
};

static ds_bound_model *cpu_bind(ds_backend *b, const ds_model *m) {
    (void)b;
    if (ds_backend_check_bind("cpu backend", m)) return NULL;
    ds_bound_model *bm = ds_try_alloc(1, sizeof *bm, "cpu backend");
    if (!bm) return NULL;
    bm->m = m;
    if (m->kind == DS_MODEL_EMPIRICAL)
        bm->empirical = cpu_empirical_new(m);
    else
        bm->gmm = cpu_gmm_new(m);
    if (bm->empirical || bm->gmm) return bm;
    free(bm);
    return NULL;
}

static void cpu_unbind(ds_backend *b, ds_bound_model *bm) {
    (void)b;
    if (!bm) return;
    cpu_empirical_free(bm->empirical);
    cpu_gmm_free(bm->gmm);
    free(bm);
}

static ds_batch *cpu_batch_new(ds_backend *b, int64_t rows, int64_t cols) {
    (void)b;
    return ds_host_batch_new(rows, cols, sizeof(float));
}

static void cpu_upload(ds_backend *b, ds_batch *dst, const double *src) {
    (void)b;
    float *o = dst->data;
    int64_t count = dst->rows * dst->cols;
#pragma omp parallel for schedule(static) if (count > 65536)
    for (int64_t e = 0; e < count; e++) o[e] = (float)src[e];
}

static void cpu_download(ds_backend *b, const ds_batch *src, double *dst) {
    (void)b;
    const float *s = src->data;
    int64_t count = src->rows * src->cols;
#pragma omp parallel for schedule(static) if (count > 65536)
    for (int64_t e = 0; e < count; e++) dst[e] = s[e];
}

static void cpu_copy(ds_backend *b, ds_batch *dst, const ds_batch *src) {
    (void)b;
    memcpy(dst->data, src->data, sizeof(float) * (size_t)(src->rows * src->cols));
}

// One pass over memory: the sum is formed in double in an L1-sized tile, so the loops
// vectorise and out may alias any input.
static void cpu_lincomb(ds_backend *b, ds_batch *out, int n, const double *coef,
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
}

static void cpu_randn(ds_backend *b, ds_batch *out, uint64_t seed, int64_t first_row) {
    (void)b;
    float *o = out->data;
    int64_t cols = out->cols;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < out->rows; i++)
        for (int64_t j = 0; j < cols; j++)
            o[i * cols + j] = (float)ds_philox_normal(seed, first_row + i, j);
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
        if (bm->empirical) {
            ds_diag shifted = {0};
            if (diag)
                shifted = (ds_diag){diag->top_index ? diag->top_index + start : NULL,
                                    diag->top_weight ? diag->top_weight + start : NULL,
                                    diag->entropy ? diag->entropy + start : NULL};
            DS_TRY(cpu_empirical_denoise(bm->empirical, xb, rows, sb, n_sigma == 1 ? 1 : rows, ob,
                                         diag ? &shifted : NULL));
        } else {
            DS_TRY(cpu_gmm_denoise(bm->gmm, xb, rows, sb, n_sigma == 1 ? 1 : rows, ob));
        }
    }
    return 0;
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
    if (m->kind == DS_MODEL_EMPIRICAL) {
        cpu_empirical_memory(m, block, &out->model_bytes, &out->batch_bytes);
        out->model_bytes += ds_backend_source_bytes(&m->data);
    } else
        cpu_gmm_memory(m, block, &out->model_bytes, &out->batch_bytes);
    out->available = ds_host_memory_available();
    out->available_what = "the available host memory";
}

static void cpu_destroy(ds_backend *b) {
    free(b);
}

ds_backend *ds_backend_cpu_new(void) {
    ds_backend *b = ds_alloc(1, sizeof *b);
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
    b->memory = cpu_memory;
    b->destroy = cpu_destroy;
    return b;
}
