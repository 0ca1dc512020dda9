// diffsamp demo: the three analytic models of Fashion-MNIST sampled with Heun on the
// EDM schedule, with and without analytical teleportation, as grid PNGs.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "diffsamp.h"
#include "ds_sample.h"
#include "progress.h"

#define N_KINDS 3
#define STRIP 12 // samples per configuration in the side-by-side image

static const ds_model_kind kinds[N_KINDS] = {DS_MODEL_EMPIRICAL, DS_MODEL_GMM, DS_MODEL_GAUSSIAN};

typedef struct {
    const char *out, *data, *backend;
    int64_t n, seed, steps, skip, k;
} demo_opts;

// The model folder out/models/KIND when it was fitted to this data (and, for the
// mixture, with this --k), else a new fit saved there.
static int prepare_model(const demo_opts *o, const ds_data *data, const cli_data_id *id,
                         ds_model_kind kind, ds_model *m) {
    char dir[DS_PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/models/%s", o->out, ds_model_kind_name(kind));
    ds_fit_opts fo;
    ds_fit_opts_default(&fo);
    fo.k = o->k;
    fo.seed = (uint64_t)o->seed;
    return cli_fit_cached("demo", dir, data, id, kind, &fo, m);
}

// The samples of a run, n x d on the host.
typedef struct {
    double *x;
    int64_t d;
} demo_rows;

static int keep_batch(void *user, int64_t first_row, int64_t rows, const double *x) {
    demo_rows *out = user;
    memcpy(out->x + first_row * out->d, x, sizeof(double) * (size_t)(rows * out->d));
    return 0;
}

// n samples of a model from the noise of rows 0..n-1: Heun on the EDM schedule, after
// a Gaussian-flow jump over the first `skip` steps when gauss is given.
static int sample(ds_backend *b, const ds_model *m, const ds_model *gauss, const demo_opts *o,
                  double *out, int64_t *nfe) {
    ds_sample_config c;
    ds_sample_config_default(&c);
    c.schedule.steps = o->steps;
    c.n = c.batch = o->n;
    c.seed = (uint64_t)o->seed;
    if (gauss) c.teleport.fraction = (double)o->skip / (double)o->steps;
    demo_rows rows = {out, m->d};
    ds_sample_result r;
    int rc = ds_sample_run(b, m, gauss, &c, keep_batch, &rows, &r);
    *nfe = r.nfe;
    ds_sample_result_free(&r);
    return rc;
}

static int write_grid(const char *out, const char *name, const double *x, int64_t count, int cols,
                      const ds_model *m) {
    char path[DS_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s.png", out, name);
    DS_TRY(ds_png_write_grid(path, x, count, cols, m->channels, m->height, m->width));
    printf("demo: wrote %s\n", path);
    return 0;
}

// Samples every model with and without teleportation, one grid each, and the first
// STRIP samples of every configuration as the rows of one side-by-side image.
static int run_demo(const demo_opts *o, ds_backend *b, ds_model *models) {
    int64_t d = models[0].d, strip = o->n < STRIP ? o->n : STRIP;
    int cols = (int)ceil(sqrt((double)o->n));
    double *x = ds_try_alloc((size_t)(o->n * d), sizeof(double), "demo");
    double *side = ds_try_alloc((size_t)(2 * N_KINDS * strip * d), sizeof(double), "demo");
    int rc = x && side ? 0 : -1;
    for (int row = 0; row < 2 * N_KINDS && !rc; row++) {
        int kind = row / 2, teleport = row % 2;
        char name[64];
        snprintf(name, sizeof name, "%s%s", ds_model_kind_name(kinds[kind]),
                 teleport ? "-teleport" : "");
        double t = ds_seconds();
        int64_t nfe;
        rc = sample(b, &models[kind], teleport ? &models[2] : NULL, o, x, &nfe);
        if (rc) break;
        printf("demo: %-18s %lld samples, %lld NFE, %.1f s\n", name, (long long)o->n,
               (long long)nfe, ds_seconds() - t);
        memcpy(side + row * strip * d, x, sizeof(double) * (size_t)(strip * d));
        rc = write_grid(o->out, name, x, o->n, cols, &models[kind]);
    }
    if (!rc)
        rc = write_grid(o->out, "side-by-side", side, 2 * N_KINDS * strip, (int)strip, &models[0]);
    free(side);
    free(x);
    return rc;
}

int cli_demo(int argc, char **argv) {
    demo_opts o = {"out/demo", DS_DEFAULT_DATA, "auto", 64, 0, 18, 4, 10};
    cli_opt opts[] = {
        {"out", CLI_STR, &o.out, "output folder (models are cached in OUT/models)"},
        {"data", CLI_STR, &o.data, "training data"},
        {"backend", CLI_STR, &o.backend, "ref, cpu, cuda or auto (cuda when a GPU is present)"},
        {"n", CLI_INT, &o.n, "samples per configuration, 1..1024"},
        {"seed", CLI_INT, &o.seed, "noise seed (sample i uses the noise of row i)"},
        {"steps", CLI_INT, &o.steps, "EDM schedule points before the final 0, 2..1000"},
        {"skip", CLI_INT, &o.skip,
         "teleportation: schedule steps jumped by the Gaussian flow, 1..steps-1 (4 of 18: to sigma "
         "19.4, 27 NFE with Heun)"},
        {"k", CLI_INT, &o.k, "Gaussian-mixture components, 1..1000"},
    };
    int rc = cli_parse("demo",
                       "Sample the empirical, Gaussian-mixture and Gaussian models of a data set "
                       "(Heun, EDM schedule), with and without analytical teleportation, and "
                       "write a grid PNG of each and a side-by-side PNG.",
                       argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc) return rc > 0 ? 0 : cli_fail(2);
    if (cli_check_int("demo", "n", o.n, 1, 1024) ||
        cli_check_int("demo", "seed", o.seed, 0, INT64_MAX) ||
        cli_check_int("demo", "steps", o.steps, 2, 1000) ||
        cli_check_int("demo", "skip", o.skip, 1, o.steps - 1) ||
        cli_check_int("demo", "k", o.k, 1, 1000))
        return cli_fail(2);
    double t0 = ds_seconds();
    ds_backend *b = ds_backend_new(o.backend);
    if (!b) return cli_fail(1);
    ds_data data;
    if (ds_data_load(o.data, &data) != 0) {
        ds_backend_free(b);
        return cli_fail(1);
    }
    printf("demo: %s: %lld rows of %lld values, backend %s\n", o.data, (long long)data.n,
           (long long)data.d, b->name);
    ds_model models[N_KINDS];
    int n_models = 0;
    rc = data.height ? 0 : ds_fail("%s: rows are not images (no image shape)", o.data);
    cli_data_id id;
    char abs_path[DS_PATH_MAX];
    if (!rc) rc = ds_data_fingerprint(o.data, abs_path, &id.bytes, &id.checksum);
    for (; n_models < N_KINDS && !rc; n_models++)
        if ((rc = prepare_model(&o, &data, &id, kinds[n_models], &models[n_models])) != 0) break;
    if (!rc) rc = run_demo(&o, b, models);
    for (int i = 0; i < n_models; i++) ds_model_free(&models[i]);
    ds_data_free(&data);
    ds_backend_free(b);
    if (rc) return cli_fail(1);
    printf("demo: done in %.1f s; grids in %s/ (side-by-side.png: rows empirical, "
           "empirical-teleport, gmm, gmm-teleport, gaussian, gaussian-teleport)\n",
           ds_seconds() - t0, o.out);
    return 0;
}
