// diffsamp sweep: runs every combination of solver, schedule, NFE budget and teleport
// fraction from the same noise and reports the error against the adaptive solver's
// solution (ODE solvers), the distance of the samples' distribution from the data's
// (class histogram of the nearest training rows, PCA-Frechet distances; the measure of
// the stochastic samplers, whose noise makes per-sample errors meaningless), the
// memorised fraction and time.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ds_analysis.h"
#include "ds_error.h"
#include "ds_sample.h"
#include "mem_plan.h"

enum { MAX_LIST = 16 };

typedef struct {
    const char *data_path, *heldout, *kind, *solvers, *schedules, *nfes, *teleports, *backend;
    const char *out;
    int64_t n, batch, seed, pca_k, k;
    double sigma_min, sigma_max, rho, rtol;
    const char *model_dirs; // prepared model folders, comma-separated (NULL: fit --model)
    int kind_given;         // --model was given (then every folder must hold that kind)
    ds_solver_opts noise;   // the stochastic options, given to every listed solver
} sweep_opts;

// What every configuration shares: the data, the models, the ground truth, the PCA
// space and the held-out rows.
typedef struct {
    const sweep_opts *o;
    ds_backend *be;
    ds_data train;
    ds_model model, gauss;            // the sampled model; the Gaussian for teleportation
    const char *label;                // the model in the table: its kind, or its folder
    char model_id[DS_PATH_MAX + 128]; // what determines the model, for the ground truth's cache
    double *truth, *result;           // n x d host rows
    double *z_train;                  // train.n x pca_k: training rows in the PCA space
    double *z_heldout;                // n_heldout x pca_k: held-out rows in the PCA space, or NULL
    int64_t *truth_nearest;           // nearest training row of each truth sample
    int64_t n, d, n_heldout;
    int64_t n_classes;     // 0: the training data has no labels
    int64_t *train_counts; // n_classes: the training set's class histogram
    int64_t *counts;       // n_classes: the histogram of the current run's nearest rows
    ds_pca pca;
} sweep_state;

// Splits a comma-separated list in place.
static int split(char *list, const char *option, char **items, int *count) {
    *count = 0;
    size_t len = strlen(list);
    if (len && (list[0] == ',' || list[len - 1] == ',' || strstr(list, ",,")))
        return ds_fail("sweep: --%s '%s' has an empty item (expected values separated by single "
                       "commas)",
                       option, list);
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (*count == MAX_LIST)
            return ds_fail("sweep: --%s lists more than %d values", option, MAX_LIST);
        for (int i = 0; i < *count; i++)
            if (!strcmp(items[i], tok)) return ds_fail("sweep: --%s names '%s' twice", option, tok);
        items[(*count)++] = tok;
    }
    if (*count == 0) return ds_fail("sweep: --%s is empty", option);
    return 0;
}

static int parse_real(const char *text, const char *option, double lo, double hi, double *v) {
    char *end;
    *v = strtod(text, &end);
    if (end == text || *end || !(*v >= lo && *v < hi))
        return ds_fail("sweep: --%s expects numbers in [%g, %g), got '%s'", option, lo, hi, text);
    return 0;
}

static int collect_rows(void *user, int64_t first_row, int64_t rows, const double *x) {
    sweep_state *s = user;
    memcpy(s->result + first_row * s->d, x, sizeof(double) * (size_t)(rows * s->d));
    return 0;
}

// A run configuration with the sweep's common settings: ends at sigma_min (no final
// step to 0), rows 0 .. n-1 of the seed's noise, the stochastic options given.
static void base_config(const sweep_state *s, const char *solver, const char *schedule,
                        int64_t steps, double teleport, ds_sample_config *c) {
    ds_sample_config_default(c);
    c->solver = s->o->noise;
    c->n = s->n;
    c->batch = s->o->batch;
    c->seed = (uint64_t)s->o->seed;
    c->solver.solver = solver;
    c->schedule.kind = schedule;
    c->schedule.steps = steps;
    c->schedule.sigma_min = s->o->sigma_min;
    c->schedule.sigma_max = s->o->sigma_max;
    c->schedule.rho = s->o->rho;
    c->schedule.final_zero = 0;
    c->teleport.fraction = teleport;
}

// The largest number of steps whose NFE (without teleporting) stays within the budget;
// the count depends only on the solver and the number of sigmas, so an edm schedule of
// the same length stands in for every kind.
static int steps_for_nfe(const sweep_state *s, const ds_solver_opts *so, int64_t budget,
                         int64_t *steps) {
    *steps = 0;
    for (int64_t k = 1; k <= budget; k++) {
        ds_sample_config c;
        base_config(s, so->solver, "edm", k, 0, &c);
        double *sigmas = NULL;
        int n = 0;
        int64_t nfe = 0;
        int rc = ds_schedule_build(&c.schedule, NULL, so, &sigmas, &n);
        if (!rc) rc = ds_solver_count_nfe(so, sigmas, n, &nfe);
        free(sigmas);
        DS_TRY(rc);
        if (nfe > budget) break;
        *steps = k;
    }
    if (*steps == 0)
        return ds_fail("sweep: %s needs more than %lld NFE for one step", so->solver,
                       (long long)budget);
    return 0;
}

// The rows where the run (and, when it is compared with it, the truth) is finite, copied
// to the front of xs and ts; idx maps them back. A diverged sample (NaN or Inf) is
// counted, not measured.
static int64_t finite_rows(const sweep_state *s, int compared, double *xs, double *ts,
                           int64_t *idx) {
    memcpy(xs, s->result, sizeof(double) * (size_t)(s->n * s->d));
    memcpy(ts, s->truth, sizeof(double) * (size_t)(s->n * s->d));
    return ds_finite_rows(xs, compared ? ts : NULL, s->n, s->d, idx);
}

// PCA-Frechet distances of m rows to the training set and to the held-out set (NaN
// without one, or with fewer than 2 rows).
static int frechet_of(const sweep_state *s, const double *x, int64_t m, double *fd_train,
                      double *fd_heldout) {
    *fd_train = *fd_heldout = NAN;
    if (m < 2) return 0;
    int64_t k = s->pca.k;
    double *z = ds_try_alloc((size_t)(m * k), sizeof(double), "sweep");
    int rc = z ? ds_pca_project(&s->pca, x, m, z) : -1;
    if (!rc) rc = ds_frechet(z, m, s->z_train, s->train.n, k, fd_train);
    if (!rc && s->z_heldout) rc = ds_frechet(z, m, s->z_heldout, s->n_heldout, k, fd_heldout);
    free(z);
    return rc;
}

// Measures of s->result on its finite rows, as cells: the error against the truth
// (compared: an ODE run; NaN for a stochastic one), the PCA-Frechet distance to the
// held-out rows, memorisation, agreement with the truth's nearest training rows, the
// number of rows left out, then the judgement, the noise options, the PCA-Frechet
// distance to the training rows and the class histogram's total variation distance
// (its counts in s->counts). truth: s->result is the truth.
static int add_measures(sweep_state *s, const ds_sample_config *c, int truth, ds_table *t) {
    int compared = !ds_solver_stochastic(&c->solver);
    size_t rows = (size_t)(s->n * s->d);
    double *xs = ds_try_alloc(rows, sizeof(double), "sweep");
    double *ts = ds_try_alloc(rows, sizeof(double), "sweep");
    double *err = ds_try_alloc((size_t)s->n, sizeof(double), "sweep");
    double fd = NAN, fd_train = NAN, tv = NAN;
    int64_t *idx = ds_try_alloc((size_t)s->n, sizeof(int64_t), "sweep"), agree = 0, m = 0;
    ds_stats st;
    ds_memorization mem = {0};
    int rc = xs && ts && err && idx ? 0 : -1;
    if (!rc) {
        m = finite_rows(s, compared, xs, ts, idx);
        ds_rel_error_rows(xs, ts, compared ? m : 0, s->d, err);
        rc = ds_stats_of(err, compared ? m : 0, &st);
    }
    if (!rc) rc = frechet_of(s, xs, m, &fd_train, &fd);
    if (!rc && m > 0) rc = ds_memorization_compute(&s->train, xs, m, &mem);
    for (int64_t i = 0; !rc && compared && i < m; i++) {
        if (truth) s->truth_nearest[idx[i]] = mem.nearest[i];
        agree += mem.nearest[i] == s->truth_nearest[idx[i]];
    }
    if (!rc && s->n_classes) {
        ds_class_histogram(&s->train, mem.nearest, m, s->n_classes, s->counts);
        tv = ds_histogram_tv(s->counts, s->train_counts, s->n_classes);
    }
    char noise[128];
    ds_solver_noise_label(&c->solver, noise, sizeof noise);
    ds_table_add(t, "%.4g", compared && m ? st.mean : NAN);
    ds_table_add(t, "%.4g", compared && m ? st.q50 : NAN);
    ds_table_add(t, "%.4g", compared && m ? st.q95 : NAN);
    ds_table_add(t, "%.5g", fd);
    ds_table_add(t, "%.4f", m ? mem.fraction : NAN);
    ds_table_add(t, "%.4f", compared && m ? (double)agree / (double)m : NAN);
    ds_table_add(t, "%lld", (long long)(s->n - m));
    ds_table_add(t, "%s", truth ? "truth" : compared ? "error" : "distribution");
    ds_table_add(t, "%s", noise[0] ? noise : "-");
    ds_table_add(t, "%.5g", fd_train);
    ds_table_add(t, "%.4f", tv);
    if (m < s->n)
        fprintf(stderr,
                "sweep: %lld of %lld samples are not finite (NaN or Inf) in this run or "
                "in the ground truth; they are left out of its measures\n",
                (long long)(s->n - m), (long long)s->n);
    ds_memorization_free(&mem);
    free(xs);
    free(ts);
    free(err);
    free(idx);
    return rc;
}

#define SWEEP_HEADER                                                                               \
    "solver,schedule,steps,teleport,nfe,error_mean,error_q50,error_q95,frechet,memorized,"         \
    "same_nearest,nonfinite,judged_by,noise,frechet_train,class_tv,seconds,model"
#define CLASSES_HEADER "solver,schedule,steps,teleport,nfe,noise,class,count,train_fraction,model"

// The class histogram of the run just measured (s->counts), one row per class, beside
// the training set's class frequencies.
static void add_classes(const sweep_state *s, const ds_sample_config *c, const char *schedule,
                        const char *steps, int64_t nfe, ds_table *classes) {
    char noise[128];
    ds_solver_noise_label(&c->solver, noise, sizeof noise);
    for (int64_t k = 0; k < s->n_classes; k++) {
        ds_table_add(classes, "%s", c->solver.solver);
        ds_table_add(classes, "%s", schedule);
        ds_table_add(classes, "%s", steps);
        ds_table_add(classes, "%g", c->teleport.fraction);
        ds_table_add(classes, "%lld", (long long)nfe);
        ds_table_add(classes, "%s", noise[0] ? noise : "-");
        ds_table_add(classes, "%lld", (long long)k);
        ds_table_add(classes, "%lld", (long long)s->counts[k]);
        ds_table_add(classes, "%.6f", (double)s->train_counts[k] / (double)s->train.n);
        ds_table_add(classes, "%s", s->label);
    }
}

// What determines the ground truth's rows: the model, the noise (seed and rows), the
// schedule's range, the tolerance, and the backend and batch that compute it (float32
// sums on cpu depend on how the rows are blocked).
static void truth_key(const sweep_state *s, char *key, size_t size) {
    const sweep_opts *o = s->o;
    snprintf(key, size,
             "model %s | noise seed %lld rows %lld d %lld | edm %.17g .. %.17g rho %.17g | "
             "rtol %.17g | backend %s batch %lld",
             s->model_id, (long long)o->seed, (long long)s->n, (long long)s->d, o->sigma_max,
             o->sigma_min, o->rho, o->rtol, s->be->name, (long long)o->batch);
}

// Appends the row of the run in s->result (the ground truth's, truth set, becomes
// s->truth first, so its error is 0), and its class histogram to classes.
static int add_row(sweep_state *s, const ds_sample_config *c, const char *schedule_label,
                   const char *steps_label, int truth, int64_t nfe, double seconds, ds_table *t,
                   ds_table *classes) {
    if (truth) memcpy(s->truth, s->result, sizeof(double) * (size_t)(s->n * s->d));
    ds_table_add(t, "%s", c->solver.solver);
    ds_table_add(t, "%s", schedule_label);
    ds_table_add(t, "%s", steps_label);
    ds_table_add(t, "%g", c->teleport.fraction);
    ds_table_add(t, "%lld", (long long)nfe);
    int rc = add_measures(s, c, truth, t);
    ds_table_add(t, "%.3f", seconds);
    ds_table_add(t, "%s", s->label);
    if (!rc && s->n_classes) add_classes(s, c, schedule_label, steps_label, nfe, classes);
    return rc;
}

// Runs one configuration into s->result and appends its rows.
static int run_row(sweep_state *s, const ds_sample_config *c, const char *schedule_label,
                   const char *steps_label, int truth, ds_table *t, ds_table *classes) {
    ds_sample_result r;
    int rc = ds_sample_run(s->be, &s->model, c->teleport.fraction > 0 ? &s->gauss : NULL, c,
                           collect_rows, s, &r);
    if (rc) return rc;
    rc = add_row(s, c, schedule_label, steps_label, truth, r.nfe, r.seconds, t, classes);
    fprintf(stderr, "sweep: %s %s steps %s teleport %g: %lld NFE, %.2f s\n", c->solver.solver,
            schedule_label, steps_label, c->teleport.fraction, (long long)r.nfe, r.seconds);
    if (!rc && truth) { // kept for the next sweep of this model, noise and tolerance
        char key[DS_PATH_MAX + 512];
        truth_key(s, key, sizeof key);
        rc = cli_truth_save(s->o->out, key, s->truth, s->n, s->d, r.nfe, r.seconds);
    }
    ds_sample_result_free(&r);
    return rc;
}

// The ground truth: the adaptive solver (no noise) from sigma_max to sigma_min, or the
// rows an earlier sweep computed for the same key (OUT/truth, cli_truth_cache.c).
static int ground_truth(sweep_state *s, ds_table *t, ds_table *classes) {
    ds_sample_config c;
    base_config(s, "adaptive", "edm", 1, 0, &c);
    ds_solver_opts_default(&c.solver);
    c.solver.solver = "adaptive";
    c.solver.rtol = c.solver.atol = s->o->rtol;
    char label[64], key[DS_PATH_MAX + 512], path[DS_PATH_MAX + 64];
    snprintf(label, sizeof label, "rtol=%g", s->o->rtol);
    truth_key(s, key, sizeof key);
    int64_t nfe;
    double seconds;
    if (cli_truth_load(s->o->out, key, s->result, s->n, s->d, &nfe, &seconds, path, sizeof path)) {
        fprintf(stderr,
                "sweep: the ground truth of %s from %s (computed before: %lld NFE, %.2f s)\n",
                s->label, path, (long long)nfe, seconds);
        return add_row(s, &c, label, "-", 1, nfe, seconds, t, classes);
    }
    return run_row(s, &c, label, "-", 1, t, classes);
}

// The rows of data -> z (n x pca_k) in the PCA space, a chunk of rows at a time.
static int project_data(const ds_pca *p, const ds_data *data, double *z) {
    enum { CHUNK = 4096 };
    double *rows = ds_try_alloc((size_t)(CHUNK * data->d), sizeof(double), data->path);
    int rc = rows ? 0 : -1;
    for (int64_t first = 0; !rc && first < data->n; first += CHUNK) {
        int64_t m = data->n - first < CHUNK ? data->n - first : CHUNK;
        ds_data_rows_f64(data, first, m, rows);
        rc = ds_pca_project(p, rows, m, z + first * p->k);
    }
    free(rows);
    return rc;
}

// The PCA space of the training rows, the training and held-out rows in it, and the
// training class histogram (when the data has labels).
static int measure_setup(sweep_state *s, const sweep_opts *o) {
    DS_TRY(ds_pca_fit(&s->train, cli_pca_k("sweep", o->pca_k, &s->train), &s->pca));
    s->z_train = ds_try_alloc((size_t)(s->train.n * s->pca.k), sizeof(double), s->train.path);
    if (!s->z_train) return -1;
    DS_TRY(project_data(&s->pca, &s->train, s->z_train));
    if (s->train.labels) {
        DS_TRY(ds_class_count(&s->train, &s->n_classes));
        s->train_counts = ds_try_alloc((size_t)s->n_classes, sizeof(int64_t), "class histogram");
        s->counts = ds_try_alloc((size_t)s->n_classes, sizeof(int64_t), "class histogram");
        if (!s->train_counts || !s->counts) return -1;
        ds_class_histogram(&s->train, NULL, s->train.n, s->n_classes, s->train_counts);
    }
    if (!o->heldout) return 0;
    ds_data test;
    DS_TRY(cli_data_load("sweep", o->heldout, &test));
    int rc = test.d == s->d ? 0
                            : ds_fail("%s: rows of dimension %lld, but the training data has %lld",
                                      o->heldout, (long long)test.d, (long long)s->d);
    if (!rc) {
        s->n_heldout = test.n;
        s->z_heldout = ds_try_alloc((size_t)(test.n * s->pca.k), sizeof(double), o->heldout);
        rc = s->z_heldout ? project_data(&s->pca, &test, s->z_heldout) : -1;
    }
    ds_data_free(&test);
    return rc;
}

// The model to sweep: the folder dir (its d must be the data's), or a fit of --model to
// the data; with its label and identity.
static int sweep_model(sweep_state *s, const char *dir) {
    const sweep_opts *o = s->o;
    ds_model_free(&s->model);
    if (!dir) {
        ds_model_kind kind;
        DS_TRY(ds_model_kind_parse(o->kind, &kind));
        ds_fit_opts fo;
        ds_fit_opts_default(&fo);
        fo.k = o->k;
        fo.seed = (uint64_t)o->seed;
        DS_TRY(ds_model_fit(&s->train, kind, &fo, &s->model));
        s->label = o->kind;
        snprintf(s->model_id, sizeof s->model_id,
                 "fit %s k %lld seed %lld of %s %lld bytes %016llx", o->kind, (long long)o->k,
                 (long long)o->seed, s->model.data_path, (long long)s->model.data_bytes,
                 (unsigned long long)s->model.data_checksum);
        return 0;
    }
    char abs[DS_PATH_MAX];
    int64_t bytes;
    uint64_t sum;
    DS_TRY(ds_data_fingerprint(dir, abs, &bytes, &sum));
    DS_TRY(ds_model_load(dir, &s->model));
    if (s->model.d != s->d)
        return ds_fail("%s: a model of dimension %lld, but the data %s has %lld", dir,
                       (long long)s->model.d, o->data_path, (long long)s->d);
    s->label = dir;
    snprintf(s->model_id, sizeof s->model_id, "folder %s %lld bytes %016llx", abs, (long long)bytes,
             (unsigned long long)sum);
    return 0;
}

static int sweep_setup(sweep_state *s, const sweep_opts *o, int teleporting) {
    s->o = o;
    s->n = o->n;
    DS_TRY(cli_data_load("sweep", o->data_path, &s->train));
    s->d = s->train.d;
    // The ground truth, a run's result and its copy on the backend: n x d doubles each.
    double need = 3.0 * (double)s->n * (double)s->d * sizeof(double);
    uint64_t avail = ds_host_memory_available();
    if (avail && need > (double)avail) {
        char a[32], b[32];
        ds_format_bytes((uint64_t)fmin(need, 1e19), a, sizeof a);
        ds_format_bytes(avail, b, sizeof b);
        return ds_fail("sweep: --n %lld samples of d = %lld need about %s of memory and %s is "
                       "available (lower --n)",
                       (long long)s->n, (long long)s->d, a, b);
    }
    ds_fit_opts fo;
    ds_fit_opts_default(&fo);
    if (teleporting) DS_TRY(ds_model_fit(&s->train, DS_MODEL_GAUSSIAN, &fo, &s->gauss));
    if (!(s->be = ds_backend_new(o->backend))) return -1;
    s->truth = ds_try_alloc((size_t)(s->n * s->d), sizeof(double), "sweep: the ground truth");
    s->result = ds_try_alloc((size_t)(s->n * s->d), sizeof(double), "sweep");
    s->truth_nearest = ds_try_alloc((size_t)s->n, sizeof(int64_t), "sweep");
    if (!s->truth || !s->result || !s->truth_nearest) return -1;
    return measure_setup(s, o);
}

static void sweep_teardown(sweep_state *s) {
    ds_backend_free(s->be);
    ds_model_free(&s->model);
    ds_model_free(&s->gauss);
    ds_data_free(&s->train);
    ds_pca_free(&s->pca);
    free(s->truth);
    free(s->truth_nearest);
    free(s->result);
    free(s->z_train);
    free(s->z_heldout);
    free(s->train_counts);
    free(s->counts);
}

typedef struct {
    char *solver[MAX_LIST], *schedule[MAX_LIST], *dirs[MAX_LIST];
    double nfe[MAX_LIST], teleport[MAX_LIST];
    int n_solver, n_schedule, n_nfe, n_teleport, n_dirs;
} sweep_lists;

// --model-dir's folders (none without it); each must hold a model, of --model's kind
// when both are given.
static int parse_dirs(char *text, const sweep_opts *o, sweep_lists *l) {
    l->n_dirs = 0;
    if (!o->model_dirs) return 0;
    DS_TRY(split(text, "model-dir", l->dirs, &l->n_dirs));
    for (int i = 0; i < l->n_dirs; i++) {
        ds_model_kind held, kind;
        DS_TRY(ds_model_folder_kind(l->dirs[i], &held));
        if (o->kind_given && !ds_model_kind_parse(o->kind, &kind) && kind != held)
            return ds_fail("sweep: --model %s contradicts --model-dir %s, which holds a %s model "
                           "(leave out --model)",
                           o->kind, l->dirs[i], ds_model_kind_name(held));
    }
    return 0;
}

static int parse_lists(char text[4][256], sweep_lists *l) {
    char *nf[MAX_LIST], *tp[MAX_LIST];
    DS_TRY(split(text[0], "solvers", l->solver, &l->n_solver));
    DS_TRY(split(text[1], "schedules", l->schedule, &l->n_schedule));
    DS_TRY(split(text[2], "nfe", nf, &l->n_nfe));
    DS_TRY(split(text[3], "teleport", tp, &l->n_teleport));
    for (int i = 0; i < l->n_solver; i++) {
        DS_TRY(ds_solver_check_name(l->solver[i]));
        if (!strcmp(l->solver[i], "adaptive"))
            return ds_fail("sweep: adaptive is the ground truth, not a configuration to sweep");
    }
    for (int i = 0; i < l->n_schedule; i++)
        if (!ds_schedule_known(l->schedule[i]) || !strcmp(l->schedule[i], "file"))
            return ds_fail("sweep: unknown schedule '%s' (expected edm, logsnr, vp or gits)",
                           l->schedule[i]);
    for (int i = 0; i < l->n_nfe; i++) DS_TRY(parse_real(nf[i], "nfe", 1, 1e6, &l->nfe[i]));
    for (int i = 0; i < l->n_teleport; i++)
        DS_TRY(parse_real(tp[i], "teleport", 0, 1, &l->teleport[i]));
    return 0;
}

// The checks that need no data, before the model is fitted and the ground truth run:
// the ranges of the options and a step count for every solver and NFE budget (which
// also checks the schedule's range and that each solver reads the stochastic options
// given). *ode: whether a listed solver draws no noise (and needs the ground truth).
static int preflight(const sweep_opts *o, const sweep_lists *l, int *ode) {
    *ode = 0;
    DS_TRY(cli_check_int("sweep", "n", o->n, 2, INT64_MAX));
    DS_TRY(cli_check_int("sweep", "batch", o->batch, 1, INT64_MAX));
    DS_TRY(cli_check_int("sweep", "seed", o->seed, 0, INT64_MAX));
    DS_TRY(cli_check_int("sweep", "pca-k", o->pca_k, 0, INT64_MAX));
    if (!(o->rtol >= 1e-14)) return ds_fail("sweep: --rtol must be >= 1e-14, got %g", o->rtol);
    ds_model_kind kind;
    DS_TRY(ds_model_kind_parse(o->kind, &kind));
    sweep_state s = {.o = o, .n = o->n};
    for (int a = 0; a < l->n_solver; a++)
        for (int c = 0; c < l->n_nfe; c++) {
            ds_sample_config cfg;
            base_config(&s, l->solver[a], "edm", 1, 0, &cfg);
            DS_TRY(steps_for_nfe(&s, &cfg.solver, (int64_t)l->nfe[c], &cfg.schedule.steps));
            *ode |= !ds_solver_stochastic(&cfg.solver);
        }
    return 0;
}

// Whether the teleport fraction of c skips at least one of its steps and leaves one (it
// skips round(fraction * steps), see ds_teleport_opts); if not, says so on stderr. A
// fraction that skips none would repeat the row without teleport under another label,
// and one that skips all would stop the sweep after the runs already made.
static int teleport_fits(const ds_sample_config *c) {
    int64_t steps = c->schedule.steps, skipped = lround(c->teleport.fraction * (double)steps);
    if (c->teleport.fraction == 0 || (skipped >= 1 && skipped < steps)) return 1;
    fprintf(stderr,
            "sweep: %s %s steps %lld teleport %g: skips %lld of the %lld steps (expected "
            "1 to %lld); configuration left out\n",
            c->solver.solver, c->schedule.kind, (long long)steps, c->teleport.fraction,
            (long long)skipped, (long long)steps, (long long)(steps - 1));
    return 0;
}

// The ground truth (when an ODE solver is listed), then every combination of the lists,
// one table row each.
static int sweep_one(sweep_state *s, const sweep_lists *l, int ode, ds_table *t,
                     ds_table *classes) {
    if (ode) DS_TRY(ground_truth(s, t, classes));
    for (int a = 0; a < l->n_solver; a++)
        for (int b = 0; b < l->n_schedule; b++)
            for (int e = 0; e < l->n_teleport; e++)
                for (int c = 0; c < l->n_nfe; c++) {
                    ds_sample_config cfg;
                    base_config(s, l->solver[a], l->schedule[b], 1, l->teleport[e], &cfg);
                    DS_TRY(steps_for_nfe(s, &cfg.solver, (int64_t)l->nfe[c], &cfg.schedule.steps));
                    if (!teleport_fits(&cfg)) continue;
                    char steps[32];
                    snprintf(steps, sizeof steps, "%lld", (long long)cfg.schedule.steps);
                    DS_TRY(run_row(s, &cfg, l->schedule[b], steps, 0, t, classes));
                }
    return 0;
}

// The sweep of every model: each --model-dir folder in turn, or the fit of --model.
static int sweep_all(sweep_state *s, const sweep_lists *l, int ode, ds_table *t,
                     ds_table *classes) {
    for (int m = 0; m < (l->n_dirs ? l->n_dirs : 1); m++) {
        DS_TRY(sweep_model(s, l->n_dirs ? l->dirs[m] : NULL));
        DS_TRY(sweep_one(s, l, ode, t, classes));
    }
    return 0;
}

int cli_sweep(int argc, char **argv) {
    sweep_opts o = {DS_DEFAULT_DATA, NULL,       "empirical", "euler,heun", "edm", "10,20,40", "0",
                    "auto",          "analysis", 64,          256,          0,     0,          10,
                    0.002,           80,         7,           1e-6,         NULL,  0,          {0}};
    ds_solver_opts_default(&o.noise);
    const cli_opt opts[] = {
        {"data", CLI_STR, &o.data_path, "training data (the model is fitted to it)"},
        {"heldout", CLI_STR, &o.heldout, "held-out data for the PCA-Frechet distance"},
        {"model", CLI_STR, &o.kind, "empirical, gmm or gaussian"},
        {"model-dir", CLI_STR, &o.model_dirs,
         "prepared model folders, comma-separated: the sweep runs on each in turn, its ground "
         "truth included (instead of fitting --model); memorisation against --data"},
        {"k", CLI_INT, &o.k, "gmm: mixture components"},
        {"solvers", CLI_STR, &o.solvers, "comma-separated solvers"},
        {"schedules", CLI_STR, &o.schedules, "comma-separated schedules (edm, logsnr, vp, gits)"},
        {"nfe", CLI_STR, &o.nfes, "comma-separated NFE budgets (the most steps within each)"},
        {"teleport", CLI_STR, &o.teleports, "comma-separated fractions of steps teleported"},
        {"n", CLI_INT, &o.n, "samples per configuration (noise rows 0 .. n-1)"},
        {"batch", CLI_INT, &o.batch, "rows per batch"},
        {"seed", CLI_INT, &o.seed, "noise seed (also the k-means++ seed)"},
        {"sigma-min", CLI_REAL, &o.sigma_min, "last sigma of every schedule"},
        {"sigma-max", CLI_REAL, &o.sigma_max, "first sigma"},
        {"rho", CLI_REAL, &o.rho, "edm schedule exponent"},
        {"rtol", CLI_REAL, &o.rtol, "ground truth: adaptive rtol = atol"},
        {"s-churn", CLI_REAL, &o.noise.s_churn, "euler, heun: EDM's churn S_churn (0: the ODE)"},
        {"s-tmin", CLI_REAL, &o.noise.s_tmin, "euler, heun: churn only where sigma >= S_tmin"},
        {"s-tmax", CLI_REAL, &o.noise.s_tmax, "euler, heun: churn only where sigma <= S_tmax"},
        {"s-noise", CLI_REAL, &o.noise.s_noise, "churn, ancestral and SDE samplers: noise scale"},
        {"eta", CLI_REAL, &o.noise.eta,
         "euler_ancestral, dpmpp_sde, dpmpp2m_sde, dpmpp3m_sde: noise fraction"},
        {"r", CLI_REAL, &o.noise.sde_r, "dpmpp_sde: the substep's fraction of the step"},
        {"pca-k", CLI_INT, &o.pca_k,
         "principal components for the Frechet distance (0: 64, or d when d < 64)"},
        {"backend", CLI_STR, &o.backend, "ref, cpu, cuda or auto"},
        {"out", CLI_STR, &o.out, "folder for sweep.csv"},
    };
    int rc = cli_parse("sweep",
                       "Runs every combination of solver, schedule, NFE budget and teleport "
                       "fraction from the same noise, every schedule ending at sigma_min (no "
                       "final step to 0), and reports for the ODE solvers the relative L2 error "
                       "against the adaptive solver's solution and the fraction of samples "
                       "whose nearest training row is the ground truth's; for every run the "
                       "PCA-Frechet distances to the training and held-out data, the total "
                       "variation distance between the class histogram of the samples' "
                       "nearest training rows and the training set's (labelled data), the "
                       "memorised fraction and the time (model binding included). The "
                       "stochastic samplers (the stochastic options are given to every listed "
                       "solver) are judged by the distributional measures only "
                       "(judged_by = distribution); sweep_classes.csv holds the histograms.",
                       argc, argv, opts, (int)(sizeof opts / sizeof opts[0]));
    if (rc) return rc > 0 ? 0 : cli_fail(2);
    o.kind_given = cli_given(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), "model");
    char text[4][256], dirs[DS_PATH_MAX * 2];
    const char *src[4] = {o.solvers, o.schedules, o.nfes, o.teleports};
    const char *list_name[4] = {"solvers", "schedules", "nfe", "teleport"};
    for (int i = 0; i < 4 && !rc; i++)
        if ((size_t)snprintf(text[i], sizeof text[i], "%s", src[i]) >= sizeof text[i])
            rc = ds_fail("sweep: --%s is longer than %d characters", list_name[i],
                         (int)sizeof text[i] - 1);
    sweep_lists lists;
    sweep_state s = {0};
    ds_table t, classes;
    ds_table_init(&t, SWEEP_HEADER);
    ds_table_init(&classes, CLASSES_HEADER);
    char path[DS_PATH_MAX], classes_path[DS_PATH_MAX];
    int ode = 0;
    if (!rc && o.model_dirs &&
        (size_t)snprintf(dirs, sizeof dirs, "%s", o.model_dirs) >= sizeof dirs)
        rc = ds_fail("sweep: --model-dir is longer than %d characters", (int)sizeof dirs - 1);
    if (!rc) rc = parse_lists(text, &lists);
    if (!rc) rc = parse_dirs(dirs, &o, &lists);
    if (!rc) rc = preflight(&o, &lists, &ode);
    if (!rc && ((size_t)snprintf(path, sizeof path, "%s/sweep.csv", o.out) >= sizeof path ||
                (size_t)snprintf(classes_path, sizeof classes_path, "%s/sweep_classes.csv",
                                 o.out) >= sizeof classes_path))
        rc = ds_fail("%s: path too long", o.out);
    if (rc) { // a refused command line: nothing was loaded or made
        ds_table_free(&t);
        ds_table_free(&classes);
        return cli_fail(2);
    }
    int teleporting = 0;
    for (int i = 0; !rc && i < lists.n_teleport; i++) teleporting |= lists.teleport[i] > 0;
    cli_out_dir out_dir = {0};
    if (!rc) rc = cli_out_dir_make(&out_dir, o.out); // before the runs: fails at once
    if (!rc) rc = sweep_setup(&s, &o, teleporting);
    if (!rc) rc = sweep_all(&s, &lists, ode, &t, &classes);
    if (!rc) {
        printf("\n");
        rc = ds_table_print(&t, stdout);
        if (!rc) rc = ds_table_write_csv(&t, path);
        if (!rc) printf("wrote %s\n", path);
    }
    if (!rc && s.n_classes) {
        rc = ds_table_write_csv(&classes, classes_path);
        if (!rc) printf("wrote %s\n", classes_path);
    }
    if (rc) cli_out_dir_abandon(&out_dir);
    sweep_teardown(&s);
    ds_table_free(&t);
    ds_table_free(&classes);
    return rc ? cli_fail(1) : 0;
}
