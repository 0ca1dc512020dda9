// The empirical (optimal) denoiser on the cpu backend: attention of the queries over
// the training rows, D(x) = mean + sum_i softmax_i(l) y_i with
// l_i = (x.y_i - |y_i|^2/2) / sigma^2 on centred x and y.
//
// The training set is streamed in chunks of C rows with an online log-sum-exp, so
// memory is O(B x C), not O(B x N). Per chunk: T = X Y_c^T by SGEMM; per query the
// chunk maximum, weights w = exp(l - max) in float, their sum; then W Y_c by SGEMM; the
// chunk is folded into the running state (maximum, sum, double accumulator), each side
// rescaled in double. The threads split the training rows and their states are folded
// the same way at the end.
//
// Numerics (DESIGN.md): float32 enters through the stored rows and queries (relative
// u = 6e-8), the weights (~2u) and the SGEMM products x.y, whose absolute error (up to
// ~1e-4 on Fashion-MNIST) is divided by sigma^2 in a logit: ~25 at sigma = 0.002. So
// |y|^2/2 is kept in double (from the rounded rows, so that a logit is exactly
// -|x - y~|^2/2 + const up to the product error), maxima and sums are in double, and
// the rows whose logits may lie within DS_REFINE_WINDOW of a query's maximum have their
// product recomputed in double (cpu_softmax.c): at small sigma these are a handful, and the
// choice of the nearest row and the weights that matter carry no SGEMM error.
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_blas.h"
#include "cpu_models.h"
#include "cpu_prune.h"
#include "cpu_softmax.h"
#include "dist.h"
#include "ds_error.h"
#include "empirical_refine.h"
#include "threads.h"

// Training rows per chunk: the B x C float logits stay around 4 MB.
#define CHUNK_FLOATS (1 << 20)
#define CHUNK_MIN 256
#define CHUNK_MAX 4096

struct cpu_empirical {
    int64_t n, d;
    int64_t first;          // the first training row held (this rank's under --shard-data)
    int sharded;            // the states are merged over the ranks (host/dist)
    int64_t chunk_override; // $DIFFSAMP_CPU_CHUNK (tests and benchmarks), or 0
    const double *mean;
    const ds_data *data; // the training rows in their own dtype
    float *y;            // n x d centred rows; NULL: converted chunk by chunk (m->stream_rows)
    double *half_sq;     // |y_i|^2 / 2 of the stored float rows
    double y_norm;       // max_i |y_i|
    cpu_prune *prune;    // certified pruning (cpu_prune.c), or NULL: every row evaluated
};

static int64_t chunk_override(void) {
    const char *env = getenv("DIFFSAMP_CPU_CHUNK");
    return env ? atoll(env) : 0;
}

// Training rows per chunk for a call on `rows` query rows.
static int64_t chunk_for(int64_t n, int64_t override, int64_t rows) {
    int64_t c = override > 0 ? override : CHUNK_FLOATS / rows;
    if (override <= 0) c = c < CHUNK_MIN ? CHUNK_MIN : c > CHUNK_MAX ? CHUNK_MAX : c;
    return c < n ? c : n;
}

// Rows [first, first + count) of the rank's rows, centred, in float32.
static void centre_rows(const cpu_empirical *e, int64_t first, int64_t count, float *out) {
    int64_t d = e->d;
    for (int64_t i = 0; i < count; i++)
        for (int64_t j = 0; j < d; j++)
            out[i * d + j] = (float)(ds_data_value(e->data, e->first + first + i, j) - e->mean[j]);
}

cpu_empirical *cpu_empirical_new(const ds_model *m) {
    int64_t first, n, d = m->d;
    ds_dist_data_rows(m->data.n, &first, &n);
    if (n < 1) {
        ds_fail("cpu backend: --shard-data over %d ranks needs at least one training row per "
                "rank (the model has %lld)",
                ds_dist_size(), (long long)m->data.n);
        return NULL;
    }
    cpu_empirical *e = ds_try_alloc(1, sizeof *e, "cpu backend");
    if (!e) return NULL;
    e->n = n;
    e->first = first;
    e->sharded = ds_dist_data_sharding();
    e->d = d;
    e->mean = m->mean;
    e->data = &m->data;
    e->chunk_override = chunk_override();
    // Threads by the work (a small model is not worth waking them, host/core).
    int threads = ds_threads_for((double)n * (double)d);
    float *rows = NULL; // streaming: one row per thread for the norms
    if (m->stream_rows)
        rows = ds_try_alloc((size_t)(threads * d), sizeof(float), "cpu backend: rows");
    else
        e->y = ds_try_alloc((size_t)(n * d), sizeof(float), "cpu backend: centred training rows");
    e->half_sq = e->y || rows ? ds_try_alloc((size_t)n, sizeof(double), "cpu backend") : NULL;
    if (!e->half_sq) {
        free(rows);
        cpu_empirical_free(e);
        return NULL;
    }
#pragma omp parallel num_threads(threads)
    {
        float *row = rows ? rows + omp_get_thread_num() * d : NULL;
#pragma omp for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            float *y = e->y ? e->y + i * d : row;
            centre_rows(e, i, 1, y);
            double s = 0;
            for (int64_t j = 0; j < d; j++) s += (double)y[j] * y[j];
            e->half_sq[i] = 0.5 * s;
        }
    }
    free(rows);
    for (int64_t i = 0; i < n; i++) e->y_norm = fmax(e->y_norm, sqrt(2 * e->half_sq[i]));
    return e;
}

int cpu_empirical_prune(cpu_empirical *e, double eps, ds_prune_stats *stats) {
    // A rank holds part of the rows and its dense states are merged over the ranks; the
    // pruned path's certificate and output are those of one query over all the rows.
    if (e->sharded)
        return ds_fail("cpu backend: certified pruning is not available with --shard-data "
                       "(each rank holds part of the training rows)");
    // Its bounds and surviving rows read the float copy, which streamed rows lack.
    if (!e->y)
        return ds_fail("cpu backend: certified pruning needs the float32 copy of the rows "
                       "(not kept when they are streamed to fit --max-memory)");
    cpu_rows rows = {e->n, e->d, e->y, e->half_sq, e->mean, e->y_norm};
    cpu_prune *p = cpu_prune_new(&rows, eps, stats);
    if (!p) return -1;
    cpu_prune_free(e->prune);
    e->prune = p;
    return 0;
}

int cpu_empirical_prune_kept(const cpu_empirical *e, const float *x, double sigma, uint8_t *keep) {
    if (!e->prune) return ds_fail("cpu pruning: not turned on for this model");
    return cpu_prune_kept(e->prune, x, sigma, keep);
}

void cpu_empirical_free(cpu_empirical *e) {
    if (!e) return;
    cpu_prune_free(e->prune);
    free(e->y);
    free(e->half_sq);
    free(e);
}

static int64_t chunk_rows(const cpu_empirical *e, int64_t rows) {
    return chunk_for(e->n, e->chunk_override, rows);
}

// One thread's share of the training rows: a partial state and weighted sum per query.
typedef struct {
    float *logits;      // B x C products, then weights
    float *chunk;       // B x d weighted sum of one chunk
    double *acc;        // B x d weighted sum of the thread's rows
    cpu_row_state *st;  // B: state of the thread's rows so far
    cpu_row_state *cst; // B: state of the current chunk
    cpu_refine_buf rb;  // C candidates
    float *rows;        // C x d centred rows of the chunk when streaming, else NULL
} partial;

static void partial_free(partial *p) {
    free(p->logits);
    free(p->chunk);
    free(p->acc);
    free(p->st);
    free(p->cst);
    free(p->rb.idx);
    free(p->rb.dot);
    free(p->rb.t);
    free(p->rows);
}

// What partial_new and cpu_empirical_denoise allocate for `rows` query rows.
void cpu_empirical_memory(const ds_model *m, int64_t rows, uint64_t *model, uint64_t *work) {
    int64_t first, held;
    ds_dist_data_rows(m->data.n, &first, &held);
    uint64_t n = (uint64_t)held, d = (uint64_t)m->d;
    int64_t c = chunk_for(held, chunk_override(), rows), n_chunks = (held + c - 1) / c;
    int64_t threads = omp_get_max_threads() < n_chunks ? omp_get_max_threads() : n_chunks;
    uint64_t b = (uint64_t)rows, uc = (uint64_t)c;
    uint64_t part = sizeof(partial) + b * uc * sizeof(float) +
                    b * d * (sizeof(float) + sizeof(double)) + 2 * b * sizeof(cpu_row_state) +
                    uc * (sizeof(int64_t) + sizeof(float) + sizeof(double));
    if (m->stream_rows) part += uc * d * sizeof(float); // the chunk's converted rows
    *model = (m->stream_rows ? 0 : n * d * sizeof(float)) + n * sizeof(double);
    *work = b * d * sizeof(float) + b * (d + 1) * sizeof(double) + (uint64_t)threads * part;
    if (ds_dist_data_sharding()) *work += b * (DS_LSE_HEAD + d) * sizeof(double); // merge()
    if (m->kind != DS_MODEL_EMPIRICAL || ds_dist_data_sharding() || m->stream_rows) return;
    // Certified pruning (on by default when sampling, not with --shard-data): its index
    // and workspace, and the
    // compact copies of the queries left to the dense path (x, out, sigma, diag).
    uint64_t prune_model, prune_work;
    cpu_prune_memory(m, rows, &prune_model, &prune_work);
    *model += prune_model;
    *work += prune_work + b * (2 * d * sizeof(float) + 5 * sizeof(double));
}

static int partial_new(partial *p, int64_t rows, int64_t d, int64_t c, int stream) {
    const char *what = "cpu empirical denoiser workspace";
    *p = (partial){ds_try_alloc((size_t)(rows * c), sizeof(float), what),
                   ds_try_alloc((size_t)(rows * d), sizeof(float), what),
                   ds_try_alloc((size_t)(rows * d), sizeof(double), what),
                   ds_try_alloc((size_t)rows, sizeof(cpu_row_state), what),
                   ds_try_alloc((size_t)rows, sizeof(cpu_row_state), what),
                   {ds_try_alloc((size_t)c, sizeof(int64_t), what),
                    ds_try_alloc((size_t)c, sizeof(float), what),
                    ds_try_alloc((size_t)c, sizeof(double), what)},
                   stream ? ds_try_alloc((size_t)(c * d), sizeof(float), what) : NULL};
    if (!(p->logits && p->chunk && p->acc && p->st && p->cst && p->rb.idx && p->rb.dot && p->rb.t &&
          (p->rows || !stream)))
        return -1;
    for (int64_t i = 0; i < rows; i++) p->st[i] = (cpu_row_state){-INFINITY, 0, 0, 0};
    return 0;
}

typedef struct {
    const cpu_empirical *e;
    const float *xc;    // B x d centred queries
    const double *xc64; // the same in double
    const double *eps;  // B: SGEMM error bound of each query's products
    int64_t rows, c;
    const double *sigma;
    int64_t n_sigma;
    int want_entropy;
} job;

static double row_inv_s2(const job *jb, int64_t i) {
    double s = jb->sigma[jb->n_sigma == 1 ? 0 : i];
    return 1.0 / (s * s);
}

static cpu_query row_query(const job *jb, int64_t i) {
    return (cpu_query){jb->xc64 + i * jb->e->d, row_inv_s2(jb, i), jb->eps[i]};
}

// Streams training rows [first, last) in chunks into the partial p (one thread, with
// single-threaded SGEMMs).
static void run_rows(const job *jb, int64_t first, int64_t last, partial *p) {
    const cpu_empirical *e = jb->e;
    int64_t d = e->d, rows = jb->rows;
    for (int64_t start = first; start < last; start += jb->c) {
        int64_t len = last - start < jb->c ? last - start : jb->c;
        const float *yc = e->y ? e->y + start * d : p->rows;
        if (!e->y) centre_rows(e, start, len, p->rows);
        cpu_chunk ch = {yc, d, d, e->half_sq + start, start};
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)len, (int)d, 1.0f,
                    jb->xc, (int)d, yc, (int)d, 0.0f, p->logits, (int)len);
        for (int64_t i = 0; i < rows; i++) {
            cpu_query q = row_query(jb, i);
            p->cst[i] =
                cpu_softmax_chunk(p->logits + i * len, len, &ch, &q, jb->want_entropy, &p->rb);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)d, (int)len, 1.0f,
                    p->logits, (int)len, yc, (int)d, 0.0f, p->chunk, (int)d);
        for (int64_t i = 0; i < rows; i++) {
            double sa, sb, *acc = p->acc + i * d;
            const float *add = p->chunk + i * d;
            cpu_softmax_fold(&p->st[i], &p->cst[i], row_inv_s2(jb, i), &sa, &sb);
            for (int64_t j = 0; j < d; j++) acc[j] = acc[j] * sa + add[j] * sb;
        }
    }
}

// Folds partial b (later training rows) into a.
static void fold_partial(const job *jb, partial *a, const partial *b) {
    int64_t d = jb->e->d;
    for (int64_t i = 0; i < jb->rows; i++) {
        double sa, sb, *acc = a->acc + i * d;
        const double *add = b->acc + i * d;
        cpu_softmax_fold(&a->st[i], &b->st[i], row_inv_s2(jb, i), &sa, &sb);
        for (int64_t j = 0; j < d; j++) acc[j] = acc[j] * sa + add[j] * sb;
    }
}

// Under --shard-data: the states of this rank's rows (partial p) merged with the other
// ranks' (dist.h's layout: logits in units of 1/sigma^2, the row numbers global).
static int merge(const job *jb, partial *p) {
    int64_t d = jb->e->d, width = DS_LSE_HEAD + d;
    double *s = ds_try_alloc((size_t)(jb->rows * width), sizeof(double), "cpu empirical merge");
    if (!s) return -1;
    for (int64_t i = 0; i < jb->rows; i++) {
        double *si = s + i * width;
        const cpu_row_state *st = &p->st[i];
        si[DS_LSE_LMAX] = st->tmax * row_inv_s2(jb, i), si[DS_LSE_Z] = st->z;
        si[DS_LSE_ZL] = st->zl, si[DS_LSE_TOP] = (double)(jb->e->first + st->top);
        memcpy(si + DS_LSE_HEAD, p->acc + i * d, (size_t)d * sizeof(double));
    }
    int rc = ds_dist_lse_merge(s, jb->rows, d);
    for (int64_t i = 0; !rc && i < jb->rows; i++) {
        const double *si = s + i * width;
        cpu_row_state *st = &p->st[i];
        st->z = si[DS_LSE_Z], st->zl = si[DS_LSE_ZL], st->top = (int64_t)si[DS_LSE_TOP];
        st->tmax = si[DS_LSE_LMAX] / row_inv_s2(jb, i);
        memcpy(p->acc + i * d, si + DS_LSE_HEAD, (size_t)d * sizeof(double));
    }
    free(s);
    return rc;
}

static void write_result(const job *jb, const partial *p, float *out, const ds_diag *diag) {
    int64_t d = jb->e->d;
    const double *mean = jb->e->mean;
    for (int64_t i = 0; i < jb->rows; i++) {
        const cpu_row_state *st = &p->st[i];
        for (int64_t j = 0; j < d; j++)
            out[i * d + j] = (float)(mean[j] + p->acc[i * d + j] / st->z);
        if (!diag) continue;
        if (diag->top_index) diag->top_index[i] = st->top;
        if (diag->top_weight) diag->top_weight[i] = 1.0 / st->z;
        if (diag->entropy) diag->entropy[i] = log(st->z) - st->zl / st->z;
    }
}

// Centres the queries (in double, then rounded) and bounds the error of their products.
static void centre_queries(const cpu_empirical *e, const float *x, int64_t rows, float *xc,
                           double *xc64, double *eps) {
    int64_t d = e->d;
    for (int64_t i = 0; i < rows; i++) {
        double sq = 0;
        for (int64_t j = 0; j < d; j++) {
            double v = (double)x[i * d + j] - e->mean[j];
            xc64[i * d + j] = v;
            xc[i * d + j] = (float)v;
            sq += v * v;
        }
        eps[i] = DS_DOT_ERROR_FACTOR * sqrt(sq) * e->y_norm;
    }
}

// The training rows are split between the threads (split-K, as in flash decoding), each
// streaming its share with single-threaded SGEMMs, and the partial states are folded at
// the end. One parallel region per call: alternating OpenMP loops with multithreaded
// OpenBLAS calls cost 38% here, as each side's idle threads spin while the other runs.
static int dense_denoise(const cpu_empirical *e, const float *x, int64_t rows, const double *sigma,
                         int64_t n_sigma, float *out, const ds_diag *diag) {
    int64_t d = e->d, n = e->n, c = chunk_rows(e, rows), n_chunks = (n + c - 1) / c;
    int threads = ds_threads_for(2.0 * (double)rows * (double)n * (double)d);
    if (threads > n_chunks) threads = (int)n_chunks;
    const char *what = "cpu empirical denoiser";
    float *xc = ds_try_alloc((size_t)(rows * d), sizeof(float), what);
    double *xc64 = ds_try_alloc((size_t)(rows * (d + 1)), sizeof(double), what);
    partial *parts = ds_try_alloc((size_t)threads, sizeof(partial), what);
    int rc = xc && xc64 && parts ? 0 : -1;
    for (int t = 0; t < threads && !rc; t++) rc = partial_new(&parts[t], rows, d, c, !e->y);
    if (!rc) {
        double *eps = xc64 + rows * d;
        job jb = {e, xc, xc64, eps, rows, c, sigma, n_sigma, diag && diag->entropy};
        centre_queries(e, x, rows, xc, xc64, eps);
        int saved = cpu_blas_serial_begin();
#pragma omp parallel num_threads(threads)
        {
            int64_t t = omp_get_thread_num();
            int64_t first = t * n_chunks / threads * c, last = (t + 1) * n_chunks / threads * c;
            run_rows(&jb, first, last < n ? last : n, &parts[t]);
        }
        cpu_blas_serial_end(saved);
        for (int t = 1; t < threads; t++) fold_partial(&jb, &parts[0], &parts[t]);
        if (e->sharded) rc = merge(&jb, &parts[0]);
        if (!rc) write_result(&jb, &parts[0], out, diag);
    }
    for (int t = 0; parts && t < threads; t++) partial_free(&parts[t]);
    free(parts);
    free(xc);
    free(xc64);
    return rc;
}

// The queries the pruned path left (done[i] == 0), gathered into compact arrays, through
// the dense path, and scattered back.
static int dense_rest(const cpu_empirical *e, const float *x, int64_t rows, const double *sigma,
                      int64_t n_sigma, float *out, const ds_diag *diag, const uint8_t *done) {
    int64_t d = e->d, rest = 0;
    for (int64_t i = 0; i < rows; i++) rest += !done[i];
    if (rest == 0) return 0;
    if (rest == rows) return dense_denoise(e, x, rows, sigma, n_sigma, out, diag);
    const char *what = "cpu empirical denoiser";
    float *xs = ds_try_alloc((size_t)(2 * rest * d), sizeof(float), what);
    double *ss = xs ? ds_try_alloc((size_t)(3 * rest), sizeof(double), what) : NULL;
    int64_t *idx = ss ? ds_try_alloc((size_t)(2 * rest), sizeof(int64_t), what) : NULL;
    if (!idx) {
        free(xs), free(ss);
        return -1;
    }
    float *os = xs + rest * d;
    double *weight = ss + rest, *entropy = weight + rest;
    int64_t *top = idx + rest, r = 0;
    for (int64_t i = 0; i < rows; i++) {
        if (done[i]) continue;
        memcpy(xs + r * d, x + i * d, sizeof(float) * (size_t)d);
        ss[r] = sigma[n_sigma == 1 ? 0 : i];
        idx[r++] = i;
    }
    ds_diag sub = {top, weight, entropy};
    int rc = dense_denoise(e, xs, rest, ss, n_sigma == 1 ? 1 : rest, os, diag ? &sub : NULL);
    for (int64_t k = 0; k < rest && !rc; k++) {
        int64_t i = idx[k];
        memcpy(out + i * d, os + k * d, sizeof(float) * (size_t)d);
        if (!diag) continue;
        if (diag->top_index) diag->top_index[i] = top[k];
        if (diag->top_weight) diag->top_weight[i] = weight[k];
        if (diag->entropy) diag->entropy[i] = entropy[k];
    }
    free(xs), free(ss), free(idx);
    return rc;
}

int cpu_empirical_denoise(const cpu_empirical *e, const float *x, int64_t rows, const double *sigma,
                          int64_t n_sigma, float *out, const ds_diag *diag) {
    if (!e->prune) return dense_denoise(e, x, rows, sigma, n_sigma, out, diag);
    uint8_t *done = ds_try_alloc((size_t)rows, 1, "cpu empirical denoiser");
    if (!done) return -1;
    int rc = cpu_prune_denoise(e->prune, x, rows, sigma, n_sigma, out, diag, done);
    if (!rc) rc = dense_rest(e, x, rows, sigma, n_sigma, out, diag, done);
    free(done);
    return rc;
}
