// Solver dispatch by name and the steps the solvers share.
#include <math.h>
#include <string.h>

#include "ds_error.h"
#include "ds_philox.h"
#include "solver.h"

// Which of the stochastic options a solver reads; any other one set is refused.
enum { USES_CHURN = 1, USES_ETA = 2, USES_R = 4 };

typedef struct {
    const char *name;
    solver_fn run;
    int uses;
} solver_entry;

static const solver_entry solvers[] = {
    {"euler", solver_euler, USES_CHURN},
    {"heun", solver_heun, USES_CHURN},
    {"dpm2", solver_dpm2, 0},
    {"dpmpp2m", solver_dpmpp2m, 0},
    {"dpmpp3m", solver_dpmpp3m, 0},
    {"lms", solver_lms, 0},
    {"adaptive", solver_adaptive, 0},
    {"unipc", solver_unipc, 0},
    {"ipndm", solver_ipndm, 0},
    {"ipndm_v", solver_ipndm_v, 0},
    {"deis", solver_deis, 0},
    {"euler_ancestral", solver_euler_ancestral, USES_ETA},
    {"dpmpp_sde", solver_dpmpp_sde, USES_ETA | USES_R},
    {"dpmpp2m_sde", solver_dpmpp2m_sde, USES_ETA},
    {"dpmpp3m_sde", solver_dpmpp3m_sde, USES_ETA},
};

void ds_solver_opts_default(ds_solver_opts *o) {
    memset(o, 0, sizeof *o);
    o->solver = "heun";
    o->lower_order_final = 1;
    o->variant = "bh2";
    o->rtol = 1e-5;
    o->atol = 1e-5;
    o->s_tmax = INFINITY;
    o->s_noise = 1;
    o->eta = 1;
    o->sde_r = 0.5;
}

static const solver_entry *find_solver(const char *name) {
    for (size_t i = 0; i < sizeof solvers / sizeof solvers[0]; i++)
        if (!strcmp(solvers[i].name, name)) return &solvers[i];
    return NULL;
}

int ds_solver_known(const char *name) {
    return find_solver(name) != NULL;
}

int ds_solver_stochastic(const ds_solver_opts *o) {
    const solver_entry *s = find_solver(o->solver);
    return s && ((s->uses & USES_ETA) || ((s->uses & USES_CHURN) && o->s_churn > 0));
}

// The stochastic options: in range, and set only for a solver that reads them.
static int check_stochastic(const solver_entry *s, const ds_solver_opts *o) {
    ds_solver_opts def;
    ds_solver_opts_default(&def);
    const char *n = s->name;
    if (!(s->uses & USES_CHURN) &&
        (o->s_churn != def.s_churn || o->s_tmin != def.s_tmin || o->s_tmax != def.s_tmax))
        return ds_fail("solver %s has no churn (s_churn, s_tmin, s_tmax are for euler and heun)",
                       n);
    if (!(s->uses & (USES_CHURN | USES_ETA)) && o->s_noise != def.s_noise)
        return ds_fail("solver %s draws no noise (s_noise is for euler and heun with churn and "
                       "the ancestral and SDE samplers)",
                       n);
    if (!(s->uses & USES_ETA) && o->eta != def.eta)
        return ds_fail("solver %s has no eta (eta is for euler_ancestral, dpmpp_sde, dpmpp2m_sde "
                       "and dpmpp3m_sde)",
                       n);
    if (!(s->uses & USES_R) && o->sde_r != def.sde_r)
        return ds_fail("solver %s has no r (r is for dpmpp_sde)", n);
    if (!(o->s_churn >= 0) || !isfinite(o->s_churn))
        return ds_fail("solver %s: s_churn must be finite and >= 0 (got %g)", n, o->s_churn);
    if (!(o->s_tmin >= 0) || !(o->s_tmin <= o->s_tmax))
        return ds_fail("solver %s: need 0 <= s_tmin <= s_tmax (got s_tmin %g, s_tmax %g)", n,
                       o->s_tmin, o->s_tmax);
    if (!(o->s_noise >= 0) || !isfinite(o->s_noise))
        return ds_fail("solver %s: s_noise must be finite and >= 0 (got %g)", n, o->s_noise);
    if (!(o->eta >= 0) || !isfinite(o->eta))
        return ds_fail("solver %s: eta must be finite and >= 0 (got %g)", n, o->eta);
    if (!(o->sde_r > 0 && o->sde_r < 1))
        return ds_fail("solver %s: r must lie in (0, 1) (got %g)", n, o->sde_r);
    return 0;
}

int ds_solve(ds_solver_ctx *ctx, const ds_solver_opts *o, const double *sigmas, int n_sigmas,
             ds_batch *x) {
    const solver_entry *s = find_solver(o->solver);
    if (!s) return ds_fail("unknown solver '%s'", o->solver);
    if (n_sigmas < 2) return ds_fail("schedule has %d sigmas (expected at least 2)", n_sigmas);
    for (int i = 0; i + 1 < n_sigmas; i++)
        if (!(sigmas[i] > sigmas[i + 1]) || !(sigmas[i + 1] >= 0))
            return ds_fail("sigmas must decrease strictly and stay >= 0 (sigma[%d] = %g, "
                           "sigma[%d] = %g)",
                           i, sigmas[i], i + 1, sigmas[i + 1]);
    DS_TRY(check_stochastic(s, o));
    return s->run(ctx, o, sigmas, n_sigmas, x);
}

int solver_denoise(ds_solver_ctx *c, const ds_batch *x, double sigma, ds_batch *out) {
    c->nfe++;
    return c->b->denoise(c->b, c->model, x, &sigma, 1, out, NULL);
}

int solver_draw(ds_solver_ctx *c, ds_batch *out) {
    int64_t j = c->draws++;
    const ds_step_noise *s = c->step_noise;
    if (!s) {
        c->b->randn(c->b, out, ds_philox_draw_key(c->seed, j), c->first_row);
        return 0;
    }
    int64_t row = c->first_row - s->first_row;
    if (j >= s->draws || row < 0 || row + out->rows > s->rows || out->cols != s->cols)
        return ds_fail("step noise: draw %lld of rows %lld..%lld with d = %lld is not in the "
                       "array (%lld x %lld x %lld)",
                       (long long)j, (long long)row, (long long)(row + out->rows - 1),
                       (long long)out->cols, (long long)s->draws, (long long)s->rows,
                       (long long)s->cols);
    c->b->upload(c->b, out, s->v + ((size_t)j * (size_t)s->rows + (size_t)row) * (size_t)s->cols);
    return 0;
}

void solver_ancestral_step(double from, double to, double eta, double *down, double *up) {
    if (eta == 0) {
        *down = to, *up = 0;
        return;
    }
    *up = fmin(to, eta * sqrt(to * to * (from * from - to * to) / (from * from)));
    *down = sqrt(to * to - *up * *up);
}

void solver_record(ds_solver_ctx *c, int i, double sigma, const ds_batch *x,
                   const ds_batch *denoised) {
    if (c->on_step) c->on_step(c->user, i, sigma, x, denoised);
}

void solver_axpby(ds_solver_ctx *c, ds_batch *out, double a, const ds_batch *u, double b,
                  const ds_batch *v) {
    const double coef[2] = {a, b};
    const ds_batch *in[2] = {u, v};
    c->b->lincomb(c->b, out, 2, coef, in);
}

void solver_euler_step(ds_solver_ctx *c, ds_batch *out, const ds_batch *x, const ds_batch *d,
                       double s, double s_next) {
    double r = s_next / s;
    solver_axpby(c, out, r, x, 1.0 - r, d);
}

ds_batch *solver_batch_like(ds_solver_ctx *c, const ds_batch *x) {
    return c->b->batch_new(c->b, x->rows, x->cols);
}

void solver_batch_free(ds_solver_ctx *c, ds_batch *v) {
    c->b->batch_free(c->b, v);
}
