// Solver dispatch by name and the steps the solvers share.
#include <string.h>

#include "ds_error.h"
#include "solver.h"

typedef struct {
    const char *name;
    solver_fn run;
} solver_entry;

static const solver_entry solvers[] = {
    {"euler", solver_euler},       {"heun", solver_heun},       {"dpm2", solver_dpm2},
    {"dpmpp2m", solver_dpmpp2m},   {"dpmpp3m", solver_dpmpp3m}, {"lms", solver_lms},
    {"adaptive", solver_adaptive}, {"unipc", solver_unipc},     {"ipndm", solver_ipndm},
    {"ipndm_v", solver_ipndm_v},   {"deis", solver_deis},
};

void ds_solver_opts_default(ds_solver_opts *o) {
    memset(o, 0, sizeof *o);
    o->solver = "heun";
    o->lower_order_final = 1;
    o->variant = "bh2";
    o->rtol = 1e-5;
    o->atol = 1e-5;
}

static const solver_entry *find_solver(const char *name) {
    for (size_t i = 0; i < sizeof solvers / sizeof solvers[0]; i++)
        if (!strcmp(solvers[i].name, name)) return &solvers[i];
    return NULL;
}

int ds_solver_known(const char *name) {
    return find_solver(name) != NULL;
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
    return s->run(ctx, o, sigmas, n_sigmas, x);
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
