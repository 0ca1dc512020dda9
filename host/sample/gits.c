// GITS: teacher trajectories, the one-step cost matrix and the dynamic programme.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ds_error.h"
#include "gits.h"

int gits_metric_parse(const char *name, gits_metric *out) {
    if (!strcmp(name, "dev"))
        *out = GITS_METRIC_DEV;
    else if (!strcmp(name, "l2"))
        *out = GITS_METRIC_L2;
    else
        return ds_fail("unknown gits metric '%s' (expected dev or l2)", name);
    return 0;
}

// The teacher trajectory of one chunk of rows, on the host: x[p] and slope[p] (rows x dim
// each) at every grid point p.
typedef struct {
    ds_backend *b;
    const double *grid;
    int64_t n; // rows * dim
    double *x, *slope;
} trajectory;

static int record_point(void *user, int p, double sigma, const ds_batch *x,
                        const ds_batch *denoised) {
    trajectory *t = user;
    double *xp = t->x + p * t->n, *sp = t->slope + p * t->n;
    DS_TRY(t->b->download(t->b, x, xp));
    if (!denoised) return 0;
    DS_TRY(t->b->download(t->b, denoised, sp));
    for (int64_t e = 0; e < t->n; e++) sp[e] = (xp[e] - sp[e]) / sigma;
    return 0;
}

// Distance of a from the line through b and c (the trajectory's ends): the part of
// c - a orthogonal to c - b.
static double deviation(const double *a, const double *b, const double *c, int64_t dim) {
    double bc2 = 0, dot = 0, ac2 = 0;
    for (int64_t k = 0; k < dim; k++) {
        double bc = c[k] - b[k], ac = c[k] - a[k];
        bc2 += bc * bc, dot += ac * bc, ac2 += ac * ac;
    }
    return sqrt(fmax(ac2 - dot * dot / bc2, 0.0));
}

// The cost of the prediction `step` of the teacher's x_j: their L2 distance, or how much
// farther than x_j it lies from the line through the trajectory's ends (teacher_dev:
// the deviation of x_j, taken as 0 at the end as in the paper's code).
static double one_step_cost(const double *step, const double *xj, const double *start,
                            const double *end, double teacher_dev, int64_t dim,
                            gits_metric metric) {
    if (metric == GITS_METRIC_DEV) return deviation(step, start, end, dim) - teacher_dev;
    double c = 0;
    for (int64_t k = 0; k < dim; k++) c += (step[k] - xj[k]) * (step[k] - xj[k]);
    return sqrt(c);
}

// Adds the chunk's costs, summed over its rows, to cost.
static int add_chunk_costs(const trajectory *t, int points, int64_t rows, int64_t dim,
                           gits_metric metric, double *cost) {
    double *step = ds_try_alloc((size_t)dim, sizeof(double), "gits");
    double *teacher_dev = ds_try_alloc((size_t)points, sizeof(double), "gits");
    if (!step || !teacher_dev) rows = 0; // nothing added; the error is recorded
    for (int64_t r = 0; r < rows; r++) {
        const double *start = t->x + r * dim, *end = t->x + (points - 1) * t->n + r * dim;
        for (int j = 0; j < points; j++)
            teacher_dev[j] =
                j < points - 1 ? deviation(t->x + j * t->n + r * dim, start, end, dim) : 0.0;
        for (int i = 0; i + 1 < points; i++) {
            const double *xi = t->x + i * t->n + r * dim, *si = t->slope + i * t->n + r * dim;
            for (int j = i + 1; j < points; j++) {
                double h = t->grid[j] - t->grid[i];
                for (int64_t k = 0; k < dim; k++) step[k] = xi[k] + h * si[k];
                cost[i * points + j] += one_step_cost(step, t->x + j * t->n + r * dim, start, end,
                                                      teacher_dev[j], dim, metric);
            }
        }
    }
    int rc = step && teacher_dev ? 0 : -1;
    free(step);
    free(teacher_dev);
    return rc;
}

int gits_cost_matrix(ds_solver_ctx *ctx, const ds_solver_opts *teacher, const double *grid,
                     int points, int64_t dim, int64_t warmup, uint64_t seed, gits_metric metric,
                     double *cost) {
    if (points < 2 || warmup < 1)
        return ds_fail("gits: teacher grid of %d points and %lld warm-up rows (expected >= 2 "
                       "and >= 1)",
                       points, (long long)warmup);
    const int64_t chunk = 64; // rows per teacher run, as the paper's batches
    ds_backend *b = ctx->b;
    memset(cost, 0, sizeof(double) * (size_t)(points * points));
    int64_t rows_max = warmup < chunk ? warmup : chunk;
    trajectory t = {.b = b, .grid = grid};
    t.x = ds_try_alloc((size_t)(points * rows_max * dim), sizeof(double), "gits");
    t.slope = ds_try_alloc((size_t)(points * rows_max * dim), sizeof(double), "gits");
    int rc = t.x && t.slope ? 0 : -1;
    for (int64_t first = 0; first < warmup && !rc; first += chunk) {
        int64_t rows = warmup - first < chunk ? warmup - first : chunk;
        ds_batch *x = b->batch_new(b, rows, dim);
        if (!x) {
            rc = -1;
            break;
        }
        const double scale = grid[0];
        const ds_batch *in[1] = {x};
        rc = b->randn(b, x, seed, first);
        if (!rc) rc = b->lincomb(b, x, 1, &scale, in);
        t.n = rows * dim;
        ds_solver_ctx run = *ctx;
        run.on_step = record_point;
        run.user = &t;
        if (!rc) rc = ds_solve(&run, teacher, grid, points, x);
        ctx->nfe = run.nfe;
        if (!rc) rc = add_chunk_costs(&t, points, rows, dim, metric, cost);
        b->batch_free(b, x);
    }
    for (int e = 0; e < points * points; e++) cost[e] /= (double)warmup;
    free(t.x);
    free(t.slope);
    return rc;
}

int gits_dp(const double *cost, int points, int steps, double coeff, int *path) {
    if (steps < 1 || steps > points - 1)
        return ds_fail("gits: %d steps cannot be picked from a teacher grid of %d steps", steps,
                       points - 1);
    // v[j * (steps + 1) + k]: the best cost from grid point j to the end in k steps;
    // next[...] the point that follows j on that path.
    size_t cells = (size_t)points * (size_t)(steps + 1);
    double *v = ds_try_alloc(cells, sizeof(double), "gits");
    int *next = ds_try_alloc(cells, sizeof(int), "gits");
    if (!v || !next) {
        free(v);
        free(next);
        return -1;
    }
    for (size_t e = 0; e < cells; e++) v[e] = INFINITY, next[e] = -1;
    for (int i = 0; i < points; i++) {
        v[i * (steps + 1) + 1] = cost[i * points + points - 1];
        next[i * (steps + 1) + 1] = points - 1;
    }
    for (int k = 2; k <= steps; k++)
        for (int j = 0; j + 1 < points; j++)
            for (int i = j + 1; i + 1 < points; i++) {
                double c = cost[j * points + i] + coeff * v[i * (steps + 1) + k - 1];
                if (c < v[j * (steps + 1) + k]) {
                    v[j * (steps + 1) + k] = c;
                    next[j * (steps + 1) + k] = i;
                }
            }
    path[0] = 0;
    for (int s = 0; s < steps; s++) path[s + 1] = next[path[s] * (steps + 1) + steps - s];
    free(v);
    free(next);
    return 0;
}
