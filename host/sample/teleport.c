// Analytical teleportation: where the jump lands on the schedule, the schedule left to
// solve, and the NFE a solver makes on a schedule (to report the NFE saved) with the
// batches it keeps (for the memory plan).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ds_error.h"
#include "ds_sample.h"

int ds_teleport_plan(const double *sigmas, int n, const ds_teleport_opts *t, double *sigma_skip,
                     int *first) {
    *sigma_skip = sigmas[0];
    *first = 1;
    if (t->sigma > 0 && t->fraction > 0)
        return ds_fail("teleport: give --teleport-sigma or --teleport-fraction, not both");
    if (t->sigma < 0 || t->fraction < 0)
        return ds_fail("teleport: sigma and fraction must be >= 0 (got %g, %g)", t->sigma,
                       t->fraction);
    int steps = n - 1;
    if (t->fraction > 0) {
        if (!(t->fraction < 1))
            return ds_fail("teleport: --teleport-fraction must be in [0, 1) (got %g)", t->fraction);
        int k = (int)lround(t->fraction * steps);
        if (k >= steps)
            return ds_fail("teleport: fraction %g skips %d of %d steps (at least one must remain)",
                           t->fraction, k, steps);
        *sigma_skip = sigmas[k];
        *first = k + 1;
        return 0;
    }
    if (t->sigma == 0) return 0;
    if (!(t->sigma < sigmas[0]) || !(t->sigma > sigmas[n - 1] * (1 + 1e-12)))
        return ds_fail("teleport: sigma %g is outside the schedule (expected %g < sigma < %g)",
                       t->sigma, sigmas[n - 1], sigmas[0]);
    int j = 1;
    while (sigmas[j] >= t->sigma * (1 + 1e-12)) j++;
    // A schedule point equal to the landing sigma (to rounding) is that point.
    if (fabs(sigmas[j] - t->sigma) <= 1e-12 * t->sigma) j++;
    *sigma_skip = t->sigma;
    *first = j;
    return 0;
}

int ds_teleport_schedule(const double *sigmas, int n, const ds_teleport_opts *t, double **out,
                         int *n_out) {
    double skip;
    int first;
    DS_TRY(ds_teleport_plan(sigmas, n, t, &skip, &first));
    *n_out = 1 + n - first;
    *out = ds_try_alloc((size_t)*n_out, sizeof(double), "teleport schedule");
    if (!*out) return -1;
    (*out)[0] = skip;
    memcpy(*out + 1, sigmas + first, sizeof(double) * (size_t)(n - first));
    return 0;
}

// The ref backend with its batches counted: how many are live at most.
typedef struct {
    ds_backend b; // first: the table the solver calls
    ds_backend *ref;
    int live, peak;
} counting_backend;

static ds_batch *counted_new(ds_backend *b, int64_t rows, int64_t cols) {
    counting_backend *c = (counting_backend *)b;
    ds_batch *v = c->ref->batch_new(c->ref, rows, cols);
    if (v && ++c->live > c->peak) c->peak = c->live;
    return v;
}

static void counted_free(ds_backend *b, ds_batch *v) {
    counting_backend *c = (counting_backend *)b;
    if (v) c->live--;
    c->ref->batch_free(c->ref, v);
}

// Runs the solver on the one-dimensional standard Gaussian and counts its evaluations,
// draws and batches.
static int count_on_gaussian(const ds_solver_opts *o, const double *sigmas, int n, int64_t *nfe,
                             int64_t *draws, int *batches) {
    // The one-dimensional standard Gaussian: D(x; s) = x / (1 + s^2).
    double zero = 0, one = 1;
    ds_model m = {.kind = DS_MODEL_GAUSSIAN, .d = 1, .k = 1, .r = 1, .mean = &zero};
    m.weights = &one, m.means = &zero, m.eigvals = &one, m.eigvecs = &one, m.residual = &zero;
    counting_backend cb = {.ref = ds_backend_ref_new()};
    cb.b = *cb.ref;
    cb.b.batch_new = counted_new, cb.b.batch_free = counted_free;
    ds_backend *b = &cb.b;
    ds_solver_ctx ctx = {.b = b, .model = b->bind(b, &m)};
    ds_batch *x = b->batch_new(b, 1, 1);
    int rc = x && ctx.model ? b->upload(b, x, &sigmas[0]) : -1;
    if (!rc) rc = ds_solve(&ctx, o, sigmas, n, x);
    b->batch_free(b, x);
    b->unbind(b, ctx.model);
    ds_backend_free(cb.ref);
    *nfe = ctx.nfe, *draws = ctx.draws, *batches = cb.peak;
    return rc;
}

int ds_solver_count(const ds_solver_opts *o, const double *sigmas, int n, int64_t *nfe,
                    int *batches) {
    int64_t draws;
    int rc = count_on_gaussian(o, sigmas, n, nfe, &draws, batches);
    if (!strcmp(o->solver, "adaptive")) *nfe = -1;
    return rc;
}

int ds_solver_count_nfe(const ds_solver_opts *o, const double *sigmas, int n, int64_t *nfe) {
    int batches;
    return ds_solver_count(o, sigmas, n, nfe, &batches);
}

int ds_solver_count_draws(const ds_solver_opts *o, const double *sigmas, int n, int64_t *draws) {
    int64_t nfe;
    int batches;
    return count_on_gaussian(o, sigmas, n, &nfe, draws, &batches);
}
