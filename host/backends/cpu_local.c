// The cpu denoiser of the local models. The masked ones (pca_locality, ls): output pixel j of query
// x is a softmax over the training rows y_k of -sum_{n in S_j} w_nj (x_n - y_kn)^2 / (2 sigma^2 T)
// (S_j, w: column j of the mask, local_mask.h). Expanded,
//   -(1/2) sum_n w_nj (x_n - y_kn)^2 = sum_n (w_nj x_n) y_kn - (1/2) sum_n w_nj y_kn^2 + c(x),
// and c(x) does not change the softmax over k. So with the logit l = t / (sigma^2 T), t is
// the empirical denoiser's form (cpu_softmax.h) on the packed support of pixel j: the
// product of the masked query q_j = w_.j * x with the row's values on S_j, less half the
// masked squared norm of the row there. Per chunk of C training rows and per pixel, the
// rows' values on S_j (and the pixel's own value) are packed into a C x (|S_j| + 1) block
// with their masked half norms in double, and one SGEMM gives the B x C products of all
// queries; the streaming softmax (maximum, refined products near it, float weights,
// double sums) and the weighted sum of the pixel's values follow. The work is
// 2 B N sum_j |S_j| flops (the mask's support, not d^2) and B N d weights; nothing of
// size B x N or N x d is formed besides the rows.
//
// The threads split the training rows (as cpu_empirical.c), each keeping the state of
// every (pixel, query) over its rows; the states are folded at the end. The rows are kept
// as the data's float32 values and the queries are the float32 batch, so the products
// near each maximum, recomputed in double (those whose logits may lie within
// DS_REFINE_WINDOW of it given the SGEMM error bound DS_DOT_ERROR_FACTOR |q_j| max_k
// |y_k on S_j|), are exact for float32 data: the weights that matter carry no SGEMM
// error, the others (< e^-12 of the maximum each) the bound's. The patch models els and
// pspc share the rows and have their own rows of work (cpu_els.c, cpu_pspc.c).
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_blas.h"
#include "cpu_models.h"
#include "cpu_patch.h"
#include "cpu_softmax.h"
#include "ds_error.h"
#include "empirical_refine.h"
#include "local_mask.h"
#include "threads.h"
#include "threads.h"

#define QUERY_BLOCK 256 // queries per pass: a thread's states are d x this
#define CHUNK_FLOATS                                                                               \
    (1 << 18) // B x C products of a (chunk, pixel), C x d rows of a chunk:
              // about 1 MB each, so that a chunk stays in the core's cache
              // while its pixels gather from it
#define CHUNK_MIN 64
#define CHUNK_MAX 2048

struct cpu_local {
    const ds_model *m;
    int64_t n, d;
    float *y;     // n x d training rows in float32
    double sigma; // of the cached mask, 0: none yet
    ds_local_mask mask;
    int64_t support; // the cached mask's largest column support
};

cpu_local *cpu_local_new(const ds_model *m) {
    cpu_local *l = ds_try_alloc(1, sizeof *l, "cpu local model");
    if (!l) return NULL;
    l->m = m, l->n = m->data.n, l->d = m->d;
    l->y = ds_try_alloc((size_t)(l->n * l->d), sizeof(float), "cpu local model: rows");
    if (!l->y) {
        free(l);
        return NULL;
    }
    ds_data_rows_f32(&m->data, 0, l->n, l->y);
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
    l->support = 0;
    for (int64_t j = 0; j < l->d; j++) {
        int64_t s = l->mask.start[j + 1] - l->mask.start[j];
        if (s > l->support) l->support = s;
    }
    return 0;
}

static int64_t chunk_for(int64_t n, int64_t d, int64_t rows) {
    int64_t c = CHUNK_FLOATS / (rows > d ? rows : d);
    c = c < CHUNK_MIN ? CHUNK_MIN : c > CHUNK_MAX ? CHUNK_MAX : c;
    return c < n ? c : n;
}

// One thread's work for b queries, chunks of c rows and columns of up to s entries.
typedef struct {
    cpu_row_state *st; // d x b: the softmax of each (pixel, query) over the thread's rows
    double *acc;       // d x b: its weighted sum of the pixel's values
    float *dot;        // b x c products, then weights
    float *pack;       // c x (s + 1): a chunk's values on a pixel's support, then the pixel's
    double *hs;        // c: half the masked squared norms of the packed rows
    float *q;          // b x s: the masked queries w_n x_n
    double *q64;       // the same in double
    double *eps;       // b: SGEMM error bounds
    cpu_refine_buf rb; // c candidates
} work;

static void work_free(work *w) {
    free(w->st);
    free(w->acc);
    free(w->dot);
    free(w->pack);
    free(w->hs);
    free(w->q);
    free(w->q64);
    free(w->eps);
    free(w->rb.idx);
    free(w->rb.dot);
    free(w->rb.t);
}

// Bytes of one work for b queries, chunks of c, columns of up to s entries, d pixels.
static uint64_t work_bytes(int64_t b, int64_t c, int64_t s, int64_t d) {
    uint64_t ub = (uint64_t)b, uc = (uint64_t)c, us = (uint64_t)s, ud = (uint64_t)d;
    return ud * ub * (sizeof(cpu_row_state) + sizeof(double)) + ub * uc * sizeof(float) +
           uc * (us + 1) * sizeof(float) + uc * sizeof(double) +
           ub * us * (sizeof(float) + sizeof(double)) + ub * sizeof(double) +
           uc * (sizeof(int64_t) + sizeof(float) + sizeof(double));
}

static int work_new(work *w, int64_t b, int64_t c, int64_t s, int64_t d) {
    const char *what = "cpu local denoiser workspace";
    size_t ub = (size_t)b, uc = (size_t)c, us = (size_t)(s ? s : 1), ud = (size_t)d;
    *w = (work){ds_try_alloc(ud * ub, sizeof(cpu_row_state), what),
                ds_try_alloc(ud * ub, sizeof(double), what),
                ds_try_alloc(ub * uc, sizeof(float), what),
                ds_try_alloc(uc * (us + 1), sizeof(float), what),
                ds_try_alloc(uc, sizeof(double), what),
                ds_try_alloc(ub * us, sizeof(float), what),
                ds_try_alloc(ub * us, sizeof(double), what),
                ds_try_alloc(ub, sizeof(double), what),
                {ds_try_alloc(uc, sizeof(int64_t), what), ds_try_alloc(uc, sizeof(float), what),
                 ds_try_alloc(uc, sizeof(double), what)}};
    if (!(w->st && w->acc && w->dot && w->pack && w->hs && w->q && w->q64 && w->eps && w->rb.idx &&
          w->rb.dot && w->rb.t))
        return -1;
    for (int64_t e = 0; e < d * b; e++) w->st[e] = (cpu_row_state){-INFINITY, 0, 0, 0};
    memset(w->acc, 0, sizeof(double) * ud * ub);
    return 0;
}

typedef struct {
    const cpu_local *l;
    const float *x;    // b x d queries
    const double *x64; // the same in double
    int64_t b, c;
    double inv_s2; // 1 / (sigma^2 T)
} job;

// Packs rows start .. start + len on the support of pixel j (entries e0 .. e0 + s of the
// mask), the pixel's own value last; returns max_k |y_k on the support|.
static inline double pack_rows(const job *jb, int64_t start, int64_t len, int64_t j, work *w) {
    const cpu_local *l = jb->l;
    int64_t d = l->d, e0 = l->mask.start[j], s = l->mask.start[j + 1] - e0, ld = s + 1;
    const int32_t *sup = l->mask.row + e0;
    const double *wt = l->mask.weight + e0;
    double most = 0;
    for (int64_t k = 0; k < len; k++) {
        const float *yr = l->y + (start + k) * d;
        float *pr = w->pack + k * ld;
        double h = 0, sq = 0;
        for (int64_t e = 0; e < s; e++) {
            double v = pr[e] = yr[sup[e]];
            h += wt[e] * v * v;
            sq += v * v;
        }
        pr[s] = yr[j];
        w->hs[k] = 0.5 * h;
        most = fmax(most, sq);
    }
    return sqrt(most);
}

// The masked queries of pixel j and their SGEMM error bounds given max |y| on S_j.
static inline void mask_queries(const job *jb, int64_t j, double y_norm, work *w) {
    const cpu_local *l = jb->l;
    int64_t d = l->d, e0 = l->mask.start[j], s = l->mask.start[j + 1] - e0;
    const int32_t *sup = l->mask.row + e0;
    const double *wt = l->mask.weight + e0;
    for (int64_t i = 0; i < jb->b; i++) {
        double qq = 0;
        for (int64_t e = 0; e < s; e++) {
            double v = wt[e] * jb->x64[i * d + sup[e]];
            w->q64[i * s + e] = v;
            w->q[i * s + e] = (float)v;
            qq += v * v;
        }
        w->eps[i] = DS_DOT_ERROR_FACTOR * sqrt(qq) * y_norm;
    }
}

// sum_k wt[k] v[k ld] in double.
static inline double weighted_sum(const float *wt, const float *v, int64_t ld, int64_t c) {
    double s[4] = {0};
    int64_t k = 0;
    for (; k + 4 <= c; k += 4)
        for (int a = 0; a < 4; a++) s[a] += (double)wt[k + a] * v[(k + a) * ld];
    for (; k < c; k++) s[0] += (double)wt[k] * v[k * ld];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

// Folds training rows start .. start + len into the states of pixel j.
CPU_VECTOR_CLONES static void fold_pixel(const job *jb, int64_t start, int64_t len, int64_t j,
                                         work *w) {
    const cpu_local *l = jb->l;
    int64_t s = l->mask.start[j + 1] - l->mask.start[j], ld = s + 1, b = jb->b;
    double y_norm = pack_rows(jb, start, len, j, w);
    mask_queries(jb, j, y_norm, w);
    if (s)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b, (int)len, (int)s, 1.0f, w->q,
                    (int)s, w->pack, (int)ld, 0.0f, w->dot, (int)len);
    else // an empty column: every logit 0, the mean of the pixel
        memset(w->dot, 0, sizeof(float) * (size_t)(b * len));
    cpu_chunk ch = {w->pack, ld, s, w->hs, start};
    for (int64_t i = 0; i < b; i++) {
        cpu_query q = {w->q64 + i * s, jb->inv_s2, w->eps[i]};
        float *wt = w->dot + i * len;
        cpu_row_state cs = cpu_softmax_chunk(wt, len, &ch, &q, 0, &w->rb);
        double sum = weighted_sum(wt, w->pack + s, ld, len), sa, sb;
        cpu_softmax_fold(&w->st[j * b + i], &cs, jb->inv_s2, &sa, &sb);
        w->acc[j * b + i] = w->acc[j * b + i] * sa + sum * sb;
    }
}

// One thread: training rows first .. last in chunks, every pixel of each chunk.
static void run_rows(const job *jb, int64_t first, int64_t last, work *w) {
    for (int64_t start = first; start < last; start += jb->c) {
        int64_t len = last - start < jb->c ? last - start : jb->c;
        for (int64_t j = 0; j < jb->l->d; j++) fold_pixel(jb, start, len, j, w);
    }
}

// b queries (float and double) at one sigma into out.
static int denoise_block(const cpu_local *l, const float *x, const double *x64, int64_t b,
                         double sigma, float *out) {
    int64_t n = l->n, d = l->d, c = chunk_for(n, d, b), n_chunks = (n + c - 1) / c;
    int threads = omp_get_max_threads();
    if (threads > n_chunks) threads = (int)n_chunks;
    work *parts = ds_try_alloc((size_t)threads, sizeof(work), "cpu local denoiser");
    int rc = parts ? 0 : -1;
    for (int t = 0; t < threads && !rc; t++) rc = work_new(&parts[t], b, c, l->support, d);
    if (!rc) {
        job jb = {l, x, x64, b, c, 1.0 / (sigma * sigma * l->m->temperature)};
        int saved = cpu_blas_serial_begin();
#pragma omp parallel num_threads(threads)
        {
            int64_t t = omp_get_thread_num();
            int64_t first = t * n_chunks / threads * c, last = (t + 1) * n_chunks / threads * c;
            run_rows(&jb, first, last < n ? last : n, &parts[t]);
        }
        cpu_blas_serial_end(saved);
        work *a = &parts[0];
        for (int t = 1; t < threads; t++)
            for (int64_t e = 0; e < d * b; e++) {
                double sa, sb;
                cpu_softmax_fold(&a->st[e], &parts[t].st[e], jb.inv_s2, &sa, &sb);
                a->acc[e] = a->acc[e] * sa + parts[t].acc[e] * sb;
            }
        for (int64_t i = 0; i < b; i++)
            for (int64_t j = 0; j < d; j++)
                out[i * d + j] = (float)(a->acc[j * b + i] / a->st[j * b + i].z);
    }
    for (int t = 0; parts && t < threads; t++) work_free(&parts[t]);
    free(parts);
    return rc;
}

// The patch models els and pspc, whose softmax is not one per pixel over the rows: their
// own rows (cpu_els.c, cpu_pspc.c), the queries in parallel, work_len doubles a thread.
static int64_t patch_work_len(const ds_model *m) {
    return m->kind == DS_MODEL_ELS ? cpu_els_work_len(m) : cpu_pspc_work_len(m);
}

static int patch_denoise(const cpu_local *l, const float *x, int64_t rows, double sigma,
                         float *out) {
    const ds_model *m = l->m;
    int64_t d = l->d, work_len = patch_work_len(m);
    double ops = (double)rows * (double)l->n * (double)d; // a softmax per pixel over the rows
    int failed = 0, saved = cpu_blas_serial_begin();      // cpu_els.c's DGEMMs, one per thread
#pragma omp parallel reduction(| : failed) num_threads(ds_threads_for(ops))
    {
        double *work = ds_try_alloc((size_t)work_len, sizeof(double), "cpu local workspace");
        failed = !work;
        if (work) {
#pragma omp for schedule(dynamic)
            for (int64_t i = 0; i < rows; i++) {
                if (m->kind == DS_MODEL_ELS)
                    cpu_els_row(m, l->y, x + i * d, sigma, out + i * d, work);
                else
                    cpu_pspc_row(m, l->y, x + i * d, sigma, out + i * d, work);
            }
        }
        free(work);
    }
    cpu_blas_serial_end(saved);
    return failed ? -1 : 0;
}

void cpu_local_memory(const ds_model *m, int64_t rows, uint64_t *model, uint64_t *work_out) {
    int64_t d = m->d, b = rows < QUERY_BLOCK ? rows : QUERY_BLOCK, c = chunk_for(m->data.n, d, b);
    int64_t n_chunks = (m->data.n + c - 1) / c, threads = omp_get_max_threads();
    *model = sizeof(float) * (uint64_t)(m->data.n * d);
    if (!ds_model_is_local(m->kind)) {
        *work_out = sizeof(double) * (uint64_t)threads * (uint64_t)patch_work_len(m);
        return;
    }
    if (threads > n_chunks) threads = n_chunks;
    // the mask's (row, weight) entries (at most d^2) and column starts
    *model += (uint64_t)(d * d) * (sizeof(int32_t) + sizeof(double)) +
              (uint64_t)(d + 1) * sizeof(int64_t);
    *work_out = (uint64_t)(b * d) * sizeof(double) +
                (uint64_t)threads * (sizeof(work) + work_bytes(b, c, d, d));
}

int cpu_local_denoise(cpu_local *l, const float *x, int64_t rows, const double *sigma,
                      int64_t n_sigma, float *out) {
    int64_t d = l->d, most = rows < QUERY_BLOCK ? rows : QUERY_BLOCK;
    double *x64 = ds_try_alloc((size_t)(most * d), sizeof(double), "cpu local denoiser");
    int rc = x64 ? 0 : -1;
    // Rows that share a sigma share one mask; QUERY_BLOCK of them at a time.
    for (int64_t first = 0; first < rows && !rc;) {
        double s = sigma[n_sigma == 1 ? 0 : first];
        int64_t end = first + 1;
        while (end < rows && end - first < QUERY_BLOCK && (n_sigma == 1 || sigma[end] == s)) end++;
        rc = use_mask(l, s);
        for (int64_t e = first * d; e < end * d; e++) x64[e - first * d] = x[e];
        if (!rc && !ds_model_is_local(l->m->kind))
            rc = patch_denoise(l, x + first * d, end - first, s, out + first * d);
        else if (!rc)
            rc = denoise_block(l, x + first * d, x64, end - first, s, out + first * d);
        first = end;
    }
    free(x64);
    return rc;
}
