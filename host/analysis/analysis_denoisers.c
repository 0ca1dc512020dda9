// Denoiser comparison across noise levels: how far models' denoisers are from a
// reference model's on noisy versions of given points, and where they part ways.
#include <math.h>
#include <stdlib.h>

#include "ds_analysis.h"
#include "ds_error.h"

typedef struct {
    ds_batch *y, *noise, *x, *den;
    double *hx, *href, *hm;
} compare_buffers;

static int buffers_new(ds_backend *be, int64_t n, int64_t d, compare_buffers *c) {
    *c = (compare_buffers){0};
    c->y = be->batch_new(be, n, d);
    c->noise = be->batch_new(be, n, d);
    c->x = be->batch_new(be, n, d);
    c->den = be->batch_new(be, n, d);
    c->hx = ds_try_alloc((size_t)(n * d), sizeof(double), "noisy points");
    c->href = ds_try_alloc((size_t)(n * d), sizeof(double), "denoised points");
    c->hm = ds_try_alloc((size_t)(n * d), sizeof(double), "denoised points");
    if (c->y && c->noise && c->x && c->den && c->hx && c->href && c->hm) return 0;
    return c->hx && c->href && c->hm ? ds_fail("denoiser comparison: cannot allocate %lld x %lld "
                                               "batches on backend %s",
                                               (long long)n, (long long)d, be->name)
                                     : -1;
}

static void buffers_free(ds_backend *be, compare_buffers *c) {
    ds_batch *batches[] = {c->y, c->noise, c->x, c->den};
    for (int i = 0; i < 4; i++)
        if (batches[i]) be->batch_free(be, batches[i]);
    free(c->hx);
    free(c->href);
    free(c->hm);
}

// One noise level: x = y + sigma n, the reference denoiser, then each model against it.
static int compare_at(ds_backend *be, ds_bound_model *const *models, int n_models,
                      compare_buffers *c, int64_t count, double sigma, int s, int n_sigmas,
                      double *rel_diff, double *score_ev) {
    const double coef[2] = {1.0, sigma};
    const ds_batch *in[2] = {c->y, c->noise};
    DS_TRY(be->lincomb(be, c->x, 2, coef, in));
    DS_TRY(be->download(be, c->x, c->hx));
    DS_TRY(be->denoise(be, models[0], c->x, &sigma, 1, c->den, NULL));
    DS_TRY(be->download(be, c->den, c->href));
    double norm = 0, score = 0;
    for (int64_t e = 0; e < count; e++) {
        norm += c->href[e] * c->href[e];
        score += (c->href[e] - c->hx[e]) * (c->href[e] - c->hx[e]);
    }
    for (int m = 1; m < n_models; m++) {
        DS_TRY(be->denoise(be, models[m], c->x, &sigma, 1, c->den, NULL));
        DS_TRY(be->download(be, c->den, c->hm));
        double diff = 0;
        for (int64_t e = 0; e < count; e++)
            diff += (c->hm[e] - c->href[e]) * (c->hm[e] - c->href[e]);
        int64_t at = (int64_t)(m - 1) * n_sigmas + s;
        if (rel_diff) rel_diff[at] = sqrt(diff / norm);
        if (score_ev) score_ev[at] = 1.0 - diff / score;
    }
    return 0;
}

int ds_denoiser_diff(ds_backend *be, ds_bound_model *const *models, int n_models, const double *y,
                     int64_t n, int64_t d, const double *sigmas, int n_sigmas, uint64_t seed,
                     double *rel_diff, double *score_ev) {
    if (n < 1 || n_sigmas < 1 || n_models < 2)
        return ds_fail("denoiser comparison: %lld points, %d noise levels, %d models (expected "
                       "at least 1, 1 and 2)",
                       (long long)n, n_sigmas, n_models);
    compare_buffers c;
    int rc = buffers_new(be, n, d, &c);
    if (rc == 0) rc = be->upload(be, c.y, y);
    if (rc == 0) rc = be->randn(be, c.noise, seed, 0);
    for (int s = 0; rc == 0 && s < n_sigmas; s++)
        rc =
            compare_at(be, models, n_models, &c, n * d, sigmas[s], s, n_sigmas, rel_diff, score_ev);
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
