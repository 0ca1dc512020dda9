// Solver dispatch by name and the checks of the stochastic options (the steps the
// solvers share are in solver_steps.c).
#include <math.h>
#include <stdio.h>
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

// The known solvers, in the order the error message lists them.
static const solver_entry solvers[] = {
    {"euler", solver_euler, USES_CHURN},
    {"heun", solver_heun, USES_CHURN},
    {"dpm2", solver_dpm2, 0},
    {"dpmpp2m", solver_dpmpp2m, 0},
    {"dpmpp3m", solver_dpmpp3m, 0},
    {"unipc", solver_unipc, 0},
    {"ipndm", solver_ipndm, 0},
    {"ipndm_v", solver_ipndm_v, 0},
    {"deis", solver_deis, 0},
    {"lms", solver_lms, 0},
    {"adaptive", solver_adaptive, 0},
    {"euler_ancestral", solver_euler_ancestral, USES_ETA},
    {"dpmpp_sde", solver_dpmpp_sde, USES_ETA | USES_R},
    {"dpmpp2m_sde", solver_dpmpp2m_sde, USES_ETA},
    {"dpmpp3m_sde", solver_dpmpp3m_sde, USES_ETA},
};
#define N_SOLVERS (sizeof solvers / sizeof solvers[0])

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
    for (size_t i = 0; i < N_SOLVERS; i++)
        if (!strcmp(solvers[i].name, name)) return &solvers[i];
    return NULL;
}

int ds_solver_known(const char *name) {
    return find_solver(name) != NULL;
}

void ds_solver_names(char *buf, size_t size, const char *last) {
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_SOLVERS && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s",
                                i == 0               ? ""
                                : i + 1 == N_SOLVERS ? last
                                                     : ", ",
                                solvers[i].name);
}

int ds_solver_check_name(const char *name) {
    if (find_solver(name)) return 0;
    char list[256];
    ds_solver_names(list, sizeof list, " or ");
    return ds_fail("unknown sampler '%s' (expected %s)", name, list);
}

int ds_solver_stochastic(const ds_solver_opts *o) {
    const solver_entry *s = find_solver(o->solver);
    return s && ((s->uses & USES_ETA) || ((s->uses & USES_CHURN) && o->s_churn > 0));
}

void ds_solver_noise_label(const ds_solver_opts *o, char *buf, size_t size) {
    const solver_entry *s = find_solver(o->solver);
    buf[0] = '\0';
    if (!s || !ds_solver_stochastic(o)) return;
    if (s->uses & USES_CHURN)
        snprintf(buf, size, "s_churn=%g s_tmin=%g s_tmax=%g s_noise=%g", o->s_churn, o->s_tmin,
                 o->s_tmax, o->s_noise);
    else if (s->uses & USES_R)
        snprintf(buf, size, "eta=%g r=%g s_noise=%g", o->eta, o->sde_r, o->s_noise);
    else
        snprintf(buf, size, "eta=%g s_noise=%g", o->eta, o->s_noise);
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
    DS_TRY(ds_solver_check_name(o->solver));
    const solver_entry *s = find_solver(o->solver);
    if (n_sigmas < 2) return ds_fail("schedule has %d sigmas (expected at least 2)", n_sigmas);
    for (int i = 0; i + 1 < n_sigmas; i++)
        if (!(sigmas[i] > sigmas[i + 1]) || !(sigmas[i + 1] >= 0))
            return ds_fail("sigmas must decrease strictly and stay >= 0 (sigma[%d] = %g, "
                           "sigma[%d] = %g)",
                           i, sigmas[i], i + 1, sigmas[i + 1]);
    DS_TRY(check_stochastic(s, o));
    return s->run(ctx, o, sigmas, n_sigmas, x);
}
