// The ref backend: plain C loops in float64. Obviously correct and slow; the judge
// of every fast path.
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "backend_common.h"
#include "bytes.h"
#include "dist.h"
#include "ds_error.h"
#include "ds_philox.h"
#include "linear_features.h"
#include "local_mask.h"
#include "ref_patch.h"
#include "threads.h"

struct ds_bound_model {
    const ds_model *m;
    double *eps;      // smoothed: the smoothing_samples x d perturbation directions
    double *centred;  // empirical, local: n x d training rows minus the mean
    double *half_sq;  // empirical, local: |y_i - mean|^2 / 2
    int64_t first, n; // the training rows held: all, or this rank's under --shard-data
    int sharded;      // the empirical states are merged over the ranks (host/dist)
};

static void ref_unbind(ds_backend *b, ds_bound_model *bm) {
    (void)b;
    if (!bm) return;
    free(bm->centred);
    free(bm->half_sq);
    free(bm->eps);
    free(bm);
}

static ds_bound_model *ref_bind(ds_backend *b, const ds_model *m) {
    if (ds_backend_check_bind("ref backend", m)) return NULL;
    ds_bound_model *bm = ds_try_alloc(1, sizeof *bm, "ref bind");
    if (!bm) return NULL;
    bm->m = m;
    if (!ds_model_holds_rows(m->kind)) return bm;
    if (m->kind == DS_MODEL_SMOOTHED) {
        bm->eps = ds_try_alloc((size_t)(m->smoothing_samples * m->d), sizeof(double), "ref bind");
        if (!bm->eps) {
            ref_unbind(b, bm);
            return NULL;
        }
        ds_smoothed_noise(m, bm->eps);
    }
    // Only the empirical denoiser is split over the ranks; the other models keep every row.
    bm->n = m->data.n;
    if (m->kind == DS_MODEL_EMPIRICAL) {
        ds_dist_data_rows(m->data.n, &bm->first, &bm->n);
        bm->sharded = ds_dist_data_sharding();
    }
    if (bm->n < 1) {
        ds_fail("ref backend: --shard-data over %d ranks needs at least one training row per "
                "rank (the model has %lld)",
                ds_dist_size(), (long long)m->data.n);
        ref_unbind(b, bm);
        return NULL;
    }
    int64_t n = bm->n, d = m->d;
    bm->centred = ds_try_alloc((size_t)(n * d), sizeof(double), "ref bind: the training rows");
    bm->half_sq = ds_try_alloc((size_t)n, sizeof(double), "ref bind");
    if (!bm->centred || !bm->half_sq) {
        ref_unbind(b, bm);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t j = 0; j < d; j++) {
            double v = ds_data_value(&m->data, bm->first + i, j) - m->mean[j];
            bm->centred[i * d + j] = v;
            s += v * v;
        }
        bm->half_sq[i] = 0.5 * s;
    }
    return bm;
}

static ds_batch *ref_batch_new(ds_backend *b, int64_t rows, int64_t cols) {
    (void)b;
    return ds_host_batch_new(rows, cols, sizeof(double));
}

static int ref_upload(ds_backend *b, ds_batch *dst, const double *src) {
    (void)b;
    memcpy(dst->data, src, sizeof(double) * (size_t)(dst->rows * dst->cols));
    return 0;
}

static int ref_download(ds_backend *b, const ds_batch *src, double *dst) {
    (void)b;
    memcpy(dst, src->data, sizeof(double) * (size_t)(src->rows * src->cols));
    return 0;
}

static int ref_copy(ds_backend *b, ds_batch *dst, const ds_batch *src) {
    return ref_upload(b, dst, src->data);
}

static int ref_lincomb(ds_backend *b, ds_batch *out, int n, const double *coef,
                       const ds_batch *const *v) {
    (void)b;
    int64_t count = out->rows * out->cols;
    double *o = out->data;
    for (int64_t e = 0; e < count; e++) {
        double s = 0;
        for (int k = 0; k < n; k++) s += coef[k] * ((const double *)v[k]->data)[e];
        o[e] = s;
    }
    return 0;
}

static int ref_randn(ds_backend *b, ds_batch *out, uint64_t seed, int64_t first_row) {
    (void)b;
    double *o = out->data;
    for (int64_t i = 0; i < out->rows; i++)
        for (int64_t j = 0; j < out->cols; j++)
            o[i * out->cols + j] = ds_philox_normal(seed, first_row + i, j);
    return 0;
}

// The softmax state of one query over the bound training rows, in dist.h's layout: the
// largest of the logits (x.y_i - |y_i|^2/2) / sigma^2 (centred x and y), the sums of
// w_i = exp(logit - max) and of w_i (logit - max), the top row, then sum_i w_i y_i.
static void empirical_state(const ds_bound_model *bm, const double *x, double sigma, double *state,
                            double *logits) {
    const ds_model *m = bm->m;
    int64_t n = bm->n, d = m->d;
    double inv_s2 = 1.0 / (sigma * sigma), max = -DBL_MAX;
    int64_t arg = 0;
    double *acc = state + DS_LSE_HEAD, *xc = acc; // acc holds the centred query at first
    for (int64_t j = 0; j < d; j++) xc[j] = x[j] - m->mean[j];
    for (int64_t i = 0; i < n; i++) {
        const double *y = bm->centred + i * d;
        double dot = 0;
        for (int64_t j = 0; j < d; j++) dot += xc[j] * y[j];
        logits[i] = (dot - bm->half_sq[i]) * inv_s2;
        if (logits[i] > max) max = logits[i], arg = i;
    }
    double z = 0, zl = 0;
    for (int64_t i = 0; i < n; i++) {
        double w = exp(logits[i] - max);
        z += w;
        zl += w * (logits[i] - max);
        logits[i] = w;
    }
    for (int64_t j = 0; j < d; j++) acc[j] = 0;
    for (int64_t i = 0; i < n; i++) {
        const double *y = bm->centred + i * d;
        if (logits[i] == 0) continue;
        for (int64_t j = 0; j < d; j++) acc[j] += logits[i] * y[j];
    }
    state[DS_LSE_LMAX] = max, state[DS_LSE_Z] = z, state[DS_LSE_ZL] = zl;
    state[DS_LSE_TOP] = (double)(bm->first + arg);
}

// D(x) = mean + sum_i w_i y_i / z, and the diagnostics of batch row `row`, from a state.
static void empirical_finish(const ds_model *m, const double *state, double *out, ds_diag *diag,
                             int64_t row) {
    double z = state[DS_LSE_Z];
    for (int64_t j = 0; j < m->d; j++) out[j] = m->mean[j] + state[DS_LSE_HEAD + j] / z;
    if (!diag) return;
    if (diag->top_index) diag->top_index[row] = (int64_t)state[DS_LSE_TOP];
    if (diag->top_weight) diag->top_weight[row] = 1.0 / z;
    if (diag->entropy) diag->entropy[row] = log(z) - state[DS_LSE_ZL] / z;
}

// One row of the empirical denoiser over every training row (work: n + DS_LSE_HEAD + d).
static void empirical_row(const ds_bound_model *bm, const double *x, double sigma, double *out,
                          double *work) {
    double *state = work + bm->n;
    empirical_state(bm, x, sigma, state, work);
    empirical_finish(bm->m, state, out, NULL, 0);
}

// Applies the linear map of Gaussian component c to dx = x - mu_c:
// out = mu_c + U diag(f) U^T dx + g (dx - U U^T dx); proj receives U^T dx.
static void gauss_apply(const ds_model *m, int64_t c, const double *dx, const double *f, double g,
                        double *proj, double *out) {
    int64_t d = m->d, r = m->r;
    const double *u = m->eigvecs + c * d * r, *mu = m->means + c * d;
    for (int64_t j = 0; j < r; j++) proj[j] = 0;
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < r; j++) proj[j] += u[i * r + j] * dx[i];
    for (int64_t i = 0; i < d; i++) {
        double in_span = 0, scaled = 0;
        for (int64_t j = 0; j < r; j++) {
            in_span += u[i * r + j] * proj[j];
            scaled += u[i * r + j] * f[j] * proj[j];
        }
        out[i] = mu[i] + scaled + (r < d ? g * (dx[i] - in_span) : 0.0);
    }
}

// One row of the mixture denoiser: D = sum_c rho_c D_c with rho the posterior of the
// components under N(mu_c, Sigma_c + sigma^2 I).
static void gmm_row(const ds_model *m, const double *x, double sigma, double *out, double *work) {
    int64_t d = m->d, r = m->r, k = m->k;
    double s2 = sigma * sigma;
    double *dx = work, *proj = dx + d, *f = proj + r, *dc = f + r, *logp = dc + d * k;
    double max = -DBL_MAX;
    for (int64_t c = 0; c < k; c++) {
        const double *lam = m->eigvals + c * r, res = m->residual[c];
        double sq = 0;
        for (int64_t i = 0; i < d; i++) {
            dx[i] = x[i] - m->means[c * d + i];
            sq += dx[i] * dx[i];
        }
        for (int64_t j = 0; j < r; j++) f[j] = lam[j] / (lam[j] + s2);
        gauss_apply(m, c, dx, f, res / (res + s2), proj, dc + c * d);
        double quad = 0, logdet = 0, in_sq = 0;
        for (int64_t j = 0; j < r; j++) {
            quad += proj[j] * proj[j] / (lam[j] + s2);
            logdet += log(lam[j] + s2);
            in_sq += proj[j] * proj[j];
        }
        if (r < d) {
            quad += fmax(sq - in_sq, 0.0) / (res + s2);
            logdet += (double)(d - r) * log(res + s2);
        }
        logp[c] = log(m->weights[c]) - 0.5 * (quad + logdet);
        if (logp[c] > max) max = logp[c];
    }
    double z = 0;
    for (int64_t c = 0; c < k; c++) z += (logp[c] = exp(logp[c] - max));
    for (int64_t i = 0; i < d; i++) {
        double s = 0;
        for (int64_t c = 0; c < k; c++) s += logp[c] * dc[c * d + i];
        out[i] = s / z;
    }
}

// Per model row work of one denoise thread (doubles): N logits, a state and two rows for
// the models that hold the training rows (pspc: N weights and a count per pixel; variance:
// also the N normals z_i), or the mixture's projections and component terms.
static int64_t ref_work_len(const ds_model *m) {
    if (m->kind == DS_MODEL_LINEAR_FEATURES) return 1; // its features live on the stack
    if (m->kind == DS_MODEL_VARIANCE) return 2 * m->data.n + DS_LSE_HEAD + 3 * m->d;
    return ds_model_holds_rows(m->kind) ? m->data.n + DS_LSE_HEAD + 3 * m->d
                                        : 2 * m->d + 2 * m->r + m->d * m->k + m->k;
}

// The centred training rows and their norms (doubles), beside the data set in its own
// dtype, which shares the host memory; a mixture is used where it lies. Each denoise
// thread has one work row, whatever the batch.
static void ref_memory(ds_backend *b, const ds_model *m, int64_t rows, ds_backend_memory *out) {
    (void)b;
    uint64_t n = ds_model_holds_rows(m->kind) ? (uint64_t)m->data.n : 0;
    out->model_bytes = sizeof(double) * n * ((uint64_t)m->d + 1);
    if (n) out->model_bytes += ds_backend_source_bytes(&m->data);
    out->batch_bytes = sizeof(double) * (uint64_t)omp_get_max_threads() * (uint64_t)ref_work_len(m);
    if (m->kind == DS_MODEL_EMPIRICAL) // the batch's states (empirical_denoise)
        out->batch_bytes += sizeof(double) * (uint64_t)rows * (uint64_t)(DS_LSE_HEAD + m->d);
    out->available = ds_host_memory_available();
    out->available_what = "the available host memory";
}

// One row of a local model: output pixel j is the softmax-weighted mean of pixel j of
// the training rows, with logits -sum_n mask[n, j] (x_n - y_in)^2 / (2 sigma^2 T)
// (centred x and y: the differences are the same).
static void local_row(const ds_bound_model *bm, const ds_local_mask *mask, const double *x,
                      double sigma, double *out, double *logits) {
    const ds_model *m = bm->m;
    int64_t n = m->data.n, d = m->d;
    double scale = 1.0 / (2.0 * sigma * sigma * m->temperature);
    for (int64_t j = 0; j < d; j++) {
        double max = -DBL_MAX;
        for (int64_t i = 0; i < n; i++) {
            const double *y = bm->centred + i * d;
            double dist = 0;
            for (int64_t e = mask->start[j]; e < mask->start[j + 1]; e++) {
                int64_t p = mask->row[e];
                double diff = (x[p] - m->mean[p]) - y[p];
                dist += mask->weight[e] * diff * diff;
            }
            logits[i] = -dist * scale;
            if (logits[i] > max) max = logits[i];
        }
        double z = 0, sum = 0;
        for (int64_t i = 0; i < n; i++) {
            double w = exp(logits[i] - max);
            z += w;
            sum += w * bm->centred[i * d + j];
        }
        out[j] = sum / z + m->mean[j];
    }
}

// One row of the smoothed model: the mean of the empirical denoiser over the queries
// x + a eps_c, a = smoothing sqrt(1 + sigma^2); work holds n + 2 d values.
static void smoothed_row(const ds_bound_model *bm, const double *x, double sigma, double *out,
                         double *work) {
    const ds_model *m = bm->m;
    int64_t d = m->d, samples = m->smoothing_samples;
    double a = ds_smoothed_scale(m, sigma), *query = work + bm->n + DS_LSE_HEAD + d;
    double *d_c = query + d;
    for (int64_t j = 0; j < d; j++) out[j] = 0;
    for (int64_t c = 0; c < samples; c++) {
        for (int64_t j = 0; j < d; j++) query[j] = x[j] + a * bm->eps[c * d + j];
        empirical_row(bm, query, sigma, d_c, work);
        for (int64_t j = 0; j < d; j++) out[j] += d_c[j] / (double)samples;
    }
}

// One row of the variance model (host/models/model_variance.c): out = D + sqrt(kappa)
// sum_i a_i (y_i - D), a_i = sqrt(w_i) z_i(sigma), as P + S (mean - D) with
// P = sum_i a_i (y_i - mean) and S = sum_i a_i; work: empirical_row's (n + DS_LSE_HEAD +
// d), P (d), then the n normals.
static void variance_row(const ds_bound_model *bm, const double *x, double sigma, double *out,
                         double *work) {
    const ds_model *m = bm->m;
    int64_t n = m->data.n, d = m->d;
    double *w = work, *p = work + n + DS_LSE_HEAD + d, *z = p + 2 * d, s = 0;
    empirical_row(bm, x, sigma, out, work); // w: the unnormalised weights
    double total = work[n + DS_LSE_Z];
    ds_variance_z(m, sigma, z);
    for (int64_t j = 0; j < d; j++) p[j] = 0;
    for (int64_t i = 0; i < n; i++) {
        double a = sqrt(w[i] / total) * z[i];
        s += a;
        for (int64_t j = 0; j < d; j++) p[j] += a * bm->centred[i * d + j];
    }
    double scale = sqrt(m->variance);
    for (int64_t j = 0; j < d; j++) out[j] += scale * (p[j] + s * (m->mean[j] - out[j]));
}

// The nearest training row (float64 squared distances; the first of equals).
static void nearest_row(const ds_bound_model *bm, const double *x, double *out) {
    const ds_model *m = bm->m;
    int64_t n = m->data.n, d = m->d, best = 0;
    double best_sq = DBL_MAX;
    for (int64_t i = 0; i < n; i++) {
        double sq = 0;
        for (int64_t j = 0; j < d; j++) {
            double diff = x[j] - m->mean[j] - bm->centred[i * d + j];
            sq += diff * diff;
        }
        if (sq < best_sq) best_sq = sq, best = i;
    }
    ds_data_rows_f64(&m->data, best, 1, out);
}

// About the operations of one row's denoiser: over the training rows for the models that
// keep them, over the components' factors for the mixtures.
static double ref_row_work(const ds_model *m) {
    if (m->kind == DS_MODEL_LINEAR_FEATURES)
        return 2.0 * (double)(m->d + 1) * (double)linear_features_count(m->d, m->features_per_axis);
    if (ds_model_holds_rows(m->kind))
        return 2.0 * (double)m->data.n * (double)m->d *
               (m->kind == DS_MODEL_SMOOTHED ? (double)m->smoothing_samples : 1.0);
    return 2.0 * (double)m->k * (double)m->d * (double)(m->r + 1);
}

// Local models: rows that share a sigma share one mask, built once for the run.
static int local_denoise(const ds_bound_model *bm, const ds_batch *x, const double *sigma,
                         int64_t n_sigma, ds_batch *out) {
    int64_t d = bm->m->d, rows = x->rows;
    for (int64_t first = 0; first < rows;) {
        double s = sigma[n_sigma == 1 ? 0 : first];
        int64_t end = first + 1;
        while (end < rows && (n_sigma == 1 || sigma[end] == s)) end++;
        ds_local_mask mask;
        DS_TRY(ds_local_mask_build(bm->m, s, &mask));
        // One logits row per thread, allocated here so that a failure is this thread's error.
        int threads = ds_threads_for(ref_row_work(bm->m) * (double)(end - first));
        size_t n = (size_t)bm->m->data.n;
        double *logits = ds_try_alloc((size_t)threads * n, sizeof(double), "ref denoise");
        if (!logits) {
            ds_local_mask_free(&mask);
            return -1;
        }
#pragma omp parallel num_threads(threads)
        {
            double *mine = logits + (size_t)omp_get_thread_num() * n;
#pragma omp for schedule(dynamic)
            for (int64_t i = first; i < end; i++)
                local_row(bm, &mask, (const double *)x->data + i * d, s,
                          (double *)out->data + i * d, mine);
        }
        free(logits);
        ds_local_mask_free(&mask);
        first = end;
    }
    return 0;
}

// The empirical denoiser of a batch: each row's state over the rows held, merged over the
// ranks under --shard-data, then D and the diagnostics.
static int empirical_denoise(const ds_bound_model *bm, const ds_batch *x, const double *sigma,
                             int64_t n_sigma, ds_batch *out, ds_diag *diag) {
    const ds_model *m = bm->m;
    int64_t d = m->d, rows = x->rows, width = DS_LSE_HEAD + d;
    int threads = omp_get_max_threads(); // the states, then N logits per thread
    size_t count = (size_t)(rows * width) + (size_t)threads * (size_t)bm->n;
    double *states = ds_try_alloc(count, sizeof(double), "ref empirical denoiser");
    if (!states) return -1;
#pragma omp parallel num_threads(threads)
    {
        double *logits = states + rows * width + (size_t)omp_get_thread_num() * (size_t)bm->n;
#pragma omp for schedule(dynamic)
        for (int64_t i = 0; i < rows; i++)
            empirical_state(bm, (const double *)x->data + i * d, sigma[n_sigma == 1 ? 0 : i],
                            states + i * width, logits);
    }
    int rc = bm->sharded ? ds_dist_lse_merge(states, rows, d) : 0;
    for (int64_t i = 0; !rc && i < rows; i++)
        empirical_finish(m, states + i * width, (double *)out->data + i * d, diag, i);
    free(states);
    return rc;
}

static int ref_denoise(ds_backend *b, ds_bound_model *bm, const ds_batch *x, const double *sigma,
                       int64_t n_sigma, ds_batch *out, ds_diag *diag) {
    (void)b;
    const ds_model *m = bm->m;
    DS_TRY(ds_backend_check_denoise("ref denoise", m, x, sigma, n_sigma, out));
    if (ds_model_is_local(m->kind)) return local_denoise(bm, x, sigma, n_sigma, out);
    if (m->kind == DS_MODEL_EMPIRICAL) return empirical_denoise(bm, x, sigma, n_sigma, out, diag);
    int64_t d = m->d, rows = x->rows;
    size_t work_len = (size_t)ref_work_len(m);
    int threads = ds_threads_for(ref_row_work(m) * (double)rows); // one work row each, here
    double *works = ds_try_alloc((size_t)threads * work_len, sizeof(double), "ref denoise");
    if (!works) return -1;
#pragma omp parallel num_threads(threads)
    {
        double *work = works + (size_t)omp_get_thread_num() * work_len;
#pragma omp for schedule(dynamic)
        for (int64_t i = 0; i < rows; i++) {
            const double *xi = (const double *)x->data + i * d;
            double *oi = (double *)out->data + i * d, s = sigma[n_sigma == 1 ? 0 : i];
            if (m->kind == DS_MODEL_NEAREST)
                nearest_row(bm, xi, oi);
            else if (m->kind == DS_MODEL_SMOOTHED)
                smoothed_row(bm, xi, s, oi, work);
            else if (m->kind == DS_MODEL_VARIANCE)
                variance_row(bm, xi, s, oi, work);
            else if (m->kind == DS_MODEL_ELS)
                ref_els_row(m, xi, s, oi);
            else if (m->kind == DS_MODEL_PSPC)
                ref_pspc_row(m, xi, s, oi, work);
            else if (m->kind == DS_MODEL_LINEAR_FEATURES)
                linear_features_row(m, xi, s, oi);
            else
                gmm_row(m, xi, s, oi, work);
        }
    }
    free(works);
    return 0;
}

static int ref_gaussian_flow(ds_backend *b, ds_bound_model *bm, const ds_batch *x,
                             double sigma_from, double sigma_to, ds_batch *out) {
    (void)b;
    const ds_model *m = bm->m;
    DS_TRY(ds_backend_check_flow("ref gaussian flow", m, x, sigma_from, sigma_to, out));
    int64_t d = m->d, r = m->r;
    double a2 = sigma_from * sigma_from, b2 = sigma_to * sigma_to;
    // f, then one row of d + r per thread (allocated here: a failure is this thread's error).
    int threads = ds_threads_for(2.0 * (double)x->rows * (double)d * (double)(r + 1));
    size_t row = (size_t)(d + r);
    double *f = ds_try_alloc((size_t)r + (size_t)threads * row, sizeof(double), "ref flow");
    if (!f) return -1;
    for (int64_t j = 0; j < r; j++) f[j] = sqrt((m->eigvals[j] + b2) / (m->eigvals[j] + a2));
    double g = sqrt((m->residual[0] + b2) / (m->residual[0] + a2));
#pragma omp parallel num_threads(threads)
    {
        double *dx = f + r + (size_t)omp_get_thread_num() * row, *proj = dx + d;
#pragma omp for
        for (int64_t i = 0; i < x->rows; i++) {
            const double *xi = (const double *)x->data + i * d;
            for (int64_t j = 0; j < d; j++) dx[j] = xi[j] - m->means[j];
            gauss_apply(m, 0, dx, f, g, proj, (double *)out->data + i * d);
        }
    }
    free(f);
    return 0;
}

static void ref_destroy(ds_backend *b) {
    free(b);
}

ds_backend *ds_backend_ref_new(void) {
    ds_backend *b = ds_try_alloc(1, sizeof *b, "backend ref");
    if (!b) return NULL;
    b->name = "ref";
    b->f64 = 1;
    b->bind = ref_bind;
    b->unbind = ref_unbind;
    b->batch_new = ref_batch_new;
    b->batch_free = ds_host_batch_free;
    b->memory = ref_memory;
    b->upload = ref_upload;
    b->download = ref_download;
    b->copy = ref_copy;
    b->move_rows = ds_host_move_rows;
    b->lincomb = ref_lincomb;
    b->randn = ref_randn;
    b->denoise = ref_denoise;
    b->gaussian_flow = ref_gaussian_flow;
    b->destroy = ref_destroy;
    return b;
}
