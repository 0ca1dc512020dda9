// Certified pruning of the empirical denoiser on the cpu backend.
//
// The certificate. For a query x at sigma s, training row i has the weight
// w_i = exp(-D_i / (2 s^2)) / Z with D_i = |x - y_i|^2. Given a lower bound L_i <= D_i
// and an upper bound U >= D_min = min_j D_j (the exact distance of some row),
//   w_i / w_top = exp(-(D_i - D_min) / (2 s^2)) <= exp(-(L_i - U) / (2 s^2)),
// so a row with L_i >= U + T, T = 2 s^2 ln(N / eps), has w_i <= eps w_top / N: it is
// skipped, neither its d-dimensional product nor its share of the weighted sum is
// computed. The top row is never skipped (L_top <= D_min <= U < U + T).
//
// The bound. L_i = |P (x - y_i)|^2 <= |x - y_i|^2 with P the projection on k orthonormal
// directions near the top principal subspace of (a subset of) the rows, fitted once when
// pruning is turned on by subspace iteration (any orthonormal basis gives a valid bound;
// the principal one a tight one).
// With the projections of the rows stored, it costs 2k flops per pair (an SGEMM of
// k-vectors) against 4d for the dense evaluation (two d-dimensional products). Float
// rounding is bounded in bound_init() and skip_threshold(), so what is skipped is
// skipped on the exact distances (of the float rows the cpu backend keeps).
//
// The skipped mass and the change of D. Let S be the sum of the skipped rows' weights
// and Z that of the kept ones (unnormalised), m = S / (Z + S) the skipped mass. Each
// skipped weight is <= eps w_top / N, so S <= n_skip (eps / N) w_top and
//   m <= S / Z <= n_skip (eps / N) / z,  z = Z / w_top >= 1,
// which is what is reported (so m <= eps always). The dense output is
// D = (Z D' + S mu) / (Z + S), with D' the pruned output and mu the weighted mean of the
// skipped rows, so D - D' = m (mu - D'). Both are means of training rows, so
// |mu - D'| <= diam <= 2 R (R = max_i |y_i - mean|), and with |D| >= |D'| - 2 m R
//   |D' - D| / |D| <= 2 m R / (|D'| - 2 m R),
// the reported bound on the relative change of one evaluation. At eps = 1e-12 it is
// below float rounding (6e-8) by orders of magnitude; a solver's later steps carry it
// as they carry any change of D (landing.c: times the sum of the D coefficients).
//
// Where it pays (the cost model). A dense query costs 4 N d flops at SGEMM speed; a
// pruned one 2 k N for the bounds (also SGEMM) plus 4 d per surviving row, gathered and
// computed in double at DS_PRUNE_GATHER_COST (prune_index.h) times the dense path's time per flop
// (measured: bench/RESULTS.md). A query is pruned when its S survivors satisfy
// S G 4d + 2 k N < 4 d N, S < N (1 - k / (2d)) / G (cap; at most DS_PRUNE_MAX_SURVIVORS,
// which bounds the workspace). The bound pass stops for a
// query once more than that many rows survive, and is not started where a cheap test
// shows that no row can be skipped (precheck()). So the decision depends on the
// inputs only (a run's output does not depend on the machine's load), and it is made
// per query: at a large sigma the softmax is broad and every query stays dense, at a
// small one nearly every row is skipped.
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_blas.h"
#include "cpu_prune.h"
#include "prune_index.h"
#include "ds_error.h"

#define PRUNE_BLOCK 32   // queries per bound SGEMM
#define PRUNE_CHUNK 1024 // training rows per bound SGEMM
#define UNIT_ROUNDOFF 0x1p-24

enum { LANES = 8 };

struct cpu_prune {
    cpu_rows r;
    ds_prune_index ix;     // directions, projections of the rows (prune_index.c)
    int64_t cap;           // most survivors with which a query is pruned
    double eps, log_ratio; // ln(N / eps)
    ds_prune_stats *stats;
};

static int64_t prune_chunk(int64_t n) {
    return n < PRUNE_CHUNK ? n : PRUNE_CHUNK;
}

// The index reads the float copy of the rows that the cpu backend keeps.
static void copy_rows(void *user, int64_t first, int64_t count, float *out) {
    const cpu_rows *r = user;
    memcpy(out, r->y + first * r->d, sizeof(float) * (size_t)(count * r->d));
}

cpu_prune *cpu_prune_new(const cpu_rows *rows, double eps, ds_prune_stats *stats) {
    cpu_prune *p = ds_try_alloc(1, sizeof *p, "cpu pruning index");
    if (!p) return NULL;
    *p = (cpu_prune){.r = *rows, .eps = eps, .stats = stats};
    if (ds_prune_index_new(&p->ix, rows->n, rows->d, copy_rows, &p->r, "cpu pruning index")) {
        free(p);
        return NULL;
    }
    p->log_ratio = log((double)rows->n / eps);
    p->cap = ds_prune_cap(rows->n, rows->d, p->ix.k, 1);
    *stats = (ds_prune_stats){.eps = eps};
    return p;
}

void cpu_prune_free(cpu_prune *p) {
    if (!p) return;
    ds_prune_index_free(&p->ix);
    free(p);
}

// One call: the centred queries in double, their projections and 1 / sigma^2.
typedef struct {
    const cpu_prune *p;
    const double *xc; // rows x d
    const double *a;  // rows x k
    const double *inv_s2;
} call;

// What one query's evaluation did, for the counts.
typedef struct {
    int64_t skipped;
    double mass, change, flops;
} query_out;

// One query's bound pass: candidates (row, l) in its slice of the thread's scratch.
typedef struct {
    int64_t q, count;
    int64_t *idx;
    double *ell;
    double u;     // upper bound on D_min
    double t;     // T = 2 s^2 ln(N / eps)
    double pxx;   // |px|^2 of the rounded projection
    double delta; // bound on the rounding of |px - py_i| against |P (x - y_i)|
    double err;   // bound on the error of l = |px|^2 + |py_i|^2 - 2 px.py_i (SGEMM)
    double thr;   // skip where l >= thr (skip_threshold for u)
    int live;     // still a candidate for the pruned evaluation
} bound_state;

// l >= thr implies |P (x - y_i)|^2 >= (U + T)(1 + omega), so D_i >= U + T: with
// r = sqrt((U + T)(1 + omega)), |P (x - y_i)| >= |px - py_i| - delta and
// |px - py_i|^2 >= l - err, l >= (r + delta)^2 + err suffices.
static double skip_threshold(const cpu_prune *p, const bound_state *s) {
    double r = sqrt((s->u + s->t) * (1 + p->ix.omega));
    return (r + s->delta) * (r + s->delta) + s->err;
}

// The rounding bounds of one query (k-term float products: gamma_k |px||py_i|; the
// projections rounded to float: u (|px| + |py_i|); the double sums: 1e-15).
static void bound_init(const call *c, int64_t q, float *px, bound_state *s) {
    const cpu_prune *p = c->p;
    int64_t k = p->ix.k;
    double pxx = 0;
    for (int64_t j = 0; j < k; j++) {
        px[j] = (float)c->a[q * k + j];
        pxx += (double)px[j] * px[j];
    }
    double pn = sqrt(pxx), gamma = 1.01 * (double)(k + 2) * UNIT_ROUNDOFF;
    s->q = q, s->count = 0, s->live = 1, s->u = INFINITY, s->thr = INFINITY;
    s->pxx = pxx;
    s->t = 2 * p->log_ratio / c->inv_s2[q];
    s->delta = 2 * UNIT_ROUNDOFF * (pn + p->ix.py_max);
    s->err = 2 * gamma * pn * p->ix.py_max + 1e-15 * (pxx + p->ix.py_max * p->ix.py_max);
}

// |x - y_i|^2 in double.
static double exact_sq(const cpu_rows *r, const double *x, int64_t i) {
    const float *y = r->y + i * r->d;
    double s[LANES] = {0};
    int64_t j = 0;
    for (; j + LANES <= r->d; j += LANES)
        for (int k = 0; k < LANES; k++) {
            double v = x[j + k] - y[j + k];
            s[k] += v * v;
        }
    for (; j < r->d; j++) s[0] += (x[j] - y[j]) * (x[j] - y[j]);
    for (int k = 1; k < LANES; k++) s[0] += s[k];
    return s[0];
}

// Drops the candidates that the current threshold skips; returns how many it dropped.
static int64_t drop_skipped(bound_state *s) {
    int64_t kept = 0, before = s->count;
    for (int64_t j = 0; j < s->count; j++)
        if (s->ell[j] < s->thr) s->idx[kept] = s->idx[j], s->ell[kept++] = s->ell[j];
    s->count = kept;
    return before - kept;
}

// One chunk of training rows [start, start + len) for query s, whose bounds' products
// are g: the chunk's smallest bound's row may lower U; rows below the threshold are
// kept as candidates, the others skipped.
static void bound_chunk(const call *c, bound_state *s, const float *g, int64_t start, int64_t len,
                        query_out *qo) {
    const cpu_prune *p = c->p;
    const double *sq = p->ix.py_sq + start;
    double lmin = INFINITY;
    int64_t jmin = 0;
    for (int64_t j = 0; j < len; j++) {
        double l = s->pxx + sq[j] - 2.0 * (double)g[j];
        if (l < lmin) lmin = l, jmin = j;
    }
    qo->flops += (double)len * (2 * p->ix.k + 4);
    if (lmin < s->u) {
        double dist = exact_sq(&p->r, c->xc + s->q * p->r.d, start + jmin);
        double u = dist * (1 + 1e-15 * (double)p->r.d); // its double rounding
        qo->flops += 3.0 * (double)p->r.d;
        if (u < s->u) s->u = u, s->thr = skip_threshold(p, s);
    }
    for (int64_t j = 0; j < len; j++) {
        double l = s->pxx + sq[j] - 2.0 * (double)g[j];
        if (l < s->thr)
            s->idx[s->count] = start + j, s->ell[s->count++] = l;
        else
            qo->skipped++;
    }
}

// Per thread: the block's projections (per query, and packed for the live ones), the
// products of one chunk, each query's candidates and a weighted sum.
typedef struct {
    float *px, *packed, *g;
    int64_t *idx;
    double *ell, *acc;
    bound_state st[PRUNE_BLOCK];
} scratch;

static void scratch_free(scratch *w) {
    free(w->px), free(w->packed), free(w->g), free(w->idx), free(w->ell), free(w->acc);
}

static int scratch_new(const cpu_prune *p, scratch *w) {
    size_t k = (size_t)p->ix.k, c = (size_t)prune_chunk(p->r.n), slot = (size_t)p->cap + c;
    memset(w, 0, sizeof *w);
    w->px = malloc(PRUNE_BLOCK * k * sizeof(float));
    w->packed = malloc(PRUNE_BLOCK * k * sizeof(float));
    w->g = malloc(PRUNE_BLOCK * c * sizeof(float));
    w->idx = malloc(PRUNE_BLOCK * slot * sizeof(int64_t));
    w->ell = malloc(PRUNE_BLOCK * slot * sizeof(double));
    w->acc = malloc((size_t)p->r.d * sizeof(double));
    return w->px && w->packed && w->g && w->idx && w->ell && w->acc ? 0 : -1;
}

// The bound pass of queries qs[0..nb) over every training row, in chunks; a query whose
// candidates exceed the cap (after dropping what the current threshold skips) leaves it.
static void bound_block(const call *c, const int64_t *qs, int nb, scratch *w, query_out *qo) {
    const cpu_prune *p = c->p;
    int64_t n = p->r.n, k = p->ix.k, chunk = prune_chunk(n), slot = p->cap + chunk;
    for (int b = 0; b < nb; b++) {
        w->st[b].idx = w->idx + b * slot, w->st[b].ell = w->ell + b * slot;
        bound_init(c, qs[b], w->px + b * k, &w->st[b]);
    }
    int live[PRUNE_BLOCK];
    for (int64_t start = 0; start < n; start += chunk) {
        int64_t len = n - start < chunk ? n - start : chunk;
        int na = 0;
        for (int b = 0; b < nb; b++) {
            bound_state *s = &w->st[b];
            if (!s->live) continue;
            if (s->count + len > slot) {
                qo[s->q].skipped += drop_skipped(s);
                if (s->count > p->cap) {
                    s->live = 0;
                    continue;
                }
            }
            memcpy(w->packed + na * k, w->px + b * k, sizeof(float) * (size_t)k);
            live[na++] = b;
        }
        if (!na) return;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, na, (int)len, (int)k, 1.0f, w->packed,
                    (int)k, p->ix.py + start * k, (int)k, 0.0f, w->g, (int)len);
        for (int a = 0; a < na; a++) {
            bound_state *s = &w->st[live[a]];
            bound_chunk(c, s, w->g + a * len, start, len, &qo[s->q]);
        }
    }
    for (int b = 0; b < nb; b++) {
        bound_state *s = &w->st[b];
        if (!s->live) continue;
        qo[s->q].skipped += drop_skipped(s);
        s->live = s->count <= p->cap;
    }
}

// x.y_i - |y_i|^2 / 2 in double.
static double logit_t(const cpu_rows *r, const double *x, int64_t i) {
    const float *y = r->y + i * r->d;
    double s[LANES] = {0};
    int64_t j = 0;
    for (; j + LANES <= r->d; j += LANES)
        for (int k = 0; k < LANES; k++) s[k] += x[j + k] * y[j + k];
    for (; j < r->d; j++) s[0] += x[j] * y[j];
    for (int k = 1; k < LANES; k++) s[0] += s[k];
    return s[0] - r->half_sq[i];
}

// D over the surviving rows of s, in double: out row q, its diag entries (the top weight
// as the lower bound 1 / (z + n_skip eps / N), so that landing's certificate stays one)
// and the skipped mass and change bounds (top of file).
static void evaluate(const call *c, const bound_state *s, double *acc, float *out,
                     const ds_diag *diag, query_out *qo) {
    const cpu_prune *p = c->p;
    const cpu_rows *r = &p->r;
    int64_t d = r->d, q = s->q, top = 0;
    const double *x = c->xc + q * d;
    double inv_s2 = c->inv_s2[q], tmax = -INFINITY, z = 0, zl = 0;
    for (int64_t j = 0; j < s->count; j++) {
        s->ell[j] = logit_t(r, x, s->idx[j]);
        if (s->ell[j] > tmax) tmax = s->ell[j], top = s->idx[j];
    }
    memset(acc, 0, sizeof(double) * (size_t)d);
    for (int64_t j = 0; j < s->count; j++) {
        double l = (s->ell[j] - tmax) * inv_s2, w = exp(l);
        const float *y = r->y + s->idx[j] * d;
        z += w, zl += w * l;
        for (int64_t e = 0; e < d; e++) acc[e] += w * y[e];
    }
    double norm = 0, skipped = (double)qo->skipped * p->eps / (double)r->n;
    for (int64_t e = 0; e < d; e++) {
        double v = r->mean[e] + acc[e] / z;
        out[q * d + e] = (float)v;
        norm += v * v;
    }
    qo->mass = skipped / z;
    double change = 2 * qo->mass * r->y_norm, room = sqrt(norm) - change;
    qo->change = change == 0 ? 0 : room > 0 ? change / room : INFINITY;
    qo->flops += 4.0 * (double)d * (double)s->count;
    if (!diag) return;
    if (diag->top_index) diag->top_index[q] = top;
    if (diag->top_weight) diag->top_weight[q] = 1.0 / (z + skipped);
    if (diag->entropy) diag->entropy[q] = log(z) - zl / z;
}

// Whether some row might be skipped (a cost estimate, not a certificate): the bounds are
// at most (|Px| + max |Py_i|)^2, and D_min >= (|(I - P) x| - max |(I - P) y_i|)^2.
static int precheck(const cpu_prune *p, const double *xc, const double *a, double t) {
    double xx = 0, aa = 0;
    for (int64_t j = 0; j < p->r.d; j++) xx += xc[j] * xc[j];
    for (int64_t j = 0; j < p->ix.k; j++) aa += a[j] * a[j];
    double lo = fmax(0.0, sqrt(fmax(0.0, xx - aa)) - p->ix.res_max), hi = sqrt(aa) + p->ix.py_max;
    return hi * hi >= lo * lo + t;
}

// The bound pass and the pruned evaluations of the queries todo[0..n_todo), in blocks
// over the threads (single-threaded SGEMMs inside, as in cpu_empirical.c); each
// thread's scratch is allocated before the parallel region.
static int prune_queries(const call *c, const int64_t *todo, int64_t n_todo, float *out,
                         const ds_diag *diag, uint8_t *done, query_out *qo) {
    int64_t blocks = (n_todo + PRUNE_BLOCK - 1) / PRUNE_BLOCK;
    int threads = omp_get_max_threads(), made = 0;
    if (threads > blocks) threads = (int)blocks;
    scratch *w = ds_try_alloc((size_t)threads, sizeof(scratch), "cpu pruning");
    if (!w) return -1;
    while (made < threads && !scratch_new(c->p, &w[made])) made++;
    int rc = made == threads ? 0
                             : ds_fail("cpu pruning: cannot allocate the workspace of %d "
                                       "threads",
                                       threads);
    if (made < threads) scratch_free(&w[made]); // the one that failed part-way
    if (!rc) {
        int saved = cpu_blas_serial_begin();
#pragma omp parallel for schedule(dynamic) num_threads(threads)
        for (int64_t blk = 0; blk < blocks; blk++) {
            scratch *mine = &w[omp_get_thread_num()];
            int64_t first = blk * PRUNE_BLOCK;
            int nb = (int)(n_todo - first < PRUNE_BLOCK ? n_todo - first : PRUNE_BLOCK);
            bound_block(c, todo + first, nb, mine, qo);
            for (int b = 0; b < nb; b++) {
                if (!mine->st[b].live) continue;
                evaluate(c, &mine->st[b], mine->acc, out, diag, &qo[mine->st[b].q]);
                done[mine->st[b].q] = 1;
            }
        }
        cpu_blas_serial_end(saved);
    }
    for (int t = 0; t < made; t++) scratch_free(&w[t]);
    free(w);
    return rc;
}

static void add_counts(const cpu_prune *p, int64_t rows, const uint8_t *done, const query_out *qo) {
    ds_prune_stats *st = p->stats;
    double dense = 4.0 * (double)p->r.n * (double)p->r.d;
    for (int64_t i = 0; i < rows; i++) {
        st->queries++;
        st->pairs += p->r.n;
        st->flops_dense += dense;
        st->flops += qo[i].flops + (done[i] ? 0 : dense);
        if (!done[i]) continue;
        st->queries_pruned++;
        st->pairs_skipped += qo[i].skipped;
        st->mass_max = fmax(st->mass_max, qo[i].mass);
        st->change_max = fmax(st->change_max, qo[i].change);
    }
}

void cpu_prune_memory(const ds_model *m, int64_t rows, uint64_t *model, uint64_t *work) {
    uint64_t n = (uint64_t)m->data.n, d = (uint64_t)m->d, k = (uint64_t)ds_prune_k(m->d);
    // cap <= min(N, DS_PRUNE_MAX_SURVIVORS): the workspace stops growing with N
    uint64_t cap = n < DS_PRUNE_MAX_SURVIVORS ? n : DS_PRUNE_MAX_SURVIVORS;
    uint64_t c = (uint64_t)prune_chunk(m->data.n);
    int64_t blocks = (rows + PRUNE_BLOCK - 1) / PRUNE_BLOCK, threads = omp_get_max_threads();
    if (blocks < threads) threads = blocks;
    *model = n * (k * sizeof(float) + sizeof(double)) + d * k * sizeof(double);
    uint64_t scratch = PRUNE_BLOCK * (2 * k + c) * sizeof(float) +
                       PRUNE_BLOCK * (cap + c) * (sizeof(int64_t) + sizeof(double)) +
                       d * sizeof(double);
    // per query: x and its projection in double, 1 / sigma^2, the todo list, the counts
    uint64_t per_query = (d + k + 2) * sizeof(double) + sizeof(query_out) + 1;
    *work = (uint64_t)rows * per_query + (uint64_t)threads * scratch;
}

// The centred queries in double, their projections and 1 / sigma^2.
static void centre_project(const cpu_prune *p, const float *x, int64_t rows, const double *sigma,
                           int64_t n_sigma, double *xc, double *a, double *inv_s2) {
    int64_t d = p->r.d, k = p->ix.k;
    for (int64_t i = 0; i < rows; i++) {
        double s = sigma[n_sigma == 1 ? 0 : i];
        inv_s2[i] = 1.0 / (s * s);
        for (int64_t j = 0; j < d; j++) xc[i * d + j] = (double)x[i * d + j] - p->r.mean[j];
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)k, (int)d, 1.0, xc,
                (int)d, p->ix.basis, (int)k, 0.0, a, (int)k);
}

int cpu_prune_denoise(cpu_prune *p, const float *x, int64_t rows, const double *sigma,
                      int64_t n_sigma, float *out, const ds_diag *diag, uint8_t *done) {
    int64_t d = p->r.d, k = p->ix.k, n_todo = 0;
    const char *what = "cpu pruning";
    double *xc = ds_try_alloc((size_t)(rows * (d + k + 1)), sizeof(double), what);
    int64_t *todo = xc ? ds_try_alloc((size_t)rows, sizeof(int64_t), what) : NULL;
    query_out *qo = todo ? ds_try_alloc((size_t)rows, sizeof(query_out), what) : NULL;
    if (!qo) {
        free(xc), free(todo);
        return -1;
    }
    double *a = xc + rows * d, *inv_s2 = a + rows * k;
    centre_project(p, x, rows, sigma, n_sigma, xc, a, inv_s2);
    for (int64_t i = 0; i < rows; i++) {
        done[i] = 0;
        qo[i].flops = 2.0 * (double)(d * k);
        if (p->cap >= 1 && precheck(p, xc + i * d, a + i * k, 2 * p->log_ratio / inv_s2[i]))
            todo[n_todo++] = i;
    }
    call c = {p, xc, a, inv_s2};
    int rc = n_todo ? prune_queries(&c, todo, n_todo, out, diag, done, qo) : 0;
    if (!rc) add_counts(p, rows, done, qo);
    free(xc), free(todo), free(qo);
    return rc;
}

int cpu_prune_kept(const cpu_prune *p, const float *x, double sigma, uint8_t *keep) {
    int64_t d = p->r.d, k = p->ix.k, q = 0;
    double *xc = ds_try_alloc((size_t)(d + k + 1), sizeof(double), "cpu pruning");
    scratch w;
    int rc = xc && !scratch_new(p, &w) ? 0 : -1, pruned = 0;
    if (rc && xc) ds_fail("cpu pruning: cannot allocate its workspace");
    if (!rc) {
        double *a = xc + d, *inv_s2 = a + k;
        query_out qo = {0};
        centre_project(p, x, 1, &sigma, 1, xc, a, inv_s2);
        call c = {p, xc, a, inv_s2};
        int live = p->cap >= 1 && precheck(p, xc, a, 2 * p->log_ratio / inv_s2[0]);
        if (live) bound_block(&c, &q, 1, &w, &qo);
        pruned = live && w.st[0].live;
        memset(keep, !pruned, (size_t)p->r.n);
        for (int64_t j = 0; pruned && j < w.st[0].count; j++) keep[w.st[0].idx[j]] = 1;
    }
    if (xc) scratch_free(&w);
    free(xc);
    return rc ? rc : pruned;
}
