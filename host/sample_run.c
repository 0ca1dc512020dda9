// A sampling run: the schedule, the teleport plan, then batch by batch: noise, the jump
// with the Gaussian flow, the solver, and the samples handed to the caller.
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ds_error.h"
#include "ds_sample.h"

void ds_sample_config_default(ds_sample_config *c) {
    memset(c, 0, sizeof *c);
    ds_solver_opts_default(&c->solver);
    ds_schedule_opts_default(&c->schedule);
    c->n = 16;
    c->batch = 256;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int check_config(const ds_model *model, const ds_model *gauss, const ds_sample_config *c,
                        int teleporting) {
    if (c->n < 1) return ds_fail("sample: --n must be >= 1 (got %lld)", (long long)c->n);
    if (c->batch < 1)
        return ds_fail("sample: --batch must be >= 1 (got %lld)", (long long)c->batch);
    if (c->first_row < 0) return ds_fail("sample: the first row must be >= 0");
    if (!ds_solver_known(c->solver.solver))
        return ds_fail("unknown sampler '%s' (expected euler, heun, dpm2, dpmpp2m, dpmpp3m, unipc, "
                       "ipndm, ipndm_v, deis, lms or adaptive)",
                       c->solver.solver);
    if (!teleporting) return 0;
    if (!gauss || gauss->kind != DS_MODEL_GAUSSIAN || gauss->k != 1)
        return ds_fail("teleport: needs a Gaussian model (one component)");
    if (gauss->d != model->d)
        return ds_fail("teleport: the Gaussian has d = %lld but the model d = %lld",
                       (long long)gauss->d, (long long)model->d);
    return 0;
}

// Fills x with rows [first, first + rows) of the run's starting noise times sigma_0.
static void start_noise(ds_backend *b, const ds_sample_config *c, int64_t first, ds_batch *x,
                        double sigma0) {
    if (c->noise)
        b->upload(b, x, c->noise + first * x->cols);
    else
        b->randn(b, x, c->seed, c->first_row + first);
    const ds_batch *in[1] = {x};
    b->lincomb(b, x, 1, &sigma0, in);
}

int ds_sample_run(ds_backend *b, const ds_model *model, const ds_model *gauss,
                  const ds_sample_config *c, ds_batch_done done, void *user, ds_sample_result *r) {
    memset(r, 0, sizeof *r);
    int teleporting = c->teleport.sigma > 0 || c->teleport.fraction > 0;
    DS_TRY(check_config(model, gauss, c, teleporting));
    double t0 = now_seconds();
    ds_solver_ctx ctx = {.b = b, .model = b->bind(b, model)};
    if (!ctx.model) return -1;
    ds_bound_model *gbm = NULL;
    double *run = NULL, *host = NULL;
    int n_run = 0, rc = ds_schedule_build(&c->schedule, &ctx, &c->solver, &r->sigmas, &r->n_sigmas);
    if (!rc) rc = ds_solver_count_nfe(&c->solver, r->sigmas, r->n_sigmas, &r->nfe_full);
    if (!rc) rc = ds_teleport_schedule(r->sigmas, r->n_sigmas, &c->teleport, &run, &n_run);
    if (!rc && teleporting && !(gbm = b->bind(b, gauss))) rc = -1;
    if (!rc && c->record_trajectory)
        rc = ds_trajectory_init(&r->trajectory, b, run, n_run, c->n, model->d);
    if (!rc) {
        r->sigma_start = run[0];
        host = ds_alloc((size_t)(c->batch < c->n ? c->batch : c->n) * (size_t)model->d,
                        sizeof(double));
    }
    if (c->record_trajectory) ctx.on_step = ds_trajectory_hook, ctx.user = &r->trajectory;
    for (int64_t first = 0; !rc && first < c->n; first += c->batch) {
        int64_t rows = c->n - first < c->batch ? c->n - first : c->batch;
        ds_batch *x = b->batch_new(b, rows, model->d);
        start_noise(b, c, first, x, r->sigmas[0]);
        if (teleporting) rc = b->gaussian_flow(b, gbm, x, r->sigmas[0], run[0], x);
        ctx.nfe = 0;
        r->trajectory.first_row = first;
        if (!rc) rc = ds_solve(&ctx, &c->solver, run, n_run, x);
        if (!rc) {
            r->nfe = ctx.nfe > r->nfe ? ctx.nfe : r->nfe;
            r->batch_calls += ctx.nfe;
            b->download(b, x, host);
            if (done) rc = done(user, c->first_row + first, rows, host);
        }
        b->batch_free(b, x);
    }
    r->seconds = now_seconds() - t0;
    free(host);
    free(run);
    if (gbm) b->unbind(b, gbm);
    b->unbind(b, ctx.model);
    return rc;
}

void ds_sample_result_free(ds_sample_result *r) {
    free(r->sigmas);
    ds_trajectory_free(&r->trajectory);
    memset(r, 0, sizeof *r);
}
