// A sampling run: the schedule, the teleport plan, then batch by batch: noise, the jump
// with the Gaussian flow, the solver, and the samples handed to the caller.
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist.h"
#include "ds_error.h"
#include "progress.h"
#include "ds_sample.h"
#include "sample_merge.h"

void ds_sample_config_default(ds_sample_config *c) {
    memset(c, 0, sizeof *c);
    ds_solver_opts_default(&c->solver);
    ds_schedule_opts_default(&c->schedule);
    c->n = 16;
    c->batch = 256;
    c->landing_eps = 1e-8; // derivation in host/solvers/landing.c
    // Pruning changes an evaluation by <= 2 eps R / |D| relative (cpu_prune.c): with
    // 1e-12, far below float rounding; it costs nothing where it does not pay.
    c->prune_eps = 1e-12;
}

static int check_config(const ds_model *model, const ds_model *gauss, const ds_sample_config *c,
                        int teleporting) {
    if (c->n < 1) return ds_fail("sample: --n must be >= 1 (got %lld)", (long long)c->n);
    if (c->batch < 1)
        return ds_fail("sample: --batch must be >= 1 (got %lld)", (long long)c->batch);
    if (c->first_row < 0) return ds_fail("sample: the first row must be >= 0");
    if (!teleporting) return 0;
    if (!gauss || gauss->kind != DS_MODEL_GAUSSIAN || gauss->k != 1)
        return ds_fail("teleport: needs a Gaussian model (one component)");
    if (gauss->d != model->d)
        return ds_fail("teleport: the Gaussian has d = %lld but the model d = %lld",
                       (long long)gauss->d, (long long)model->d);
    return 0;
}

// Fills x with rows [first, first + rows) of the run's starting noise times sigma_0.
static int start_noise(ds_backend *b, const ds_sample_config *c, int64_t first, ds_batch *x,
                       double sigma0) {
    if (c->noise)
        DS_TRY(b->upload(b, x, c->noise + first * x->cols));
    else
        DS_TRY(b->randn(b, x, c->seed, c->first_row + first));
    const ds_batch *in[1] = {x};
    return b->lincomb(b, x, 1, &sigma0, in);
}

// What a run needs besides its config: the solver context on the bound model, the bound
// Gaussian, the schedule left after the jump, and a host buffer for one batch.
typedef struct {
    ds_solver_ctx ctx;
    ds_bound_model *gauss;
    double *run;
    int n_run;
    int64_t d;
    double *host;
    ds_landing landing;
} run_state;

// Per-sample landing results of the batch whose rows start at first.
static void record_landing(const ds_landing *l, int64_t first, ds_sample_result *r) {
    for (int64_t i = 0; i < l->rows; i++) {
        r->landing_sigma[first + i] = l->sigma[i];
        r->landed_on[first + i] = l->top[i];
        r->sample_nfe[first + i] = l->nfe[i];
    }
}

// One batch of rows [first, first + rows): noise, the jump, the solver, the callback.
static int run_batch(run_state *st, const ds_sample_config *c, int64_t first, int64_t rows,
                     ds_batch_done done, void *user, ds_sample_result *r) {
    ds_backend *b = st->ctx.b;
    ds_batch *x = b->batch_new(b, rows, st->d);
    if (!x) return ds_fail("sample: a batch of %lld rows: %s", (long long)rows, ds_error());
    int rc = start_noise(b, c, first, x, r->sigmas[0]);
    if (st->gauss && !rc) rc = b->gaussian_flow(b, st->gauss, x, r->sigmas[0], st->run[0], x);
    st->ctx.nfe = 0, st->ctx.draws = 0;
    st->ctx.first_row = c->first_row + first; // the step noise of row i: (seed, draw, i)
    r->trajectory.first_row = first;
    if (st->ctx.landing && !rc) rc = ds_landing_reset(st->ctx.landing, rows);
    if (!rc) rc = ds_solve(&st->ctx, &c->solver, st->run, st->n_run, x);
    if (!rc) {
        if (st->ctx.landing)
            record_landing(st->ctx.landing, first, r);
        else
            for (int64_t i = 0; i < rows; i++) r->sample_nfe[first + i] = st->ctx.nfe;
        r->nfe = st->ctx.nfe > r->nfe ? st->ctx.nfe : r->nfe;
        r->batch_calls += st->ctx.nfe;
        rc = b->download(b, x, st->host);
        if (done && !rc) rc = done(user, c->first_row + first, rows, st->host);
    }
    b->batch_free(b, x);
    return rc;
}

// The plan (the schedule, the schedule after the jump, the NFE without it), the bound
// Gaussian and the trajectory buffers.
static int prepare(run_state *st, const ds_model *gauss, const ds_sample_config *c,
                   ds_sample_result *r) {
    ds_backend *b = st->ctx.b;
    ds_sample_plan plan;
    DS_TRY(ds_sample_plan_make(c, &st->ctx, st->d, &plan));
    r->sigmas = plan.sigmas, r->n_sigmas = plan.n_sigmas, r->nfe_full = plan.nfe_full;
    st->run = plan.run, st->n_run = plan.n_run;
    r->sigma_start = st->run[0];
    if (gauss && !(st->gauss = b->bind(b, gauss))) return -1;
    if (c->record_trajectory) {
        DS_TRY(ds_trajectory_init(&r->trajectory, b, st->run, st->n_run, c->n, st->d));
        st->ctx.on_step = ds_trajectory_hook, st->ctx.user = &r->trajectory;
    }
    int64_t cap = c->batch < c->n ? c->batch : c->n;
    st->host = ds_try_alloc((size_t)cap * (size_t)st->d, sizeof(double), "sample");
    r->n_samples = c->n;
    r->landing_sigma = ds_try_alloc((size_t)c->n, sizeof(double), "sample");
    r->landed_on = ds_try_alloc((size_t)c->n, sizeof(int64_t), "sample");
    r->sample_nfe = ds_try_alloc((size_t)c->n, sizeof(int64_t), "sample");
    if (!st->host || !r->landing_sigma || !r->landed_on || !r->sample_nfe) return -1;
    for (int64_t i = 0; i < c->n; i++) r->landed_on[i] = -1, r->sample_nfe[i] = -1;
    return 0;
}

// Landing is on for the empirical model with a deterministic solver unless turned off;
// other models and the stochastic samplers (whose noise leaves the certified line) run
// without it.
static int lands(const ds_model *model, const ds_sample_config *c) {
    return !c->no_landing && model->kind == DS_MODEL_EMPIRICAL && !ds_solver_stochastic(&c->solver);
}

int ds_sample_landing_batches(const ds_model *model, const ds_sample_config *c) {
    return lands(model, c) ? 3 : 0; // x_live, d_live, y_landed
}

static int prepare_landing(run_state *st, const ds_model *model, const ds_sample_config *c,
                           ds_sample_result *r) {
    if (!lands(model, c)) return 0;
    int64_t cap = c->batch < c->n ? c->batch : c->n;
    DS_TRY(ds_landing_init(&st->landing, st->ctx.b, model, cap, c->landing_eps));
    st->ctx.landing = &st->landing;
    r->landing = 1;
    return 0;
}

// Pruning is on for the empirical model where the backend has it on by default, unless
// turned off; required (--prune) on a backend without it, an error rather than a dense run.
static int prepare_pruning(run_state *st, const ds_model *model, const ds_sample_config *c,
                           ds_sample_result *r) {
    ds_backend *b = st->ctx.b;
    if (c->prune < 0 || model->kind != DS_MODEL_EMPIRICAL) return 0;
    // --shard-data: each rank holds part of the rows, and the cpu backend refuses
    // pruning there (cpu_empirical.c); by default the run is then unpruned.
    // Streamed rows (data beyond --max-memory) likewise: no float copy to prune with.
    if (c->prune == 0 && (ds_dist_data_sharding() || model->stream_rows)) return 0;
    if (!b->prune) {
        if (c->prune == 0) return 0;
        return ds_fail("sample: --prune: backend %s evaluates every training row (pruning is "
                       "on cpu and cuda)",
                       b->name);
    }
    if (c->prune == 0 && !b->prune_default) return 0;
    DS_TRY(b->prune(b, st->ctx.model, c->prune_eps, &r->prune));
    r->pruning = 1;
    return 0;
}

static void summarise_nfe(ds_sample_result *r) {
    int64_t runs = 0, total = 0;
    r->landed = 0;
    for (int64_t i = 0; i < r->n_samples; i++) {
        if (r->sample_nfe[i] < 0) continue;
        runs++, total += r->sample_nfe[i];
        r->landed += r->landing_sigma[i] > 0;
    }
    r->nfe_mean = runs ? (double)total / (double)runs : 0;
}

int ds_sample_run(ds_backend *b, const ds_model *model, const ds_model *gauss,
                  const ds_sample_config *c, ds_batch_done done, void *user, ds_sample_result *r) {
    memset(r, 0, sizeof *r);
    int teleporting = c->teleport.sigma > 0 || c->teleport.fraction > 0;
    DS_TRY(check_config(model, gauss, c, teleporting));
    double t0 = ds_seconds();
    run_state st = {.ctx = {.b = b,
                            .model = b->bind(b, model),
                            .cancel = c->cancel,
                            .cancel_user = c->cancel_user,
                            .seed = c->seed},
                    .d = model->d};
    int64_t draws = 0;
    ds_step_noise step_noise = {c->step_noise, 0, c->n, model->d, c->first_row};
    if (c->step_noise) st.ctx.step_noise = &step_noise;
    if (!st.ctx.model) return -1;
    int rc = prepare(&st, teleporting ? gauss : NULL, c, r);
    if (!rc) rc = prepare_pruning(&st, model, c, r);
    if (!rc) rc = prepare_landing(&st, model, c, r);
    if (!rc && c->step_noise) rc = ds_solver_count_draws(&c->solver, st.run, st.n_run, &draws);
    if (!rc && c->step_noise && draws != c->step_noise_draws)
        rc = ds_fail("step noise: %lld draws per row given, but sampler %s makes %lld on this "
                     "schedule (expected an array of %lld x %lld x %lld)",
                     (long long)c->step_noise_draws, c->solver.solver, (long long)draws,
                     (long long)draws, (long long)c->n, (long long)model->d);
    step_noise.draws = draws;
    for (int64_t first = 0; !rc && first < c->n; first += c->batch)
        if (!c->skip || !c->skip[first / c->batch])
            rc = run_batch(&st, c, first, c->n - first < c->batch ? c->n - first : c->batch, done,
                           user, r);
    r->seconds = ds_seconds() - t0;
    if (!rc) summarise_nfe(r);
    ds_landing_free(&st.landing);
    free(st.host);
    free(st.run);
    if (st.gauss) b->unbind(b, st.gauss);
    b->unbind(b, st.ctx.model);
    return rc;
}

// Each sample ran on one rank; the others hold the marks of a sample not run (NFE -1,
// sigma 0, row -1), so the maximum over the ranks is the sample's own result.
// Pruning's counts add up over the ranks (the flops to the flop); its bounds and eps are
// the largest of any rank's.
static int merge_prune(ds_sample_result *r) {
    ds_prune_stats *p = &r->prune;
    int64_t counts[6] = {p->queries,       p->queries_pruned, p->pairs,
                         p->pairs_skipped, (int64_t)p->flops, (int64_t)p->flops_dense};
    int64_t pruning = r->pruning;
    double bounds[3] = {p->mass_max, p->change_max, p->eps};
    DS_TRY(ds_dist_sum_i64(counts, 6));
    DS_TRY(ds_dist_max_i64(&pruning, 1));
    DS_TRY(ds_dist_max_f64(bounds, 3));
    *p = (ds_prune_stats){.eps = bounds[2],
                          .queries = counts[0],
                          .queries_pruned = counts[1],
                          .pairs = counts[2],
                          .pairs_skipped = counts[3],
                          .mass_max = bounds[0],
                          .change_max = bounds[1],
                          .flops = (double)counts[4],
                          .flops_dense = (double)counts[5]};
    r->pruning = (int)pruning;
    return 0;
}

int ds_sample_result_merge(ds_sample_result *r) {
    int64_t n = r->n_samples, calls = r->batch_calls;
    DS_TRY(merge_prune(r));
    DS_TRY(ds_dist_max_i64(r->sample_nfe, n));
    DS_TRY(ds_dist_max_i64(r->landed_on, n));
    DS_TRY(ds_dist_max_f64(r->landing_sigma, n));
    DS_TRY(ds_dist_max_i64(&r->nfe, 1));
    DS_TRY(ds_dist_sum_i64(&calls, 1));
    r->batch_calls = calls;
    summarise_nfe(r);
    return 0;
}

void ds_sample_result_free(ds_sample_result *r) {
    free(r->sigmas);
    free(r->landing_sigma);
    free(r->landed_on);
    free(r->sample_nfe);
    ds_trajectory_free(&r->trajectory);
    memset(r, 0, sizeof *r);
}
