// The Gaussian-mixture denoiser and the Gaussian flow on the cpu backend.
//
// Component c has mean mu, orthonormal eigenvectors U (d x r), eigenvalues lam and
// residual variance res on the complement of U. Both the denoiser and the flow are a
// diagonal map in the component's eigenbasis:
//   out = mu + U diag(f) U^T dx + g (dx - U U^T dx),   dx = x - mu,
// with f = lam / (lam + sigma^2), g = res / (res + sigma^2) for the denoiser and
// f = sqrt((lam + b^2) / (lam + a^2)), g likewise, for the flow from a to b. So both
// share project() (P = dx U and the complement R = dx - P U^T by SGEMM) and
// reconstruct() (out = mu + g R + (f o P) U^T by SGEMM). The mixture weights come from
// per-row log densities merged over components with an online log-sum-exp, as the
// empirical denoiser does over training rows.
//
// Numerics: the complement norm |R|^2 is taken from R itself, not as |dx|^2 - |P|^2,
// which cancels catastrophically when the residual variance is small.
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_blas.h"
#include "cpu_models.h"
#include "ds_error.h"
#include "threads.h"

typedef struct {
    float *mu_f, *u; // d, d x r
    const double *mu, *lam;
    double res, log_weight;
} component;

struct cpu_gmm {
    int64_t d, r, k;
    component *comp;
    float *store; // the float copies of all components
};

void cpu_gmm_free(cpu_gmm *g) {
    if (!g) return;
    free(g->comp);
    free(g->store);
    free(g);
}

cpu_gmm *cpu_gmm_new(const ds_model *m) {
    int64_t d = m->d, r = m->r, k = m->k;
    cpu_gmm *g = ds_try_alloc(1, sizeof *g, "cpu backend");
    if (!g) return NULL;
    *g = (cpu_gmm){d, r, k, ds_try_alloc((size_t)k, sizeof(component), "cpu backend"),
                   ds_try_alloc((size_t)(k * (d + d * r)), sizeof(float), "cpu backend")};
    if (!g->comp || !g->store) {
        cpu_gmm_free(g);
        return NULL;
    }
    for (int64_t c = 0; c < k; c++) {
        component *cc = &g->comp[c];
        cc->mu_f = g->store + c * (d + d * r);
        cc->u = cc->mu_f + d;
        cc->mu = m->means + c * d;
        cc->lam = m->eigvals + c * r;
        cc->res = r < d ? m->residual[c] : 0.0;
        cc->log_weight = log(m->weights[c]);
        for (int64_t j = 0; j < d; j++) cc->mu_f[j] = (float)cc->mu[j];
        for (int64_t j = 0; j < d * r; j++) cc->u[j] = (float)m->eigvecs[c * d * r + j];
    }
    return g;
}

typedef struct {
    float *dx, *proj, *resid, *out; // B x d, B x r, B x d (r < d), B x d
    double *acc, *lmax, *z, *logp;  // B x d, B, B, B (mixture only)
    double *g;                      // B: the complement factor of each row
} workspace;

static void workspace_free(workspace *w) {
    free(w->dx);
    free(w->proj);
    free(w->resid);
    free(w->out);
    free(w->acc);
    free(w->lmax);
    free(w->z);
    free(w->logp);
    free(w->g);
}

// What cpu_gmm_new keeps, and what workspace_new allocates for a denoise of `rows` rows.
void cpu_gmm_memory(const ds_model *m, int64_t rows, uint64_t *model, uint64_t *work) {
    uint64_t d = (uint64_t)m->d, r = (uint64_t)m->r, k = (uint64_t)m->k, b = (uint64_t)rows;
    *model = k * sizeof(component) + k * (d + d * r) * sizeof(float);
    *work = b * d * (sizeof(float) * (r < d ? 3 : 2) + sizeof(double)) + b * r * sizeof(float) +
            4 * b * sizeof(double);
}

static int workspace_new(workspace *w, int64_t rows, int64_t d, int64_t r, int mixture) {
    const char *what = "cpu gmm workspace";
    size_t bd = (size_t)(rows * d), b = (size_t)rows;
    *w = (workspace){0};
    w->dx = ds_try_alloc(bd, sizeof(float), what);
    w->proj = ds_try_alloc((size_t)(rows * r), sizeof(float), what);
    w->resid = r < d ? ds_try_alloc(bd, sizeof(float), what) : NULL;
    w->out = mixture ? ds_try_alloc(bd, sizeof(float), what) : NULL;
    w->acc = mixture ? ds_try_alloc(bd, sizeof(double), what) : NULL;
    w->lmax = mixture ? ds_try_alloc(b, sizeof(double), what) : NULL;
    w->z = mixture ? ds_try_alloc(b, sizeof(double), what) : NULL;
    w->logp = mixture ? ds_try_alloc(b, sizeof(double), what) : NULL;
    w->g = ds_try_alloc(b, sizeof(double), what);
    int ok = w->dx && w->proj && (r == d || w->resid) && w->g &&
             (!mixture || (w->out && w->acc && w->lmax && w->z && w->logp));
    if (ok) return 0;
    workspace_free(w);
    return -1;
}

// The rows [first, first + rows) of a workspace, for one thread.
static workspace workspace_slice(const workspace *w, int64_t first, int64_t d, int64_t r) {
    workspace s = *w;
    s.dx += first * d;
    s.proj += first * r;
    if (s.resid) s.resid += first * d;
    if (s.out) s.out += first * d;
    if (s.acc) s.acc += first * d, s.lmax += first, s.z += first, s.logp += first;
    s.g += first;
    return s;
}

// dx = x - mu, proj = dx U and, when r < d, resid = dx - proj U^T.
static void project(const cpu_gmm *g, const component *cc, const float *x, int64_t rows,
                    workspace *w) {
    int64_t d = g->d, r = g->r;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < d; j++)
            w->dx[i * d + j] = (float)((double)x[i * d + j] - cc->mu[j]);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)r, (int)d, 1.0f, w->dx,
                (int)d, cc->u, (int)r, 0.0f, w->proj, (int)r);
    if (r == d) return;
    memcpy(w->resid, w->dx, sizeof(float) * (size_t)(rows * d));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)d, (int)r, -1.0f, w->proj,
                (int)r, cc->u, (int)r, 1.0f, w->resid, (int)d);
}

// out = mu + g_i resid_i + proj_i U^T, proj already scaled by the map's factors f.
static void reconstruct(const cpu_gmm *g, const component *cc, int64_t rows, const workspace *w,
                        float *out) {
    int64_t d = g->d, r = g->r;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)d, (int)r, 1.0f, w->proj,
                (int)r, cc->u, (int)r, 0.0f, out, (int)d);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < d; j++)
            out[i * d + j] += cc->mu_f[j] + (r < d ? (float)w->g[i] * w->resid[i * d + j] : 0.0f);
}

// log det(Sigma + s2 I) of a component.
static double log_det(const cpu_gmm *g, const component *cc, double s2) {
    double s = g->r < g->d ? (double)(g->d - g->r) * log(cc->res + s2) : 0.0;
    for (int64_t j = 0; j < g->r; j++) s += log(cc->lam[j] + s2);
    return s;
}

// log(weight) + log N(x; mu, Sigma + s2 I) up to the constant -d/2 log(2 pi), for row i
// (proj and resid from project()); then scales proj_i by f and sets g_i.
static double log_density_and_factors(const cpu_gmm *g, const component *cc, int64_t i, double s2,
                                      double logdet, workspace *w) {
    int64_t d = g->d, r = g->r;
    float *p = w->proj + i * r;
    double quad = 0;
    for (int64_t j = 0; j < r; j++) {
        double v = cc->lam[j] + s2;
        quad += (double)p[j] * p[j] / v;
        p[j] = (float)(p[j] * (cc->lam[j] / v));
    }
    if (r < d) {
        const float *res = w->resid + i * d;
        double sq = 0, v = cc->res + s2;
        for (int64_t j = 0; j < d; j++) sq += (double)res[j] * res[j];
        quad += sq / v;
        w->g[i] = cc->res / v;
    }
    return cc->log_weight - 0.5 * (quad + logdet);
}

// Merges a component's row denoisers (in w->out) into the accumulator: the online
// log-sum-exp over components, rescaling acc when a row's maximum moves.
static void merge_component(int64_t rows, int64_t d, workspace *w) {
    for (int64_t i = 0; i < rows; i++) {
        double lp = w->logp[i], lmax = lp > w->lmax[i] ? lp : w->lmax[i];
        double scale = w->z[i] > 0 ? exp(w->lmax[i] - lmax) : 0.0, wc = exp(lp - lmax);
        double *acc = w->acc + i * d;
        const float *dc = w->out + i * d;
        for (int64_t j = 0; j < d; j++) acc[j] = acc[j] * scale + wc * dc[j];
        w->z[i] = w->z[i] * scale + wc;
        w->lmax[i] = lmax;
    }
}

// The arguments of one call, shared by the threads.
typedef struct {
    const cpu_gmm *g;
    const float *x;
    float *out;
    const double *sigma; // denoiser: one value or one per row
    int64_t n_sigma;
    const float *f; // flow: the eigen-direction factors and the complement's
    double gres;
} call;

// The mixture denoiser on rows [first, first + rows).
static void denoise_rows(const call *a, int64_t first, int64_t rows, workspace *w) {
    const cpu_gmm *g = a->g;
    int64_t d = g->d;
    const float *x = a->x + first * d;
    for (int64_t i = 0; i < rows; i++) w->lmax[i] = -INFINITY, w->z[i] = 0;
    for (int64_t c = 0; c < g->k; c++) {
        const component *cc = &g->comp[c];
        if (cc->log_weight == -INFINITY) continue;
        project(g, cc, x, rows, w);
        double last_s2 = -1, logdet = 0;
        for (int64_t i = 0; i < rows; i++) {
            double s = a->sigma[a->n_sigma == 1 ? 0 : first + i], s2 = s * s;
            if (s2 != last_s2) logdet = log_det(g, cc, s2), last_s2 = s2;
            w->logp[i] = log_density_and_factors(g, cc, i, s2, logdet, w);
        }
        reconstruct(g, cc, rows, w, w->out);
        merge_component(rows, d, w);
    }
    float *out = a->out + first * d;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < d; j++) out[i * d + j] = (float)(w->acc[i * d + j] / w->z[i]);
}

// The Gaussian flow on rows [first, first + rows).
static void flow_rows(const call *a, int64_t first, int64_t rows, workspace *w) {
    const cpu_gmm *g = a->g;
    int64_t r = g->r;
    project(g, &g->comp[0], a->x + first * g->d, rows, w);
    for (int64_t i = 0; i < rows; i++) {
        for (int64_t j = 0; j < r; j++) w->proj[i * r + j] *= a->f[j];
        w->g[i] = a->gres;
    }
    reconstruct(g, &g->comp[0], rows, w, a->out + first * g->d);
}

// Splits the rows between threads, each running fn on its slice with single-threaded
// SGEMMs (see cpu_empirical.c on mixing OpenMP loops with OpenBLAS threads).
static void for_row_slices(const call *a, int64_t rows, workspace *w,
                           void (*fn)(const call *, int64_t, int64_t, workspace *)) {
    const cpu_gmm *g = a->g;
    int threads =
        ds_threads_for(2.0 * (double)rows * (double)g->k * (double)g->d * (double)(g->r + 1));
    if (threads > rows) threads = (int)rows;
    int saved = cpu_blas_serial_begin();
#pragma omp parallel num_threads(threads)
    {
        int64_t t = omp_get_thread_num();
        int64_t first = t * rows / threads, last = (t + 1) * rows / threads;
        workspace slice = workspace_slice(w, first, a->g->d, a->g->r);
        fn(a, first, last - first, &slice);
    }
    cpu_blas_serial_end(saved);
}

int cpu_gmm_denoise(const cpu_gmm *g, const float *x, int64_t rows, const double *sigma,
                    int64_t n_sigma, float *out) {
    workspace w;
    DS_TRY(workspace_new(&w, rows, g->d, g->r, 1));
    call a = {g, x, out, sigma, n_sigma, NULL, 0};
    for_row_slices(&a, rows, &w, denoise_rows);
    workspace_free(&w);
    return 0;
}

int cpu_gmm_flow(const cpu_gmm *g, const float *x, int64_t rows, double sigma_from, double sigma_to,
                 float *out) {
    int64_t r = g->r;
    const component *cc = &g->comp[0];
    double a2 = sigma_from * sigma_from, b2 = sigma_to * sigma_to;
    workspace w;
    float *f = ds_try_alloc((size_t)r, sizeof(float), "cpu gaussian flow");
    if (!f || workspace_new(&w, rows, g->d, r, 0)) {
        free(f);
        return -1;
    }
    for (int64_t j = 0; j < r; j++) f[j] = (float)sqrt((cc->lam[j] + b2) / (cc->lam[j] + a2));
    call a = {g, x, out, NULL, 0, f, sqrt((cc->res + b2) / (cc->res + a2))};
    for_row_slices(&a, rows, &w, flow_rows);
    workspace_free(&w);
    free(f);
    return 0;
}
