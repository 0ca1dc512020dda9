// The cpu denoiser of the local models: the float32 training rows, the rows of a batch
// in parallel, and the masked models (pca_locality, ls): one pass over the training rows
// per query, CHUNK rows at a time, with a streaming log-sum-exp per output pixel (running
// maximum, rescaled sums), so no N x d array of logits is formed. The squared
// differences and their masked sums are formed in double from the float32 values: the
// distances are sums of positive terms (no cancellation), and at small sigma the logits'
// differences matter. The mask (built in double by host/models/local_mask.c) is kept for
// the sigma of the previous call. The patch models els and pspc have their own rows
// (cpu_els.c, cpu_pspc.c).
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "cpu_blas.h"
#include "cpu_models.h"
#include "cpu_patch.h"
#include "ds_error.h"
#include "local_mask.h"
#include "threads.h"

#define CHUNK 64 // training rows whose logits are held at once: CHUNK x d doubles a thread

struct cpu_local {
    const ds_model *m;
    float *y;     // n x d training rows, each value rounded once to float32
    double sigma; // of the cached mask, 0: none yet
    ds_local_mask mask;
};

cpu_local *cpu_local_new(const ds_model *m) {
    cpu_local *l = ds_try_alloc(1, sizeof *l, "cpu local model");
    if (!l) return NULL;
    l->m = m;
    l->y = ds_try_alloc((size_t)(m->data.n * m->d), sizeof(float), "cpu local model: rows");
    if (!l->y) {
        free(l);
        return NULL;
    }
    ds_data_rows_f32(&m->data, 0, m->data.n, l->y);
    return l;
}

void cpu_local_free(cpu_local *l) {
    if (!l) return;
    ds_local_mask_free(&l->mask);
    free(l->y);
    free(l);
}

static int use_mask(cpu_local *l, double sigma) {
    if (l->sigma == sigma || !ds_model_is_local(l->m->kind)) return 0;
    ds_local_mask_free(&l->mask);
    l->sigma = 0;
    DS_TRY(ds_local_mask_build(l->m, sigma, &l->mask));
    l->sigma = sigma;
    return 0;
}

typedef struct {
    double *sq;            // d: (x_n - y_n)^2 of one training row
    double *logits;        // CHUNK x d
    double *max, *z, *acc; // d each: the streaming softmax of every output pixel
} row_work;

// Folds training rows first .. first + count into the running softmax of each pixel.
static void fold_chunk(const cpu_local *l, const float *x, int64_t first, int64_t count,
                       double scale, row_work *w) {
    const ds_model *m = l->m;
    const ds_local_mask *mask = &l->mask;
    int64_t d = m->d;
    for (int64_t c = 0; c < count; c++) {
        const float *y = l->y + (first + c) * d;
        for (int64_t p = 0; p < d; p++) {
            double diff = (double)x[p] - (double)y[p];
            w->sq[p] = diff * diff;
        }
        double *lg = w->logits + c * d;
        for (int64_t j = 0; j < d; j++) {
            double dist = 0;
            for (int64_t e = mask->start[j]; e < mask->start[j + 1]; e++)
                dist += mask->weight[e] * w->sq[mask->row[e]];
            lg[j] = -dist * scale;
        }
    }
    for (int64_t j = 0; j < d; j++) {
        double top = w->max[j];
        for (int64_t c = 0; c < count; c++) top = fmax(top, w->logits[c * d + j]);
        if (top > w->max[j]) {
            double shrink = exp(w->max[j] - top);
            w->z[j] *= shrink, w->acc[j] *= shrink, w->max[j] = top;
        }
        for (int64_t c = 0; c < count; c++) {
            double p = exp(w->logits[c * d + j] - top);
            w->z[j] += p;
            w->acc[j] += p * l->y[(first + c) * d + j];
        }
    }
}

static void denoise_row(const cpu_local *l, const float *x, double sigma, float *out, row_work *w) {
    int64_t n = l->m->data.n, d = l->m->d;
    double scale = 1.0 / (2.0 * sigma * sigma * l->m->temperature);
    for (int64_t j = 0; j < d; j++) w->max[j] = -DBL_MAX, w->z[j] = 0, w->acc[j] = 0;
    for (int64_t first = 0; first < n; first += CHUNK)
        fold_chunk(l, x, first, n - first < CHUNK ? n - first : CHUNK, scale, w);
    for (int64_t j = 0; j < d; j++) out[j] = (float)(w->acc[j] / w->z[j]);
}

int64_t cpu_local_work_len(const ds_model *m) {
    if (m->kind == DS_MODEL_ELS) return cpu_els_work_len(m);
    if (m->kind == DS_MODEL_PSPC) return cpu_pspc_work_len(m);
    return (CHUNK + 4) * m->d;
}

static void local_row(const cpu_local *l, const float *x, double sigma, float *out, double *work) {
    const ds_model *m = l->m;
    int64_t d = m->d;
    row_work w = {work, work + d, work + (CHUNK + 1) * d, work + (CHUNK + 2) * d,
                  work + (CHUNK + 3) * d};
    if (m->kind == DS_MODEL_ELS)
        cpu_els_row(m, l->y, x, sigma, out, work);
    else if (m->kind == DS_MODEL_PSPC)
        cpu_pspc_row(m, l->y, x, sigma, out, work);
    else
        denoise_row(l, x, sigma, out, &w);
}

// The operations of denoising `rows` rows: each output pixel's softmax over the training
// rows, with masked distances of about d terms.
static double local_work(const cpu_local *l, int64_t rows) {
    return (double)rows * (double)l->m->data.n * (double)l->m->d;
}

int cpu_local_denoise(cpu_local *l, const float *x, int64_t rows, const double *sigma,
                      int64_t n_sigma, float *out) {
    int64_t d = l->m->d, work_len = cpu_local_work_len(l->m);
    for (int64_t first = 0; first < rows;) {
        double s = sigma[n_sigma == 1 ? 0 : first];
        int64_t end = first + 1;
        while (end < rows && (n_sigma == 1 || sigma[end] == s)) end++;
        DS_TRY(use_mask(l, s));
        int failed = 0, saved = cpu_blas_serial_begin(); // cpu_els.c's DGEMMs, one per thread
#pragma omp parallel reduction(| : failed) num_threads(ds_threads_for(local_work(l, end - first)))
        {
            double *work = ds_try_alloc((size_t)work_len, sizeof(double), "cpu local workspace");
            failed = !work;
            if (work) {
#pragma omp for schedule(dynamic)
                for (int64_t i = first; i < end; i++) local_row(l, x + i * d, s, out + i * d, work);
            }
            free(work);
        }
        cpu_blas_serial_end(saved);
        if (failed) return -1;
        first = end;
    }
    return 0;
}
