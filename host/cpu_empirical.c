// The empirical (optimal) denoiser on the cpu backend: attention of the queries over
// the training rows, D(x) = mean + sum_i softmax_i(l) y_i with
// l_i = (x.y_i - |y_i|^2/2) / sigma^2 on centred x and y.
//
// The training set is streamed in chunks of C rows with an online log-sum-exp
// (running row maximum, running sum, rescaled accumulator), so memory is O(B x C),
// not O(B x N). Per chunk: T = X Y_c^T by SGEMM, weights w = exp(l - running max) in
// float, then W Y_c by SGEMM, merged into a double accumulator.
//
// Numerics (DESIGN.md): float32 enters only through the stored rows (relative 6e-8
// each), the x.y products of the SGEMM (absolute error ~1e-5..1e-4 for |y|^2 ~ 1e3)
// and the weights (relative ~1e-7). |y|^2/2 is kept in double, taken from the rounded
// rows so that a logit is exactly -|x - y~|^2/2 up to the product error; the
// subtraction x.y - |y|^2/2, the maxima and the sums are in double. At sigma = 0.002 a
// product error of 1e-4 moves a logit by ~25, which reorders only training rows whose
// squared distances to x differ by less than ~2e-4.
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_models.h"
#include "ds_error.h"

// Training rows per chunk: the B x C float logits stay around 4 MB.
#define CHUNK_FLOATS (1 << 20)
#define CHUNK_MIN 256
#define CHUNK_MAX 4096

struct cpu_empirical {
    int64_t n, d;
    int64_t chunk_override; // $DIFFSAMP_CPU_CHUNK (tests and benchmarks), or 0
    const double *mean;
    float *y;        // n x d centred rows
    double *half_sq; // |y_i|^2 / 2 of the stored float rows
};

cpu_empirical *cpu_empirical_new(const ds_model *m) {
    int64_t n = m->data.n, d = m->d;
    cpu_empirical *e = ds_try_alloc(1, sizeof *e, "cpu backend");
    if (!e) return NULL;
    e->n = n;
    e->d = d;
    e->mean = m->mean;
    const char *env = getenv("DIFFSAMP_CPU_CHUNK");
    e->chunk_override = env ? atoll(env) : 0;
    e->y = ds_try_alloc((size_t)(n * d), sizeof(float), "cpu backend: centred training rows");
    e->half_sq = e->y ? ds_try_alloc((size_t)n, sizeof(double), "cpu backend") : NULL;
    if (!e->half_sq) {
        cpu_empirical_free(e);
        return NULL;
    }
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t j = 0; j < d; j++) {
            float v = (float)((double)m->data.x[i * d + j] - m->mean[j]);
            e->y[i * d + j] = v;
            s += (double)v * v;
        }
        e->half_sq[i] = 0.5 * s;
    }
    return e;
}

void cpu_empirical_free(cpu_empirical *e) {
    if (!e) return;
    free(e->y);
    free(e->half_sq);
    free(e);
}

static int64_t chunk_rows(const cpu_empirical *e, int64_t rows) {
    int64_t c = e->chunk_override > 0 ? e->chunk_override : CHUNK_FLOATS / rows;
    if (e->chunk_override <= 0) c = c < CHUNK_MIN ? CHUNK_MIN : c > CHUNK_MAX ? CHUNK_MAX : c;
    return c < e->n ? c : e->n;
}

// exp(x) for x <= 0 in float (0 below -87), written as 2^n p(r) with Cephes' expf
// polynomial so that the weight loop vectorises (glibc's expf does not without
// -ffast-math); relative error about 2e-7.
static inline float exp_nonpos(float x) {
    float xc = x < -87.0f ? -87.0f : x;
    float t = xc * 1.44269504088896341f + 12582912.0f; // round to nearest via 1.5 * 2^23
    float n = t - 12582912.0f;
    float r = xc - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x < -87.0f ? 0.0f : p * scale;
}

// The online log-sum-exp state of one query row, in units of t = x.y - |y|^2/2
// (the logit is t / sigma^2).
typedef struct {
    double tmax;  // running maximum of t
    double z;     // sum of exp(l - lmax)
    double zl;    // sum of exp(l - lmax) (l - lmax), for the entropy
    int64_t top;  // index of the maximum
    double scale; // factor applied to the accumulator by the last merge
} row_state;

// Merges one chunk of products dot[0..c) (training rows first..first+c) into the row
// state and overwrites dot with the float weights exp(l - lmax).
static void merge_chunk(const cpu_empirical *e, float *dot, int64_t c, int64_t first, double inv_s2,
                        int want_entropy, row_state *st) {
    const double *hs = e->half_sq + first;
    double cmax = -INFINITY;
    for (int64_t j = 0; j < c; j++) {
        double t = (double)dot[j] - hs[j];
        cmax = t > cmax ? t : cmax;
    }
    double old = st->tmax, tmax = cmax > old ? cmax : old;
    if (cmax > old)
        for (int64_t j = 0; j < c; j++)
            if ((double)dot[j] - hs[j] == cmax) {
                st->top = first + j;
                break;
            }
    double sum = 0, suml = 0;
    for (int64_t j = 0; j < c; j++) {
        double l = ((double)dot[j] - hs[j] - tmax) * inv_s2;
        float w = exp_nonpos((float)l);
        dot[j] = w;
        sum += w;
        if (want_entropy) suml += w * l;
    }
    double scale = st->z > 0 ? exp((old - tmax) * inv_s2) : 0.0;
    if (st->z > 0) st->zl = scale * (st->zl + (old - tmax) * inv_s2 * st->z);
    st->z = st->z * scale + sum;
    st->zl += suml;
    st->tmax = tmax;
    st->scale = scale;
}

typedef struct {
    float *xc;     // B x d centred queries
    float *logits; // B x C products, then weights
    float *chunk;  // B x d weighted sum of one chunk
    double *acc;   // B x d running weighted sum
    row_state *st; // B
} workspace;

static void workspace_free(workspace *w) {
    free(w->xc);
    free(w->logits);
    free(w->chunk);
    free(w->acc);
    free(w->st);
}

static int workspace_new(workspace *w, int64_t rows, int64_t d, int64_t c) {
    const char *what = "cpu empirical denoiser workspace";
    *w = (workspace){ds_try_alloc((size_t)(rows * d), sizeof(float), what),
                     ds_try_alloc((size_t)(rows * c), sizeof(float), what),
                     ds_try_alloc((size_t)(rows * d), sizeof(float), what),
                     ds_try_alloc((size_t)(rows * d), sizeof(double), what),
                     ds_try_alloc((size_t)rows, sizeof(row_state), what)};
    if (w->xc && w->logits && w->chunk && w->acc && w->st) return 0;
    workspace_free(w);
    return -1;
}

int cpu_empirical_denoise(const cpu_empirical *e, const float *x, int64_t rows, const double *sigma,
                          int64_t n_sigma, float *out, const ds_diag *diag) {
    int64_t d = e->d, n = e->n, c = chunk_rows(e, rows);
    int want_entropy = diag && diag->entropy;
    workspace w;
    DS_TRY(workspace_new(&w, rows, d, c));
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < rows; i++) {
        for (int64_t j = 0; j < d; j++)
            w.xc[i * d + j] = (float)((double)x[i * d + j] - e->mean[j]);
        w.st[i] = (row_state){-INFINITY, 0, 0, 0, 0};
    }
    for (int64_t first = 0; first < n; first += c) {
        int64_t len = n - first < c ? n - first : c;
        const float *yc = e->y + first * d;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)len, (int)d, 1.0f,
                    w.xc, (int)d, yc, (int)d, 0.0f, w.logits, (int)len);
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < rows; i++) {
            double s = sigma[n_sigma == 1 ? 0 : i];
            merge_chunk(e, w.logits + i * len, len, first, 1.0 / (s * s), want_entropy, &w.st[i]);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)d, (int)len, 1.0f,
                    w.logits, (int)len, yc, (int)d, 0.0f, w.chunk, (int)d);
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < rows; i++) {
            double scale = w.st[i].scale, *acc = w.acc + i * d;
            const float *add = w.chunk + i * d;
            for (int64_t j = 0; j < d; j++) acc[j] = acc[j] * scale + add[j];
        }
    }
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < rows; i++) {
        const row_state *st = &w.st[i];
        for (int64_t j = 0; j < d; j++)
            out[i * d + j] = (float)(e->mean[j] + w.acc[i * d + j] / st->z);
        if (!diag) continue;
        if (diag->top_index) diag->top_index[i] = st->top;
        if (diag->top_weight) diag->top_weight[i] = 1.0 / st->z;
        if (diag->entropy) diag->entropy[i] = log(st->z) - st->zl / st->z;
    }
    workspace_free(&w);
    return 0;
}
