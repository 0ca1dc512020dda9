// Early perturbations matter more (Wang & Vastola): a run from fixed noise, restarted at
// every schedule point k from its own state x_k, once as it is and once with a
// perturbation of fixed relative size added, and the change of the final samples.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ds_analysis.h"
#include "ds_error.h"
#include "ds_philox.h"
#include "ds_sample.h"

void ds_flips(const ds_memorization *base, const ds_memorization *pert, int *flip, int *changed) {
    for (int64_t i = 0; i < base->b; i++) {
        changed[i] = pert->nearest[i] != base->nearest[i];
        flip[i] = changed[i] && pert->ratio[i] < DS_MEMORIZED_RATIO;
    }
}

typedef struct {
    double *rows; // n x d: the run's final samples
    int64_t d;
} collected;

static int collect(void *user, int64_t first_row, int64_t rows, const double *x) {
    collected *c = user;
    memcpy(c->rows + first_row * c->d, x, sizeof(double) * (size_t)(rows * c->d));
    return 0;
}

// The run of c restarted at schedule point k from the states x (n x d, at sigmas[k]):
// the schedule from k on as a list, the states as the starting noise (x / sigmas[k]).
static int restart(ds_backend *b, const ds_model *m, const ds_sample_config *c,
                   const double *sigmas, int points, int k, const double *x, double *noise,
                   double *final) {
    int64_t count = c->n * m->d;
    for (int64_t e = 0; e < count; e++) noise[e] = x[e] / sigmas[k];
    ds_sample_config rc = *c;
    rc.schedule.kind = "list", rc.schedule.list = sigmas + k, rc.schedule.n_list = points - k;
    rc.noise = noise, rc.record_trajectory = 0, rc.first_row = 0;
    collected out = {final, m->d};
    ds_sample_result r;
    int status = ds_sample_run(b, m, NULL, &rc, collect, &out, &r);
    ds_sample_result_free(&r);
    return status;
}

// x + size |x_i| u_i / |u_i| row by row, u_i the Philox normals of row i under key.
static void perturb(const double *x, int64_t n, int64_t d, double size, uint64_t key, double *out) {
    for (int64_t i = 0; i < n; i++) {
        const double *xi = x + i * d;
        double *oi = out + i * d, nx = 0, nu = 0;
        for (int64_t j = 0; j < d; j++) {
            oi[j] = ds_philox_normal(key, i, j);
            nu += oi[j] * oi[j];
            nx += xi[j] * xi[j];
        }
        double scale = nu > 0 ? size * sqrt(nx / nu) : 0;
        for (int64_t j = 0; j < d; j++) oi[j] = xi[j] + scale * oi[j];
    }
}

int ds_perturbation_run(ds_backend *b, const ds_model *m, const ds_sample_config *c, double size,
                        ds_perturbation *out) {
    memset(out, 0, sizeof *out);
    if (!(size > 0) || !isfinite(size))
        return ds_fail("perturbation: relative size %g (expected a finite value > 0)", size);
    if (ds_solver_stochastic(&c->solver))
        return ds_fail("perturbation: sampler %s draws noise (expected a deterministic sampler: "
                       "a restart must retrace the run)",
                       c->solver.solver);
    if (c->teleport.sigma > 0 || c->teleport.fraction > 0)
        return ds_fail("perturbation: a run with teleportation (expected none)");
    ds_sample_config full = *c;
    full.record_trajectory = 1;
    ds_sample_result r;
    if (ds_sample_run(b, m, NULL, &full, NULL, NULL, &r)) {
        ds_sample_result_free(&r);
        return -1;
    }
    const ds_trajectory *t = &r.trajectory;
    int64_t n = c->n, d = m->d, nd = n * d;
    int points = t->points, steps = points - 1;
    out->steps = steps, out->n = n, out->d = d, out->size = size;
    out->sigmas = ds_try_alloc((size_t)points, sizeof(double), "perturbation schedule");
    out->base = ds_try_alloc((size_t)nd, sizeof(double), "perturbation finals");
    out->restart = ds_try_alloc((size_t)(steps * nd), sizeof(double), "perturbation finals");
    out->perturbed = ds_try_alloc((size_t)(steps * nd), sizeof(double), "perturbation finals");
    out->change = ds_try_alloc((size_t)(steps * n), sizeof(double), "perturbation changes");
    double *noise = ds_try_alloc((size_t)(2 * nd), sizeof(double), "perturbation states");
    int rc =
        out->sigmas && out->base && out->restart && out->perturbed && out->change && noise ? 0 : -1;
    if (!rc) {
        memcpy(out->sigmas, t->sigmas, sizeof(double) * (size_t)points);
        memcpy(out->base, t->x + (size_t)(points - 1) * (size_t)nd, sizeof(double) * (size_t)nd);
    }
    uint64_t key = ds_philox_draw_key(c->seed, 0); // a stream apart from the starting noise
    for (int k = 0; k < steps && !rc; k++) {
        const double *xk = t->x + (size_t)k * (size_t)nd;
        double *fr = out->restart + k * nd, *fp = out->perturbed + k * nd, *moved = noise + nd;
        rc = restart(b, m, c, out->sigmas, points, k, xk, noise, fr);
        perturb(xk, n, d, size, key, moved);
        if (!rc) rc = restart(b, m, c, out->sigmas, points, k, moved, noise, fp);
        if (!rc) ds_rel_error_rows(fp, fr, n, d, out->change + k * n);
    }
    free(noise);
    ds_sample_result_free(&r);
    if (rc) ds_perturbation_free(out);
    return rc;
}

void ds_perturbation_free(ds_perturbation *p) {
    free(p->sigmas);
    free(p->base);
    free(p->restart);
    free(p->perturbed);
    free(p->change);
    memset(p, 0, sizeof *p);
}
