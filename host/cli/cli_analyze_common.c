// The steps the diffsamp analyze subcommands share: rows and trajectories read as
// doubles, tables printed and written, and the model and run of the analyses that sample.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_analyze.h"
#include "ds_error.h"
#include "ds_schedule.h"

int analyze_load_f64(const char *path, int finite_only, ds_array *a) {
    DS_TRY(finite_only ? ds_npy_read(path, a) : ds_npy_read_any(path, a));
    if (a->dtype == DS_F64) return 0;
    int64_t count = ds_array_count(a);
    double *x = ds_try_alloc((size_t)count, sizeof(double), path);
    if (!x) {
        ds_array_free(a);
        return -1;
    }
    for (int64_t i = 0; i < count; i++)
        x[i] = a->dtype == DS_F32 ? ((float *)a->data)[i]
                                  : ((unsigned char *)a->data)[i] / 127.5 - 1.0;
    free(a->data);
    a->data = x;
    a->dtype = DS_F64;
    return 0;
}

// The rows of a folder of PNGs (a sample run's folder, or EDM's layout) as doubles in
// [-1, 1], as a data set's.
static int load_png_rows(const char *path, ds_array *a) {
    ds_data data;
    DS_TRY(cli_data_load("analyze", path, &data));
    memset(a, 0, sizeof *a);
    a->dtype = DS_F64, a->ndim = 2, a->shape[0] = data.n, a->shape[1] = data.d;
    a->data = ds_try_alloc((size_t)(data.n * data.d), sizeof(double), path);
    if (a->data) ds_data_rows_f64(&data, 0, data.n, a->data);
    ds_data_free(&data);
    return a->data ? 0 : -1;
}

int analyze_load_rows(const char *path, int64_t d, double **x, int64_t *n, int64_t *d_out) {
    ds_array a;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        DS_TRY(load_png_rows(path, &a));
    else
        DS_TRY(analyze_load_f64(path, 0, &a));
    int64_t cols = 1;
    for (int i = 1; i < a.ndim; i++) cols *= a.shape[i];
    int ndim = a.ndim, bad_shape = ndim < 2 || a.shape[0] < 1;
    if (bad_shape || (d && cols != d)) {
        ds_array_free(&a);
        if (ndim < 2)
            return ds_fail("%s: an array of %d dimensions (expected rows: N x d)", path, ndim);
        if (bad_shape) return ds_fail("%s: holds no rows (expected N x d with N >= 1)", path);
        return ds_fail("%s: rows of dimension %lld (expected %lld, the training data's)", path,
                       (long long)cols, (long long)d);
    }
    *x = a.data;
    *n = a.shape[0];
    if (d_out) *d_out = cols;
    return 0;
}

int analyze_need(const char *command, const char *option, const char *value) {
    if (!value)
        return ds_fail("%s: --%s is required (see diffsamp %s --help)", command, option, command);
    return 0;
}

int analyze_out_path(char *buf, size_t size, const char *dir, const char *name) {
    DS_TRY(ds_mkdirs(dir));
    if ((size_t)snprintf(buf, size, "%s/%s", dir, name) >= size)
        return ds_fail("%s/%s: path too long", dir, name);
    return 0;
}

int analyze_emit(const ds_table *t, const char *dir, const char *name) {
    char path[DS_PATH_MAX];
    DS_TRY(analyze_out_path(path, sizeof path, dir, name));
    DS_TRY(ds_table_print(t, stdout));
    DS_TRY(ds_table_write_csv(t, path));
    printf("wrote %s\n\n", path);
    return 0;
}

void analyze_add_stats_row(ds_table *t, const char *metric, const ds_stats *s) {
    ds_table_add(t, "%s", metric);
    ds_table_add(t, "%lld", (long long)s->n);
    const double v[7] = {s->mean, s->q05, s->q25, s->q50, s->q75, s->q95, s->max};
    for (int i = 0; i < 7; i++) ds_table_add(t, "%.6g", v[i]);
}

int analyze_load_trajectory(const char *prefix, analyze_trajectory_files *f, ds_traj_view *t) {
    char path[DS_PATH_MAX];
    memset(f, 0, sizeof *f);
    snprintf(path, sizeof path, "%s_x.npy", prefix);
    DS_TRY(analyze_load_f64(path, 1, &f->x));
    snprintf(path, sizeof path, "%s_denoised.npy", prefix);
    DS_TRY(analyze_load_f64(path, 1, &f->denoised));
    snprintf(path, sizeof path, "%s_sigmas.npy", prefix);
    DS_TRY(analyze_load_f64(path, 1, &f->sigmas));
    const ds_array *x = &f->x, *dn = &f->denoised;
    if (x->ndim != 3 || dn->ndim != 3 || dn->shape[1] != x->shape[1] ||
        dn->shape[2] != x->shape[2] || ds_array_count(&f->sigmas) != x->shape[0])
        return ds_fail("%s: expected %s_x.npy and %s_denoised.npy of shape points x samples x d "
                       "and %s_sigmas.npy with one sigma per point",
                       prefix, prefix, prefix, prefix);
    *t = (ds_traj_view){x->shape[0], x->shape[1], x->shape[2], dn->shape[0], x->data, dn->data};
    return 0;
}

void analyze_trajectory_files_free(analyze_trajectory_files *f) {
    ds_array_free(&f->x);
    ds_array_free(&f->denoised);
    ds_array_free(&f->sigmas);
}

// ---- the model and the run of an analysis that samples ----

void analyze_opts_default(analyze_opts *o, const char *out) {
    ds_sample_config c;
    ds_sample_config_default(&c);
    *o = (analyze_opts){.data_path = DS_DEFAULT_DATA,
                        .model_kind = "empirical",
                        .backend = "auto",
                        .out = out,
                        .k = 10,
                        .sampler = "heun",
                        .schedule = "edm",
                        .steps = 18,
                        .n = 64,
                        .batch = 256,
                        .sigma_min = c.schedule.sigma_min,
                        .sigma_max = c.schedule.sigma_max};
}

int analyze_sample_config(const char *command, const analyze_opts *o, ds_sample_config *c) {
    DS_TRY(cli_check_int(command, "seed", o->seed, 0, INT64_MAX));
    DS_TRY(cli_check_int(command, "k", o->k, 1, INT32_MAX));
    DS_TRY(cli_check_int(command, "n", o->n, 1, INT32_MAX));
    DS_TRY(cli_check_int(command, "batch", o->batch, 1, INT32_MAX));
    DS_TRY(cli_check_int(command, "steps", o->steps, 1, 10000));
    DS_TRY(cli_check_real(command, "sigma-min", o->sigma_min, DS_SIGMA_LOWEST, DS_SIGMA_HIGHEST));
    DS_TRY(cli_check_real(command, "sigma-max", o->sigma_max, DS_SIGMA_LOWEST, DS_SIGMA_HIGHEST));
    ds_model_kind kind;
    if (!o->model_dir && ds_model_kind_parse(o->model_kind, &kind)) {
        char why[512];
        snprintf(why, sizeof why, "%s", ds_error());
        return ds_fail("%s: --model: %s", command, why);
    }
    if (strcmp(o->schedule, "edm") && strcmp(o->schedule, "logsnr") && strcmp(o->schedule, "vp"))
        return ds_fail("%s: --schedule '%s' (expected edm, logsnr or vp)", command, o->schedule);
    ds_sample_config_default(c);
    c->solver.solver = o->sampler;
    c->schedule.kind = o->schedule;
    c->schedule.steps = o->steps;
    c->schedule.sigma_min = o->sigma_min, c->schedule.sigma_max = o->sigma_max;
    c->schedule.final_zero = !o->no_final_zero;
    c->n = o->n, c->batch = o->batch, c->seed = (uint64_t)o->seed;
    if (ds_solver_check_name(o->sampler)) {
        char why[512];
        snprintf(why, sizeof why, "%s", ds_error());
        return ds_fail("%s: --sampler: %s", command, why);
    }
    if (ds_solver_stochastic(&c->solver))
        return ds_fail("%s: --sampler %s draws noise (expected a deterministic solver)", command,
                       o->sampler);
    ds_sample_plan p;
    DS_TRY(ds_sample_plan_make(c, NULL, 0, &p));
    ds_sample_plan_free(&p);
    return 0;
}

int analyze_model_load(const char *command, const analyze_opts *o, int fit, ds_data *data,
                       ds_model *m, const ds_data **train) {
    memset(data, 0, sizeof *data);
    memset(m, 0, sizeof *m);
    if (o->model_dir) {
        DS_TRY(ds_model_load(o->model_dir, m));
        if (m->data.values) {
            *train = &m->data;
            return 0;
        }
        if (m->data_path[0]) DS_TRY(ds_model_data_load(o->model_dir, m, data));
    }
    if (!data->values) DS_TRY(cli_data_load(command, o->data_path, data));
    *train = data;
    if (o->model_dir) {
        if (data->d != m->d)
            return ds_fail("%s: rows of dimension %lld, but the model %s has d = %lld",
                           o->data_path, (long long)data->d, o->model_dir, (long long)m->d);
        return 0;
    }
    if (!fit) return 0;
    ds_model_kind kind;
    DS_TRY(ds_model_kind_parse(o->model_kind, &kind));
    ds_fit_opts fo;
    ds_fit_opts_default(&fo);
    fo.k = o->k;
    fo.seed = (uint64_t)o->seed;
    return ds_model_fit(data, kind, &fo, m);
}
