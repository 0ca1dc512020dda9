// Steps shared by the multistep solvers.
#include <math.h>
#include <stdlib.h>

#include "ds_error.h"
#include "multistep.h"

int ms_history_init(ds_solver_ctx *c, ms_history *h, const ds_batch *like, int cap) {
    h->cap = cap;
    int rc = 0;
    for (int k = 0; k < cap; k++)
        if (!(h->v[k] = solver_batch_like(c, like))) rc = -1;
    return rc;
}

ds_batch *ms_history_next_slot(ms_history *h) {
    return h->v[h->cap - 1];
}

int ms_history_push(ds_solver_ctx *c, ms_history *h, const ds_batch *v, double sigma) {
    ds_batch *slot = h->v[h->cap - 1];
    for (int k = h->cap - 1; k > 0; k--) {
        h->v[k] = h->v[k - 1];
        h->sigma[k] = h->sigma[k - 1];
    }
    h->v[0] = slot;
    h->sigma[0] = sigma;
    return v != slot ? c->b->copy(c->b, slot, v) : 0;
}

void ms_history_free(ds_solver_ctx *c, ms_history *h) {
    for (int k = 0; k < h->cap; k++) solver_batch_free(c, h->v[k]);
    h->cap = 0;
}

int ms_positive_count(const double *sigmas, int n) {
    return sigmas[n - 1] == 0 ? n - 1 : n;
}

int ms_order(const ds_solver_opts *o, int def, int max_order) {
    int order = o->order ? o->order : def;
    if (order < 1 || order > max_order)
        return ds_fail("solver %s supports orders 1 to %d (got %d)", o->solver, max_order, order);
    return order;
}

int ms_denoise(ds_solver_ctx *c, const ds_solver_opts *o, int first, const ds_batch *x,
               double sigma, ds_batch *d) {
    if (!(first && o->afs)) return solver_denoise_state(c, x, sigma, d);
    // AFS takes the slope at sigma_0 to be x / sqrt(1 + sigma_0^2) (data mean 0, unit
    // variance), so D = x - sigma_0 * slope.
    double coef = 1.0 - sigma / sqrt(1.0 + sigma * sigma);
    const ds_batch *in[1] = {x};
    return c->b->lincomb(c->b, d, 1, &coef, in);
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// The p-quantile of n sorted values with linear interpolation (numpy's and torch's
// default).
static double sorted_quantile(const double *a, int64_t n, double p) {
    double pos = p * (double)(n - 1);
    int64_t lo = (int64_t)floor(pos), hi = lo + 1 < n ? lo + 1 : n - 1;
    return a[lo] + (pos - (double)lo) * (a[hi] - a[lo]);
}

int solver_threshold(ds_solver_ctx *c, const ds_solver_opts *o, ds_batch *d) {
    if (!o->dynamic_threshold) return 0;
    int64_t rows = d->rows, cols = d->cols;
    double *v = ds_try_alloc((size_t)(rows * cols), sizeof(double), "dynamic thresholding");
    double *sorted = ds_try_alloc((size_t)cols, sizeof(double), "dynamic thresholding");
    if (!v || !sorted) {
        free(v);
        free(sorted);
        return -1;
    }
    int rc = c->b->download(c->b, d, v);
    for (int64_t i = 0; !rc && i < rows; i++) {
        double *row = v + i * cols;
        for (int64_t j = 0; j < cols; j++) sorted[j] = fabs(row[j]);
        qsort(sorted, (size_t)cols, sizeof(double), compare_double);
        double s = fmax(sorted_quantile(sorted, cols, 0.995), 1.0);
        for (int64_t j = 0; j < cols; j++) row[j] = fmin(fmax(row[j], -s), s) / s;
    }
    if (!rc) rc = c->b->upload(c->b, d, v);
    free(sorted);
    free(v);
    return rc;
}

int ms_finish(ds_solver_ctx *c, const double *sigmas, int n, ds_batch *x, ds_batch *scratch) {
    if (sigmas[n - 1] == 0) {
        double s = sigmas[n - 2];
        DS_TRY(solver_denoise(c, x, s, scratch));
        DS_TRY(solver_record(c, n - 2, s, x, scratch));
        DS_TRY(c->b->copy(c->b, x, scratch));
    }
    return solver_record(c, n - 1, sigmas[n - 1], x, NULL);
}

int ms_lincomb(ds_solver_ctx *c, ds_batch *out, int n_extra, const double *extra_coef,
               const ds_batch *const *extra, const ms_history *h, int n_hist,
               const double *hist_coef) {
    double coef[DS_LINCOMB_MAX];
    const ds_batch *in[DS_LINCOMB_MAX];
    int n = 0;
    for (int k = 0; k < n_extra; k++, n++) coef[n] = extra_coef[k], in[n] = extra[k];
    for (int k = 0; k < n_hist; k++, n++) coef[n] = hist_coef[k], in[n] = h->v[k];
    return c->b->lincomb(c->b, out, n, coef, in);
}

int ms_adams_bashforth(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                       ds_batch *x, ms_ab_weights weights) {
    int order = ms_order(o, 4, 4);
    if (order < 0) return -1;
    int m = ms_positive_count(sigmas, n);
    ms_history h;
    int rc = ms_history_init(c, &h, x, order);
    ds_batch *d = solver_batch_like(c, x);
    if (!d) rc = -1;
    for (int i = 0; i + 1 < m && !rc; i++) {
        double s = sigmas[i], w[MS_HISTORY_MAX];
        rc = ms_denoise(c, o, i == 0, x, s, d);
        if (rc) break;
        if (!rc) rc = solver_record(c, i, s, x, d);
        ds_batch *slope = ms_history_next_slot(&h);
        rc = solver_axpby(c, slope, 1.0 / s, x, -1.0 / s, d);
        if (!rc) rc = ms_history_push(c, &h, slope, s);
        if (rc) break;
        int k = i + 1 < order ? i + 1 : order;
        weights(o, sigmas, i, k, w);
        const double one = 1.0;
        const ds_batch *xs[1] = {x};
        rc = ms_lincomb(c, x, 1, &one, xs, &h, k, w);
    }
    if (!rc) rc = ms_finish(c, sigmas, n, x, d);
    solver_batch_free(c, d);
    ms_history_free(c, &h);
    return rc;
}

double ms_lagrange(const double *nodes, int order, int j, double t) {
    double p = 1;
    for (int k = 0; k < order; k++)
        if (k != j) p *= (t - nodes[k]) / (nodes[j] - nodes[k]);
    return p;
}

void ms_lagrange_integral(const double *nodes, int order, double s_a, double s_b,
                          double (*map)(const void *ctx, double sigma), const void *ctx,
                          double *w) {
    static const double x8[4] = {0.1834346424956498, 0.5255324099163290, 0.7966664774136267,
                                 0.9602898564975363};
    static const double w8[4] = {0.3626837833783620, 0.3137066458778873, 0.2223810344533745,
                                 0.1012285362903763};
    const int panels = 16;
    double u0 = log(s_a), du = (log(s_b) - u0) / panels;
    for (int j = 0; j < order; j++) w[j] = 0;
    for (int p = 0; p < panels; p++) {
        double mid = u0 + (p + 0.5) * du;
        for (int q = 0; q < 8; q++) {
            double u = mid + (q < 4 ? -1 : 1) * x8[q % 4] * 0.5 * du;
            double sigma = exp(u), t = map ? map(ctx, sigma) : sigma;
            double f = w8[q % 4] * 0.5 * du * sigma;
            for (int j = 0; j < order; j++) w[j] += f * ms_lagrange(nodes, order, j, t);
        }
    }
}
