// Certified landing and certified pruning against the dense run, measured in the same
// process (issue 14's benchmark): on Fashion-MNIST (or random rows of a given d), the
// empirical model, runs from the same noise: dense (no landing, no pruning), landing,
// landing + pruning, pruning alone, and dense and landing again after teleporting a
// fraction of the steps with the data's Gaussian. For each: wall time, NFE per sample
// (mean), the denoiser's flops (4 N d per query row evaluated densely; pruning's own
// count where it prunes) against the dense run's, speed-up against the dense run
// without teleport, and against its dense counterpart (same teleport) the max over
// samples of |x - x_dense| / |x_dense| and the share of samples whose nearest training
// row is the counterpart's.
//
// --gather-cost instead measures the constant of pruning's cost model (DS_PRUNE_GATHER_COST
// in host/backends/prune_index.h) on the backend: the time per surviving row of a pruned evaluation
// against the time per row of the dense one, on noisy training rows (gather_cost()).
//
// usage: bench_landing [--n N] [--batch B] [--solver S] [--steps K] [--no-final-zero]
//                      [--teleport-fraction F] [--random-d D] [--backend NAME] [--data PATH]
//                      [--runs LIST] [--gather-cost]
//   LIST: comma-separated run names (default: all; a run's dense counterpart always runs)
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_error.h"
#include "ds_philox.h"
#include "ds_sample.h"
#include "fatal.h"
#include "progress.h"

typedef struct {
    int64_t n, batch, steps, random_d;
    const char *solver, *backend, *data, *runs;
    int final_zero, gather_cost;
    double teleport;
} bench_opts;

static void parse(int argc, char **argv, bench_opts *o) {
    *o = (bench_opts){.n = 512,
                      .batch = 512,
                      .steps = 18,
                      .solver = "heun",
                      .backend = "cpu",
                      .data = DS_DEFAULT_DATA,
                      .final_zero = 1,
                      .teleport = 6.0 / 18};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-final-zero")) {
            o->final_zero = 0;
            continue;
        }
        if (!strcmp(a, "--gather-cost")) {
            o->gather_cost = 1;
            continue;
        }
        if (!v) tu_die("bench_landing: %s needs a value", a);
        i++;
        if (!strcmp(a, "--n"))
            o->n = atoll(v);
        else if (!strcmp(a, "--batch"))
            o->batch = atoll(v);
        else if (!strcmp(a, "--steps"))
            o->steps = atoll(v);
        else if (!strcmp(a, "--random-d"))
            o->random_d = atoll(v);
        else if (!strcmp(a, "--solver"))
            o->solver = v;
        else if (!strcmp(a, "--backend"))
            o->backend = v;
        else if (!strcmp(a, "--data"))
            o->data = v;
        else if (!strcmp(a, "--runs"))
            o->runs = v;
        else if (!strcmp(a, "--teleport-fraction"))
            o->teleport = atof(v);
        else
            tu_die("bench_landing: unknown option %s", a);
    }
    if (o->n < 1 || o->batch < 1 || o->steps < 1 || o->random_d < 0)
        tu_die("bench_landing: --n, --batch and --steps must be >= 1");
}

// Fashion-MNIST, or (random_d > 0) 60,000 rows of d normal entries of scale 1/3.
static void load(const bench_opts *o, ds_data *data) {
    if (!o->random_d) {
        if (ds_data_load(o->data, data)) tu_die("bench_landing: %s", ds_error());
        return;
    }
    int64_t n = 60000, d = o->random_d;
    float *x = tu_alloc((size_t)(n * d), sizeof(float));
    for (int64_t e = 0; e < n * d; e++) x[e] = (float)(ds_philox_normal(11, e / d, e % d) / 3.0);
    *data = (ds_data){.n = n, .d = d, .dtype = DS_F32, .values = x};
}

static int keep(void *user, int64_t first, int64_t rows, const double *x) {
    double **out = user;
    int64_t d = (int64_t)(size_t)out[1];
    memcpy(out[0] + first * d, x, sizeof(double) * (size_t)(rows * d));
    return 0;
}

// The runs: what each turns on, and the dense run (same teleport) it is compared with.
typedef struct {
    const char *name;
    int landing, prune, teleport, base;
} run_kind;

static const run_kind kinds[] = {
    {"dense", 0, 0, 0, 0},   {"landing", 1, 0, 0, 0},  {"landing+pruning", 1, 1, 0, 0},
    {"pruning", 0, 1, 0, 0}, {"teleport", 0, 0, 1, 4}, {"teleport+landing", 1, 0, 1, 4},
};
#define N_KINDS ((int)(sizeof kinds / sizeof kinds[0]))

typedef struct {
    int ran;
    double *x;
    int64_t *top; // nearest training row of each sample
    double flops; // the denoiser's
    ds_sample_result r;
} bench_run;

static void run(ds_backend *b, const ds_model *m, const ds_model *g, const bench_opts *o,
                const run_kind *k, bench_run *out) {
    ds_sample_config c;
    ds_sample_config_default(&c);
    c.solver.solver = o->solver;
    c.schedule.steps = o->steps;
    c.schedule.final_zero = o->final_zero;
    c.n = o->n, c.batch = o->batch, c.seed = 1;
    c.no_landing = !k->landing;
    c.prune = k->prune ? 1 : -1;
    c.teleport.fraction = k->teleport ? o->teleport : 0;
    out->x = tu_alloc((size_t)(o->n * m->d), sizeof(double));
    double *user[2] = {out->x, (double *)(size_t)m->d};
    if (ds_sample_run(b, m, k->teleport ? g : NULL, &c, keep, user, &out->r))
        tu_die("bench_landing: %s", ds_error());
    out->ran = 1;
    double dense = 4.0 * (double)m->data.n * (double)m->d;
    out->flops = out->r.pruning ? out->r.prune.flops : out->r.nfe_mean * (double)o->n * dense;
}

// Index of the training row nearest to q (squared distance in double).
static int64_t nearest(const ds_data *y, const double *q) {
    int64_t best = -1;
    double best_d = INFINITY;
    for (int64_t i = 0; i < y->n; i++) {
        double s = 0;
        for (int64_t j = 0; j < y->d && s < best_d; j++) {
            double v = q[j] - ds_data_value(y, i, j);
            s += v * v;
        }
        if (s < best_d) best_d = s, best = i;
    }
    return best;
}

static int wanted(const bench_opts *o, const char *name) {
    if (!o->runs) return 1;
    size_t len = strlen(name);
    for (const char *p = o->runs; (p = strstr(p, name)); p += len)
        if ((p == o->runs || p[-1] == ',') && (p[len] == ',' || p[len] == '\0')) return 1;
    return 0;
}

// The cost model's constant G: queries at training rows + sigma z, timed dense and
// pruned. The pruned time less the dense share of the queries left dense and the bound
// pass (k / 2d of a dense pass at SGEMM speed, k = 32), per surviving row of the pruned
// queries, against the dense time per row: G. At the smallest sigmas only a handful of
// rows survive and the bound pass dominates, so G is read at the larger ones.
static void gather_cost(ds_backend *b, const ds_model *m, const bench_opts *o) {
    int64_t q = o->n, d = m->d, n = m->data.n;
    double *x = tu_alloc((size_t)(q * d), sizeof(double)), bound = 32.0 / (2.0 * (double)d);
    double *out = tu_alloc((size_t)(q * d), sizeof(double));
    ds_batch *bx = b->batch_new(b, q, d), *bo = b->batch_new(b, q, d);
    ds_prune_stats st;
    printf("gather cost: %lld queries (training row + sigma z), N = %lld, d = %lld\n", (long long)q,
           (long long)n, (long long)d);
    printf("%-7s %9s %9s %8s %12s %8s\n", "sigma", "dense_s", "pruned_s", "pruned", "survivors",
           "G");
    const double sigmas[] = {0.5, 0.4, 0.3, 0.2};
    for (int s = 0; s < 4; s++) {
        for (int64_t i = 0; i < q; i++)
            for (int64_t j = 0; j < d; j++)
                x[i * d + j] = ds_data_value(&m->data, (i * 7919) % n, j) +
                               sigmas[s] * ds_philox_normal(5, i, j);
        if (b->upload(b, bx, x)) tu_die("bench_landing: %s", ds_error());
        ds_bound_model *bm = b->bind(b, m);
        if (!bm || !b->prune)
            tu_die("bench_landing: --gather-cost needs a backend with pruning (cpu, cuda)");
        double t[2];
        ds_prune_stats before = {0};
        for (int pruned = 0; pruned < 2; pruned++) {
            if (pruned && b->prune(b, bm, 1e-12, &st)) tu_die("bench_landing: %s", ds_error());
            // A warm-up call (workspace, a device's first launches), then the timed one;
            // the download waits for a device to finish.
            for (int rep = 0; rep < 2; rep++) {
                if (pruned && rep) before = st;
                double t0 = ds_seconds();
                if (b->denoise(b, bm, bx, &sigmas[s], 1, bo, NULL) || b->download(b, bo, out))
                    tu_die("bench_landing: %s", ds_error());
                t[pruned] = ds_seconds() - t0;
            }
        }
        b->unbind(b, bm);
        int64_t pruned_q = st.queries_pruned - before.queries_pruned;
        double per_row = t[0] / (double)(q * n), left = (double)(q - pruned_q);
        double survivors = (double)(pruned_q * n - (st.pairs_skipped - before.pairs_skipped));
        double gather = t[1] - t[0] * (left / (double)q + bound);
        char g[32] = "-"; // no query pruned: no survivors to time
        if (survivors > 0) snprintf(g, sizeof g, "%.1f", gather / survivors / per_row);
        printf("%-7g %9.3f %9.3f %8lld %12.0f %8s\n", sigmas[s], t[0], t[1], (long long)pruned_q,
               survivors, g);
    }
    b->batch_free(b, bx), b->batch_free(b, bo);
    free(x), free(out);
}

int main(int argc, char **argv) {
    bench_opts o;
    parse(argc, argv, &o);
    ds_data data;
    load(&o, &data);
    ds_model m, g;
    ds_fit_opts fo;
    ds_fit_opts_default(&fo);
    if (ds_model_fit(&data, DS_MODEL_EMPIRICAL, &fo, &m)) tu_die("bench_landing: %s", ds_error());
    ds_backend *b = ds_backend_new(o.backend);
    if (!b) tu_die("bench_landing: %s", ds_error());
    if (o.gather_cost) {
        gather_cost(b, &m, &o);
        ds_backend_free(b), ds_model_free(&m), ds_data_free(&data);
        return 0;
    }
    int teleporting = 0; // the Gaussian only for a teleport run (its fit is slow at large d)
    for (int k = 0; k < N_KINDS; k++) teleporting |= kinds[k].teleport && wanted(&o, kinds[k].name);
    memset(&g, 0, sizeof g);
    if (teleporting && ds_model_fit(&data, DS_MODEL_GAUSSIAN, &fo, &g))
        tu_die("bench_landing: %s", ds_error());
    bench_run runs[N_KINDS] = {{0}};
    int64_t d = m.d;
    for (int k = 0; k < N_KINDS; k++) {
        if (!wanted(&o, kinds[k].name)) continue;
        for (int pass = 0; pass < 2; pass++) { // its dense counterpart first
            int which = pass ? k : kinds[k].base;
            if (runs[which].ran) continue;
            run(b, &m, &g, &o, &kinds[which], &runs[which]);
            runs[which].top = tu_alloc((size_t)o.n, sizeof(int64_t));
            for (int64_t s = 0; s < o.n; s++)
                runs[which].top[s] = nearest(&data, runs[which].x + s * d);
        }
    }
    printf("data %s (N = %lld, d = %lld), backend %s, solver %s, %lld steps %s, %lld samples, "
           "batch %lld, teleport fraction %g\n",
           o.random_d ? "random normal" : o.data, (long long)data.n, (long long)d, o.backend,
           o.solver, (long long)o.steps, o.final_zero ? "to 0" : "to sigma_min", (long long)o.n,
           (long long)o.batch, o.teleport);
    printf("%-18s %9s %9s %8s %10s %8s %-9s %12s %9s %8s %12s\n", "run", "wall_s", "nfe_mean",
           "speedup", "GFLOP", "flop_x", "against", "max_rel_err", "same_row", "landed",
           "pairs_skip%");
    for (int k = 0; k < N_KINDS; k++) {
        if (!runs[k].ran) continue;
        const bench_run *r = &runs[k], *base = &runs[kinds[k].base], *dense = &runs[0];
        double worst = 0;
        int64_t same = 0;
        for (int64_t s = 0; s < o.n; s++) {
            const double *x = r->x + s * d, *ref = base->x + s * d;
            double e = 0, n2 = 0;
            for (int64_t j = 0; j < d; j++)
                e += (x[j] - ref[j]) * (x[j] - ref[j]), n2 += ref[j] * ref[j];
            worst = fmax(worst, sqrt(e / n2));
            same += r->top[s] == base->top[s];
        }
        const ds_prune_stats *p = &r->r.prune;
        char speedup[16] = "-", flop_x[16] = "-", skip[16] = "-";
        if (dense->ran) {
            snprintf(speedup, sizeof speedup, "%.2fx", dense->r.seconds / r->r.seconds);
            snprintf(flop_x, sizeof flop_x, "%.2fx", dense->flops / r->flops);
        }
        if (r->r.pruning)
            snprintf(skip, sizeof skip, "%.2f",
                     100.0 * (double)p->pairs_skipped / (double)p->pairs);
        printf("%-18s %9.2f %9.2f %8s %10.1f %8s %-9s %12.2e %8.1f%% %8lld %12s\n", kinds[k].name,
               r->r.seconds, r->r.nfe_mean, speedup, r->flops / 1e9, flop_x,
               kinds[k].base ? "teleport" : "dense", worst, 100.0 * (double)same / (double)o.n,
               (long long)r->r.landed, skip);
        if (r->r.pruning)
            printf("%-18s   pruned %lld of %lld evaluations; skipped mass <= %.2g, change of D <= "
                   "%.2g relative per evaluation; %.1f GFLOP skipped\n",
                   "", (long long)p->queries_pruned, (long long)p->queries, p->mass_max,
                   p->change_max, (p->flops_dense - p->flops) / 1e9);
    }
    for (int k = 0; k < N_KINDS; k++) {
        free(runs[k].x), free(runs[k].top);
        if (runs[k].ran) ds_sample_result_free(&runs[k].r);
    }
    ds_backend_free(b);
    ds_model_free(&m);
    if (teleporting) ds_model_free(&g);
    ds_data_free(&data);
    return 0;
}
