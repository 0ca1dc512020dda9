// Certified landing against the dense run, measured in the same process (issue 14's
// benchmark): on Fashion-MNIST (or random rows of a given d), the empirical model,
// four runs from the same noise: dense (no landing), landing, and both again after
// teleporting a fraction of the steps with the data's Gaussian. For each: wall time,
// NFE per sample (mean), speed-up against the dense run without teleport, and against
// its dense counterpart (same teleport, no landing) the max over samples of
// |x - x_dense| / |x_dense| and the share of samples whose nearest training row is the
// counterpart's.
//
// usage: bench_landing [--n N] [--batch B] [--solver S] [--steps K] [--no-final-zero]
//                      [--teleport-fraction F] [--random-d D] [--backend NAME] [--data PATH]
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_error.h"
#include "ds_philox.h"
#include "ds_sample.h"
#include "fatal.h"

typedef struct {
    int64_t n, batch, steps, random_d;
    const char *solver, *backend, *data;
    int final_zero;
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

typedef struct {
    const char *name;
    double seconds, nfe_mean;
    double *x;
    ds_sample_result r;
} bench_run;

static void run(ds_backend *b, const ds_model *m, const ds_model *g, const bench_opts *o,
                int landing, double teleport, bench_run *out) {
    ds_sample_config c;
    ds_sample_config_default(&c);
    c.solver.solver = o->solver;
    c.schedule.steps = o->steps;
    c.schedule.final_zero = o->final_zero;
    c.n = o->n, c.batch = o->batch, c.seed = 1;
    c.no_landing = !landing;
    c.teleport.fraction = teleport;
    out->x = tu_alloc((size_t)(o->n * m->d), sizeof(double));
    double *user[2] = {out->x, (double *)(size_t)m->d};
    if (ds_sample_run(b, m, teleport > 0 ? g : NULL, &c, keep, user, &out->r))
        tu_die("bench_landing: %s", ds_error());
    out->seconds = out->r.seconds;
    out->nfe_mean = out->r.nfe_mean;
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

int main(int argc, char **argv) {
    bench_opts o;
    parse(argc, argv, &o);
    ds_data data;
    load(&o, &data);
    ds_model m, g;
    ds_fit_opts fo;
    ds_fit_opts_default(&fo);
    if (ds_model_fit(&data, DS_MODEL_EMPIRICAL, &fo, &m)) tu_die("bench_landing: %s", ds_error());
    if (ds_model_fit(&data, DS_MODEL_GAUSSIAN, &fo, &g)) tu_die("bench_landing: %s", ds_error());
    ds_backend *b = ds_backend_new(o.backend);
    if (!b) tu_die("bench_landing: %s", ds_error());
    bench_run runs[4] = {
        {.name = "dense"}, {.name = "landing"}, {.name = "teleport"}, {.name = "teleport+landing"}};
    for (int k = 0; k < 4; k++) run(b, &m, &g, &o, k % 2, k >= 2 ? o.teleport : 0, &runs[k]);
    int64_t d = m.d, *top = tu_alloc((size_t)(4 * o.n), sizeof(int64_t));
    for (int k = 0; k < 4; k++)
        for (int64_t s = 0; s < o.n; s++) top[k * o.n + s] = nearest(&data, runs[k].x + s * d);
    printf("data %s (N = %lld, d = %lld), backend %s, solver %s, %lld steps %s, %lld samples, "
           "batch %lld, teleport fraction %g\n",
           o.random_d ? "random normal" : o.data, (long long)data.n, (long long)d, o.backend,
           o.solver, (long long)o.steps, o.final_zero ? "to 0" : "to sigma_min", (long long)o.n,
           (long long)o.batch, o.teleport);
    printf("%-18s %9s %9s %8s %-9s %12s %9s %8s\n", "run", "wall_s", "nfe_mean", "speedup",
           "against", "max_rel_err", "same_row", "landed");
    for (int k = 0; k < 4; k++) {
        int base = k - k % 2; // the dense run with the same teleport
        double worst = 0;
        int64_t same = 0;
        for (int64_t s = 0; s < o.n; s++) {
            const double *x = runs[k].x + s * d, *ref = runs[base].x + s * d;
            double e = 0, n2 = 0;
            for (int64_t j = 0; j < d; j++)
                e += (x[j] - ref[j]) * (x[j] - ref[j]), n2 += ref[j] * ref[j];
            worst = fmax(worst, sqrt(e / n2));
            same += top[k * o.n + s] == top[base * o.n + s];
        }
        printf("%-18s %9.2f %9.2f %7.2fx %-9s %12.2e %8.1f%% %8lld\n", runs[k].name,
               runs[k].seconds, runs[k].nfe_mean, runs[0].seconds / runs[k].seconds,
               runs[base].name, worst, 100.0 * (double)same / (double)o.n,
               (long long)runs[k].r.landed);
    }
    for (int k = 0; k < 4; k++) {
        free(runs[k].x);
        ds_sample_result_free(&runs[k].r);
    }
    free(top);
    ds_backend_free(b);
    ds_model_free(&m);
    ds_model_free(&g);
    ds_data_free(&data);
    return 0;
}
