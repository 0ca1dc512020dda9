// Denoiser comparison across noise levels: how far one model's denoiser is from a
// reference model's on noisy versions of given points, and where they part ways.
#include <math.h>
#include <stdlib.h>

#include "ds_analysis.h"
#include "ds_error.h"

typedef struct {
    ds_batch *y, *noise, *x, *da, *dref;
    double *hx, *ha, *href;
} compare_buffers;

static void buffers_free(ds_backend *be, compare_buffers *c) {
    ds_batch *batches[] = {c->y, c->noise, c->x, c->da, c->dref};
    for (int i = 0; i < 5; i++)
        if (batches[i]) be->batch_free(be, batches[i]);
    free(c->hx);
    free(c->ha);
    free(c->href);
}

// One noise level: x = y + sigma n, both denoisers, then the two measures on the host.
static int compare_at(ds_backend *be, ds_bound_model *a, ds_bound_model *ref, compare_buffers *c,
                      int64_t count, double sigma, double *rel_diff, double *score_ev) {
    const double coef[2] = {1.0, sigma};
    const ds_batch *in[2] = {c->y, c->noise};
    be->lincomb(be, c->x, 2, coef, in);
    DS_TRY(be->denoise(be, a, c->x, &sigma, 1, c->da, NULL));
    DS_TRY(be->denoise(be, ref, c->x, &sigma, 1, c->dref, NULL));
    be->download(be, c->x, c->hx);
    be->download(be, c->da, c->ha);
    be->download(be, c->dref, c->href);
    double diff = 0, norm = 0, score = 0;
    for (int64_t e = 0; e < count; e++) {
        double delta = c->ha[e] - c->href[e], s = c->href[e] - c->hx[e];
        diff += delta * delta;
        norm += c->href[e] * c->href[e];
        score += s * s;
    }
    *rel_diff = sqrt(diff / norm);
    *score_ev = 1.0 - diff / score;
    return 0;
}

int ds_denoiser_diff(ds_backend *be, ds_bound_model *a, ds_bound_model *ref, const double *y,
                     int64_t n, int64_t d, const double *sigmas, int n_sigmas, uint64_t seed,
                     double *rel_diff, double *score_ev) {
    if (n < 1 || n_sigmas < 1)
        return ds_fail("denoiser comparison: %lld points and %d noise levels (expected at least "
                       "1 of each)",
                       (long long)n, n_sigmas);
    compare_buffers c = {0};
    c.y = be->batch_new(be, n, d);
    c.noise = be->batch_new(be, n, d);
    c.x = be->batch_new(be, n, d);
    c.da = be->batch_new(be, n, d);
    c.dref = be->batch_new(be, n, d);
    c.hx = ds_try_alloc((size_t)(n * d), sizeof(double), "noisy points");
    c.ha = ds_try_alloc((size_t)(n * d), sizeof(double), "denoised points");
    c.href = ds_try_alloc((size_t)(n * d), sizeof(double), "denoised points");
    int rc = (c.y && c.noise && c.x && c.da && c.dref && c.hx && c.ha && c.href) ? 0 : -1;
    if (rc == 0) {
        be->upload(be, c.y, y);
        be->randn(be, c.noise, seed, 0);
    }
    for (int s = 0; rc == 0 && s < n_sigmas; s++) {
        double r = NAN, ev = NAN;
        rc = compare_at(be, a, ref, &c, n * d, sigmas[s], &r, &ev);
        if (rel_diff) rel_diff[s] = r;
        if (score_ev) score_ev[s] = ev;
    }
    buffers_free(be, &c);
    return rc;
}

double ds_crossover_sigma(const double *sigmas, const double *rel_diff, int n, double threshold) {
    for (int i = n - 1; i >= 0; i--) {
        if (!(rel_diff[i] > threshold)) continue;
        if (i == n - 1) return sigmas[i];
        // log rel_diff is taken as linear in log sigma between grid points i and i + 1.
        double l0 = log(rel_diff[i]), l1 = log(rel_diff[i + 1]), lt = log(threshold);
        if (!(l0 > l1) || !isfinite(l1)) return sigmas[i];
        double t = (l0 - lt) / (l0 - l1);
        return exp(log(sigmas[i]) + t * (log(sigmas[i + 1]) - log(sigmas[i])));
    }
    return NAN;
}
