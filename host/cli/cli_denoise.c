// diffsamp denoise: evaluate a model's denoiser D(x; sigma) on the rows of an .npy file.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "dist.h"
#include "ds_backend.h"
#include "ds_data.h"
#include "ds_error.h"
#include "progress.h"
#include "ds_model.h"
#include "ds_schedule.h"

static int check_options(const char *model_dir, const char *data, const char *kind,
                         const char *x_path, const char *out, double sigma) {
    if (!x_path || !out)
        return ds_fail("denoise: --x and --out are required (see diffsamp denoise --help)");
    if (!model_dir == !data)
        return ds_fail("denoise: give exactly one of --model-dir DIR and --data PATH");
    if (data && (!kind || strcmp(kind, "empirical") != 0))
        return ds_fail("denoise: --data needs --model empirical (fit other models with "
                       "diffsamp prepare and pass --model-dir)");
    if (model_dir && kind)
        return ds_fail("denoise: --model goes with --data; a model folder names its own kind");
    return cli_check_real("denoise", "sigma", sigma, DS_SIGMA_LOWEST, DS_SIGMA_HIGHEST);
}

// The model: a model folder, or the empirical model of a data set.
static int load_model(const char *model_dir, const char *data_path, ds_model *m) {
    if (model_dir) return ds_model_load(model_dir, m);
    ds_data data;
    DS_TRY(cli_data_load("denoise", data_path, &data));
    ds_fit_opts o;
    ds_fit_opts_default(&o);
    int rc = ds_model_fit(&data, DS_MODEL_EMPIRICAL, &o, m);
    ds_data_free(&data);
    return rc;
}

// Reads the queries as rows x d doubles: shape (B, ...) with prod(...) == d, or (d).
static int load_queries(const char *path, int64_t d, ds_array *a, double **x, int64_t *rows) {
    DS_TRY(ds_npy_read(path, a));
    int64_t count = ds_array_count(a);
    int64_t cols = a->ndim <= 1 ? count : count / (a->shape[0] ? a->shape[0] : 1);
    if (count == 0) {
        ds_array_free(a);
        return ds_fail("%s: holds no rows (expected at least one row of %lld values)", path,
                       (long long)d);
    }
    if (a->dtype == DS_U8 || cols != d) {
        ds_fail("%s: expected float rows of %lld values (shape (B, %lld) or (%lld)), got %s rows "
                "of %lld values",
                path, (long long)d, (long long)d, (long long)d,
                a->dtype == DS_U8 ? "uint8" : "float", (long long)cols);
        ds_array_free(a);
        return -1;
    }
    *rows = count / d;
    *x = ds_try_alloc((size_t)count, sizeof(double), path);
    if (!*x) {
        ds_array_free(a);
        return -1;
    }
    for (int64_t e = 0; e < count; e++)
        (*x)[e] = a->dtype == DS_F32 ? ((const float *)a->data)[e] : ((const double *)a->data)[e];
    return 0;
}

// Evaluates D on the rows and writes it with the queries' shape (float64 from the ref
// backend, float32 otherwise); *ms receives the time of the evaluation itself. Under
// mpirun every rank evaluates (with --shard-data over its training rows) and rank 0 writes.
static int run(ds_backend *be, const ds_model *m, const double *x, int64_t rows, double sigma,
               const ds_array *shape, const char *out_path, double *ms) {
    ds_bound_model *bm = be->bind(be, m);
    if (ds_dist_agree(bm ? 0 : -1)) {
        if (bm) be->unbind(be, bm);
        return -1;
    }
    ds_batch *xb = be->batch_new(be, rows, m->d), *ob = be->batch_new(be, rows, m->d);
    double *out = ds_try_alloc((size_t)(rows * m->d), sizeof(double), out_path);
    int rc = xb && ob && out ? 0 : -1;
    if (!rc) rc = be->upload(be, xb, x);
    if (!rc) {
        double start = ds_seconds();
        rc = be->denoise(be, bm, xb, &sigma, 1, ob, NULL);
        *ms = (ds_seconds() - start) * 1e3;
    }
    if (!rc && ds_dist_rank() == 0) {
        rc = be->download(be, ob, out);
        int64_t one_row[1] = {m->d};
        if (!rc)
            rc = ds_npy_write_f64(out_path, out, shape->ndim ? shape->ndim : 1,
                                  shape->ndim ? shape->shape : one_row, be->f64 ? DS_F64 : DS_F32);
    }
    free(out);
    be->batch_free(be, xb);
    be->batch_free(be, ob);
    be->unbind(be, bm);
    return ds_dist_agree(rc);
}

int cli_denoise(int argc, char **argv) {
    const char *model_dir = NULL, *data = NULL, *kind = NULL, *x_path = NULL, *out = NULL;
    const char *backend = "auto";
    double sigma = 0;
    int shard_data = 0;
    cli_opt opts[] = {
        {"model-dir", CLI_STR, &model_dir, "model folder written by diffsamp prepare"},
        {"data", CLI_STR, &data, "data set, instead of --model-dir (with --model empirical)"},
        {"model", CLI_STR, &kind, "with --data: empirical"},
        {"x", CLI_STR, &x_path, ".npy of query rows, shape (B, d) (required)"},
        {"sigma", CLI_REAL, &sigma, "noise level sigma, 1e-10 to 1e10 (required)"},
        {"out", CLI_STR, &out, ".npy to write D(x; sigma) to, same shape as --x (required)"},
        {"backend", CLI_STR, &backend, "ref (float64), cpu (float32), cuda or auto"},
        {"shard-data", CLI_FLAG, &shard_data,
         "under mpirun: split the training rows over the ranks (empirical, nearest and "
         "smoothed models on cpu; empirical on ref)"},
    };
    int rc = cli_parse("denoise",
                       "Evaluate a model's denoiser D(x; sigma) = E[x0 | x] on the rows of an "
                       ".npy file.",
                       argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc) return rc > 0 ? 0 : cli_fail(2);
    if (check_options(model_dir, data, kind, x_path, out, sigma) != 0) return cli_fail(2);

    ds_dist_set_data_sharding(shard_data);
    ds_backend *be = ds_backend_new(backend);
    ds_model m = {0};
    ds_array shape = {0};
    double *x = NULL, ms = 0;
    int64_t rows = 0;
    rc = be ? 0 : -1;
    if (!rc) rc = load_model(model_dir, data, &m);
    if (!rc) rc = load_queries(x_path, m.d, &shape, &x, &rows);
    // Every rank has its inputs before any evaluates (a rank's failure stops them all).
    rc = ds_dist_agree(rc);
    if (!rc) rc = run(be, &m, x, rows, sigma, &shape, out, &ms);
    ds_array_free(&shape);
    if (!rc && ds_dist_rank() == 0)
        printf("denoise: %lld rows, d = %lld, sigma = %g, %s model, backend %s, %.1f ms -> %s\n",
               (long long)rows, (long long)m.d, sigma, ds_model_kind_name(m.kind), be->name, ms,
               out);
    free(x);
    ds_model_free(&m);
    ds_backend_free(be);
    return rc ? cli_fail(1) : 0;
}
