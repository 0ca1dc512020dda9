// Solver dispatch by name (the steps the solvers share are in solver_steps.c).
#include <stdio.h>
#include <string.h>

#include "ds_error.h"
#include "solver.h"

typedef struct {
    const char *name;
    solver_fn run;
} solver_entry;

// The known solvers, in the order the error message lists them.
static const solver_entry solvers[] = {
    {"euler", solver_euler},     {"heun", solver_heun},         {"dpm2", solver_dpm2},
    {"dpmpp2m", solver_dpmpp2m}, {"dpmpp3m", solver_dpmpp3m},   {"unipc", solver_unipc},
    {"ipndm", solver_ipndm},     {"ipndm_v", solver_ipndm_v},   {"deis", solver_deis},
    {"lms", solver_lms},         {"adaptive", solver_adaptive},
};
#define N_SOLVERS (sizeof solvers / sizeof solvers[0])

void ds_solver_opts_default(ds_solver_opts *o) {
    memset(o, 0, sizeof *o);
    o->solver = "heun";
    o->lower_order_final = 1;
    o->variant = "bh2";
    o->rtol = 1e-5;
    o->atol = 1e-5;
}

static const solver_entry *find_solver(const char *name) {
    for (size_t i = 0; i < N_SOLVERS; i++)
        if (!strcmp(solvers[i].name, name)) return &solvers[i];
    return NULL;
}

int ds_solver_known(const char *name) {
    return find_solver(name) != NULL;
}

int ds_solver_check_name(const char *name) {
    if (find_solver(name)) return 0;
    char list[256];
    size_t len = 0;
    for (size_t i = 0; i < N_SOLVERS; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s",
                                i == 0               ? ""
                                : i + 1 == N_SOLVERS ? " or "
                                                     : ", ",
                                solvers[i].name);
    return ds_fail("unknown sampler '%s' (expected %s)", name, list);
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
    return s->run(ctx, o, sigmas, n_sigmas, x);
}
