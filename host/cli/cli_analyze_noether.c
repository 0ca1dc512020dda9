// diffsamp analyze noether: most likely paths of the diffusion SDE of a low-dimensional
// model between given states, and their Noether quantities (energy, momentum, angular
// momentum) and how far each drifts (maths: host/analysis/analysis_noether.c; README,
// section Noether diagnostics).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_analyze.h"
#include "ds_analysis.h"
#include "ds_error.h"
#include "ds_noether.h"
#include "ds_philox.h"

#define MAX_ENDS 64 // paths per run
#define MAX_DIM 64  // the library's limit for a low-dimensional model

// Toy 2-D sets: ring (n points evenly on the unit circle: rotation symmetric up to the
// n-fold discreteness), mixture (4 blobs of std 0.15 at (+-1, +-1): 4-fold only), line (n
// points evenly on x0 in [-3, 3], x1 = 0: nearly translation invariant along x0 inside).
static int toy_data(const char *name, int64_t n, uint64_t seed, ds_data *out) {
    double *x = ds_try_alloc((size_t)(2 * n), sizeof(double), "noether: toy data");
    if (!x) return -1;
    const double pi = 3.14159265358979323846;
    for (int64_t i = 0; i < n; i++) {
        double *p = x + 2 * i;
        if (!strcmp(name, "ring")) {
            p[0] = cos(2 * pi * (double)i / (double)n), p[1] = sin(2 * pi * (double)i / (double)n);
        } else if (!strcmp(name, "mixture")) {
            p[0] = (i % 2 ? 1 : -1) + 0.15 * ds_philox_normal(seed, i, 0);
            p[1] = (i / 2 % 2 ? 1 : -1) + 0.15 * ds_philox_normal(seed, i, 1);
        } else if (!strcmp(name, "line")) {
            p[0] = n > 1 ? -3 + 6 * (double)i / (double)(n - 1) : 0, p[1] = 0;
        } else {
            free(x);
            return ds_fail("analyze noether: --toy '%s' (expected ring, mixture or line)", name);
        }
    }
    *out = (ds_data){.n = n, .d = 2, .dtype = DS_F64, .values = x};
    return 0;
}

// "a,b;c,d;..." into up to max points of d coordinates.
static int parse_points(const char *option, const char *text, int64_t d, int max, double *out,
                        int *count) {
    *count = 0;
    const char *p = text;
    while (*p) {
        if (*count == max)
            return ds_fail("analyze noether: --%s has more than %d points", option, max);
        for (int64_t j = 0; j < d; j++) {
            char *end;
            double v = strtod(p, &end);
            char want = j + 1 < d ? ',' : (char)(*end == ';' ? ';' : '\0');
            if (end == p || !isfinite(v) || *end != want)
                return ds_fail("analyze noether: --%s '%s': expected points of %lld numbers, "
                               "coordinates split by ',' and points by ';'",
                               option, text, (long long)d);
            out[*count * d + j] = v;
            p = *end ? end + 1 : end;
        }
        (*count)++;
    }
    if (!*count) return ds_fail("analyze noether: --%s is empty", option);
    return 0;
}

typedef struct {
    const char *model_dir, *model, *data, *toy, *process, *from, *to, *backend, *out;
    int64_t toy_n, k, steps, iters, seed;
    double sigma_from, sigma_to, sigma, duration, tol, variance;
} noether_args;

static const char *vec_header(char *buf, size_t size, const char *name, int64_t d) {
    buf[0] = '\0';
    for (int64_t j = 0; j < d; j++)
        snprintf(buf + strlen(buf), size - strlen(buf), ",%s%lld", name, (long long)j);
    return buf;
}

// The model, and the data it was fitted to in *data (n = 0 for a model folder).
static int load_model(const noether_args *a, ds_model *m, ds_data *data_out) {
    memset(data_out, 0, sizeof *data_out);
    if (a->model_dir) return ds_model_load(a->model_dir, m);
    ds_data data;
    if (a->data)
        DS_TRY(cli_data_load("analyze noether", a->data, &data));
    else
        DS_TRY(toy_data(a->toy, a->toy_n, (uint64_t)a->seed, &data));
    ds_model_kind kind;
    int rc = ds_model_kind_parse(a->model, &kind);
    ds_fit_opts fo;
    ds_fit_opts_default(&fo);
    fo.k = a->k, fo.seed = (uint64_t)a->seed, fo.variance = a->variance;
    if (!rc) rc = ds_model_fit(&data, kind, &fo, m);
    if (rc) ds_data_free(&data);
    if (!rc) *data_out = data;
    return rc;
}

// The training rows as noether_data.csv (the plot draws them under the paths).
static void data_table(const ds_data *data, ds_table *t) {
    char header[1024];
    ds_table_init(t, vec_header(header, sizeof header, "x", data->d) + 1);
    for (int64_t i = 0; i < data->n; i++)
        for (int64_t j = 0; j < data->d; j++) ds_table_add(t, "%.9g", ds_data_value(data, i, j));
}

// The paths' nodes, midpoints and one summary row each.
static void tables(ds_noether_path *paths, int n, int64_t d, const double *centre, ds_table *nodes,
                   ds_table *mids, ds_table *summary) {
    char header[4096], xs[1024], ps[1024];
    snprintf(header, sizeof header, "path,node,t,sigma%s%s,angular",
             vec_header(xs, sizeof xs, "x", d), vec_header(ps, sizeof ps, "p", d));
    ds_table_init(nodes, header);
    ds_table_init(mids, "path,interval,t,sigma,energy,dl_dt");
    char sum_header[4096] = "path,steps,iters,converged,grad_rel,action,energy_first,energy_last,"
                            "energy_change,energy_balance,angular_first,angular_last,"
                            "angular_drift_rel";
    for (int64_t j = 0; j < d; j++)
        snprintf(sum_header + strlen(sum_header), sizeof sum_header - strlen(sum_header),
                 ",p%lld_drift_rel", (long long)j);
    ds_table_init(summary, sum_header);
    for (int i = 0; i < n; i++) {
        const ds_noether_path *p = paths + i;
        // J's drift relative to max |x - c| |p| (J itself may be ~0 on a radial path)
        double jmax = 0, jdrift = 0, pmax = 0, pdrift[MAX_DIM] = {0};
        for (int64_t k = 0; k <= p->steps; k++) {
            ds_table_add(nodes, "%d", i);
            ds_table_add(nodes, "%lld", (long long)k);
            ds_table_add(nodes, "%.9g", p->t[k]);
            ds_table_add(nodes, "%.9g", p->sigma[k]);
            for (int64_t j = 0; j < d; j++) ds_table_add(nodes, "%.9g", p->x[k * d + j]);
            for (int64_t j = 0; j < d; j++) {
                ds_table_add(nodes, "%.9g", p->p[k * d + j]);
                pmax = fmax(pmax, fabs(p->p[k * d + j]));
                pdrift[j] = fmax(pdrift[j], fabs(p->p[k * d + j] - p->p[j]));
            }
            ds_table_add(nodes, "%.9g", p->angular[k]);
            double r = d >= 2 ? hypot(p->x[k * d] - centre[0], p->x[k * d + 1] - centre[1]) : 0;
            jmax = fmax(jmax, r * (d >= 2 ? hypot(p->p[k * d], p->p[k * d + 1]) : 0));
            jdrift = fmax(jdrift, fabs(p->angular[k] - p->angular[0]));
        }
        for (int64_t k = 0; k < p->steps; k++) {
            ds_table_add(mids, "%d", i);
            ds_table_add(mids, "%lld", (long long)k);
            ds_table_add(mids, "%.9g", 0.5 * (p->t[k] + p->t[k + 1]));
            ds_table_add(mids, "%.9g", 0.5 * (p->sigma[k] + p->sigma[k + 1]));
            ds_table_add(mids, "%.9g", p->energy[k]);
            ds_table_add(mids, "%.9g", p->dl_dt[k]);
        }
        double e0 = p->energy[0], e1 = p->energy[p->steps - 1];
        ds_table_add(summary, "%d", i);
        ds_table_add(summary, "%lld", (long long)p->steps);
        ds_table_add(summary, "%lld", (long long)p->iters);
        ds_table_add(summary, "%d", p->converged);
        ds_table_add(summary, "%.3g", p->grad_rel);
        ds_table_add(summary, "%.9g", p->action);
        ds_table_add(summary, "%.6g", e0);
        ds_table_add(summary, "%.6g", e1);
        ds_table_add(summary, "%.6g", e1 - e0);
        ds_table_add(summary, "%.3g", p->energy_balance);
        ds_table_add(summary, "%.6g", p->angular[0]);
        ds_table_add(summary, "%.6g", p->angular[p->steps]);
        ds_table_add(summary, "%.3g", jmax > 0 ? jdrift / jmax : 0);
        // each component's drift relative to the largest |p_j| on the path
        for (int64_t j = 0; j < d; j++)
            ds_table_add(summary, "%.3g", pmax > 0 ? pdrift[j] / pmax : 0);
    }
}

static int write_tables(const char *out, const ds_table *nodes, const ds_table *mids,
                        const ds_table *summary, const ds_table *data) {
    const ds_table *t[4] = {nodes, mids, summary, data};
    const char *names[4] = {"noether_nodes.csv", "noether_midpoints.csv", "noether_summary.csv",
                            "noether_data.csv"};
    DS_TRY(ds_table_print(summary, stdout));
    for (int i = 0; i < (data ? 4 : 3); i++) {
        char path[DS_PATH_MAX];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", out, names[i]) >= sizeof path)
            return ds_fail("%s/%s: path too long", out, names[i]);
        DS_TRY(ds_table_write_csv(t[i], path));
        printf("wrote %s\n", path);
    }
    return 0;
}

static int check_args(const noether_args *a, ds_noether_opts *o) {
    const char *cmd = "analyze noether";
    DS_TRY(cli_check_int(cmd, "steps", a->steps, 2, 100000));
    DS_TRY(cli_check_int(cmd, "iters", a->iters, 0, 10000000));
    DS_TRY(cli_check_int(cmd, "seed", a->seed, 0, INT64_MAX));
    DS_TRY(cli_check_int(cmd, "toy-n", a->toy_n, 1, 1000000));
    DS_TRY(cli_check_real(cmd, "tol", a->tol, 1e-16, 1));
    if (!a->from || !a->to) return ds_fail("%s: --from and --to are required (see --help)", cmd);
    if (strcmp(a->toy, "ring") && strcmp(a->toy, "mixture") && strcmp(a->toy, "line"))
        return ds_fail("%s: --toy '%s' (expected ring, mixture or line)", cmd, a->toy);
    ds_model_kind kind;
    DS_TRY(ds_model_kind_parse(a->model, &kind));
    if (a->model_dir && a->data)
        return ds_fail("%s: --model-dir and --data exclude each other (a model folder knows "
                       "its data)",
                       cmd);
    ds_noether_opts_default(o);
    if (!strcmp(a->process, "reverse"))
        o->process = DS_NOETHER_REVERSE;
    else if (!strcmp(a->process, "langevin"))
        o->process = DS_NOETHER_LANGEVIN;
    else
        return ds_fail("%s: --process '%s' (expected reverse or langevin)", cmd, a->process);
    o->sigma_from = a->sigma_from, o->sigma_to = a->sigma_to;
    o->sigma = a->sigma, o->duration = a->duration;
    o->steps = a->steps, o->max_iters = a->iters, o->grad_tol = a->tol;
    if (o->process == DS_NOETHER_REVERSE && !(a->sigma_from > a->sigma_to && a->sigma_to > 0))
        return ds_fail("%s: --sigma-from %g and --sigma-to %g (expected sigma-from > sigma-to > "
                       "0)",
                       cmd, a->sigma_from, a->sigma_to);
    if (o->process == DS_NOETHER_LANGEVIN && !(a->sigma > 0 && a->duration > 0))
        return ds_fail("%s: --sigma %g and --duration %g (expected both > 0)", cmd, a->sigma,
                       a->duration);
    return 0;
}

int cli_analyze_noether(int argc, char **argv) {
    noether_args a = {.model = "empirical",
                      .toy = "ring",
                      .process = "reverse",
                      .backend = "ref",
                      .out = "analysis",
                      .toy_n = 64,
                      .k = 4,
                      .steps = 64,
                      .iters = 20000,
                      .sigma_from = 2,
                      .sigma_to = 0.2,
                      .sigma = 0.5,
                      .duration = 1,
                      .tol = 1e-9,
                      .variance = 1};
    const cli_opt opts[] = {
        {"model-dir", CLI_STR, &a.model_dir, "model folder (else --model fitted to --data/--toy)"},
        {"model", CLI_STR, &a.model,
         "model kind fitted to the data: empirical, gaussian, gmm, ..."},
        {"data", CLI_STR, &a.data, "data set of low dimension (.npy rows); else --toy"},
        {"toy", CLI_STR, &a.toy, "2-D toy set: ring, mixture or line"},
        {"toy-n", CLI_INT, &a.toy_n, "points of the toy set"},
        {"k", CLI_INT, &a.k, "gmm: mixture components"},
        {"variance", CLI_REAL, &a.variance, "variance model: kappa"},
        {"process", CLI_STR, &a.process,
         "reverse (the reverse SDE from --sigma-from to --sigma-to) or langevin (at --sigma for "
         "--duration)"},
        {"sigma-from", CLI_REAL, &a.sigma_from, "reverse: noise level of the first state"},
        {"sigma-to", CLI_REAL, &a.sigma_to, "reverse: noise level of the last state"},
        {"sigma", CLI_REAL, &a.sigma, "langevin: the noise level"},
        {"duration", CLI_REAL, &a.duration, "langevin: the time between the states"},
        {"from", CLI_STR, &a.from, "first state, coordinates split by ',' (required)"},
        {"to", CLI_STR, &a.to, "last states, one path each, split by ';' (required)"},
        {"steps", CLI_INT, &a.steps, "intervals of each discretised path"},
        {"iters", CLI_INT, &a.iters, "L-BFGS iterations at most"},
        {"tol", CLI_REAL, &a.tol, "stop at this |gradient| / |gradient of the straight line|"},
        {"backend", CLI_STR, &a.backend, "ref, cpu, cuda or auto (ref: float64 differences)"},
        {"seed", CLI_INT, &a.seed, "toy mixture noise, k-means++ and variance seed"},
        {"out", CLI_STR, &a.out, "folder for the CSV files"},
    };
    int rc = cli_parse("analyze noether",
                       "Most likely paths of the diffusion SDE of a low-dimensional model between "
                       "--from and each of --to (minimised Onsager-Machlup action), with the "
                       "energy, momentum and angular momentum analogues of Noether's theorem "
                       "along them and their drift.",
                       argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc) return rc > 0 ? rc : ANALYZE_PARSE_ERROR;
    ds_noether_opts o;
    if (check_args(&a, &o)) return ANALYZE_PARSE_ERROR;
    ds_backend *be = ds_backend_new(a.backend);
    if (!be) return ANALYZE_PARSE_ERROR;
    ds_model m;
    ds_data data;
    if (load_model(&a, &m, &data)) {
        ds_backend_free(be);
        return -1;
    }
    int64_t d = m.d;
    double from[MAX_DIM], *to = ds_try_alloc((size_t)(MAX_ENDS * d), sizeof(double), "noether");
    int n_from = 0, n_to = 0;
    rc = to ? 0 : -1;
    if (!rc && d > MAX_DIM)
        rc = ds_fail("analyze noether: the model has d = %lld (expected a low-dimensional model, "
                     "d <= %d)",
                     (long long)d, MAX_DIM);
    if (!rc && (parse_points("from", a.from, d, 1, from, &n_from) ||
                parse_points("to", a.to, d, MAX_ENDS, to, &n_to)))
        rc = ANALYZE_PARSE_ERROR; // the end states do not fit the model: a refused command line
    if (!rc && d >= 2) o.centre[0] = m.mean[0], o.centre[1] = m.mean[1];
    o.fd_step = be->f64 ? 1e-4 : 3e-3;
    cli_out_dir out_dir = {0};
    if (!rc) rc = cli_out_dir_make(&out_dir, a.out);
    ds_bound_model *bm = rc ? NULL : be->bind(be, &m);
    if (!rc && !bm) rc = -1;
    ds_noether_path paths[MAX_ENDS];
    int solved = 0;
    for (; !rc && solved < n_to; solved++)
        rc = ds_noether_path_solve(be, bm, d, from, to + solved * d, &o, paths + solved);
    if (rc && solved) solved--; // the failed one is freed already
    if (!rc) {
        printf("analyze noether: %s model (d = %lld) on %s, %s process, %d paths of %lld steps; "
               "angular momentum about (%g, %g)\n\n",
               ds_model_kind_name(m.kind), (long long)d, be->name, a.process, n_to,
               (long long)o.steps, o.centre[0], o.centre[1]);
        ds_table nodes, mids, summary, rows = {0};
        tables(paths, n_to, d, o.centre, &nodes, &mids, &summary);
        if (data.n) data_table(&data, &rows);
        rc = write_tables(a.out, &nodes, &mids, &summary, data.n ? &rows : NULL);
        ds_table_free(&nodes), ds_table_free(&mids), ds_table_free(&summary);
        ds_table_free(&rows);
    }
    for (int i = 0; i < solved; i++) ds_noether_path_free(paths + i);
    if (rc && out_dir.path) cli_out_dir_abandon(&out_dir);
    if (bm) be->unbind(be, bm);
    ds_backend_free(be);
    ds_model_free(&m);
    ds_data_free(&data);
    free(to);
    return rc;
}
