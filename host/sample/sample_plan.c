// The plan of a sampling run, made once before any sample is drawn: the names, the
// schedule, the schedule left after the jump and the NFE with and without it.
#include <stdlib.h>
#include <string.h>

#include "ds_error.h"
#include "ds_sample.h"
#include "schedule_formula.h"

// The solver, schedule and GITS teacher names, the landing and prune eps.
static int check_names(const ds_sample_config *c) {
    DS_TRY(ds_solver_check_name(c->solver.solver));
    if (!ds_schedule_known(c->schedule.kind))
        return ds_fail("unknown schedule '%s' (expected edm, logsnr, vp, gits, or --sigmas FILE)",
                       c->schedule.kind);
    const char *t = c->schedule.gits.teacher;
    if (!strcmp(c->schedule.kind, "gits") && t && !ds_solver_known(t))
        return ds_fail("unknown --gits-teacher '%s' (expected a sampler name, see --sampler)", t);
    if (!(c->landing_eps > 0 && c->landing_eps <= 1e-3))
        return ds_fail("sample: --landing-eps %g is outside (0, 1e-3] (the landing eps)",
                       c->landing_eps);
    if (!(c->prune_eps > 0 && c->prune_eps <= 1e-3))
        return ds_fail("sample: the prune eps %g is outside (0, 1e-3]", c->prune_eps);
    if (c->prune < -1 || c->prune > 1)
        return ds_fail("sample: prune %d is not -1 (off), 0 (where the backend can) or 1 "
                       "(required)",
                       c->prune);
    return 0;
}

// The schedule after the jump, and the NFE on it and on the whole schedule.
static int plan_schedule(const ds_sample_config *c, ds_sample_plan *p) {
    DS_TRY(ds_teleport_schedule(p->sigmas, p->n_sigmas, &c->teleport, &p->run, &p->n_run));
    if (c->teleport.fraction > 0 && p->n_run == p->n_sigmas)
        return ds_fail("teleport: --teleport-fraction %g skips none of the %d steps (expected at "
                       "least %.3g to skip one)",
                       c->teleport.fraction, p->n_sigmas - 1, 0.5 / (p->n_sigmas - 1));
    int with_jump, without;
    DS_TRY(ds_solver_count(&c->solver, p->run, p->n_run, &p->nfe, &with_jump));
    DS_TRY(ds_solver_count(&c->solver, p->sigmas, p->n_sigmas, &p->nfe_full, &without));
    p->batches = with_jump > without ? with_jump : without;
    return 0;
}

// The batches of a GITS run counted before its schedule exists: the solver keeps as many
// on the EDM schedule of the same length (GITS picks as many points from its grid).
static int count_stand_in(const ds_sample_config *c, ds_sample_plan *p) {
    ds_schedule_opts edm = c->schedule;
    edm.kind = "edm";
    double *s;
    int n;
    int64_t nfe;
    DS_TRY(ds_schedule_formula(&edm, &s, &n));
    int rc = ds_solver_count(&c->solver, s, n, &nfe, &p->batches);
    free(s);
    return rc;
}

int ds_sample_plan_make(const ds_sample_config *c, ds_solver_ctx *ctx, int64_t d,
                        ds_sample_plan *p) {
    memset(p, 0, sizeof *p);
    DS_TRY(check_names(c));
    int gits = !strcmp(c->schedule.kind, "gits");
    if (gits && !ctx) return count_stand_in(c, p); // the schedule needs the model
    ds_schedule_opts schedule = c->schedule;
    schedule.gits.dim = d; // GITS allocates the teacher's batches
    int rc = ds_schedule_build(&schedule, ctx, &c->solver, &p->sigmas, &p->n_sigmas);
    if (!rc) rc = plan_schedule(c, p);
    if (rc) ds_sample_plan_free(p);
    return rc;
}

void ds_sample_plan_free(ds_sample_plan *p) {
    free(p->sigmas);
    free(p->run);
    memset(p, 0, sizeof *p);
}
