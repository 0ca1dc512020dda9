// diffsamp prepare: fit a model (empirical, gaussian, gmm) to a data set and write its
// model folder.
#include <stdio.h>
#include <time.h>

#include "cli.h"
#include "ds_data.h"
#include "ds_error.h"
#include "progress.h"
#include "ds_model.h"

// Checks the options that do not need the data (K and rank are checked by the fit).
static int check_options(const char *kind_name, const char *out, ds_model_kind *kind,
                         int from_labels, int64_t iters, int64_t seed) {
    if (!kind_name || !out)
        return ds_fail("prepare: --model and --out are required (see diffsamp prepare --help)");
    DS_TRY(ds_model_kind_parse(kind_name, kind));
    if (from_labels && *kind != DS_MODEL_GMM)
        return ds_fail("prepare: --gmm-from-labels applies to --model gmm only");
    if (iters < 1 || iters > 1000000)
        return ds_fail("prepare: --kmeans-iters %lld is out of range (expected 1 .. 1000000)",
                       (long long)iters);
    return cli_check_int("prepare", "seed", seed, 0, INT64_MAX);
}

int cli_prepare(int argc, char **argv) {
    const char *data_path = DS_DEFAULT_DATA, *kind_name = NULL, *out = NULL;
    int64_t seed = 0, iters = 50;
    int from_labels = 0, force = 0;
    ds_fit_opts o;
    ds_fit_opts_default(&o);
    cli_opt opts[] = {
        {"data", CLI_STR, &data_path, "data set (.npy, IDX[.gz], CIFAR-10 .bin, PNG folder)"},
        {"model", CLI_STR, &kind_name, "model kind: empirical, gaussian or gmm (required)"},
        {"out", CLI_STR, &out, "model folder to write (required)"},
        {"force", CLI_FLAG, &force,
         "replace what --out holds (the old folder goes once the new model is written)"},
        {"k", CLI_INT, &o.k, "gmm components (ignored with --gmm-from-labels: one per class)"},
        {"rank", CLI_INT, &o.rank, "eigenpairs kept per component (0: full rank d)"},
        {"seed", CLI_INT, &seed, "k-means++ seed"},
        {"gmm-from-labels", CLI_FLAG, &from_labels, "gmm: one component per class label"},
        {"kmeans-iters", CLI_INT, &iters, "gmm: at most this many Lloyd iterations"},
        {"var-floor", CLI_REAL, &o.var_floor,
         "gmm: eigenvalue floor of components with fewer than rank + 1 rows"},
    };
    int rc = cli_parse("prepare",
                       "Fit a model to a data set and write its model folder (model.txt and .npy "
                       "arrays; see README, section Models).",
                       argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc) return rc > 0 ? 0 : cli_fail(2);
    ds_model_kind kind;
    if (check_options(kind_name, out, &kind, from_labels, iters, seed) != 0 ||
        cli_replace_check("prepare", out, force, 0) != 0)
        return cli_fail(2);
    o.seed = (uint64_t)seed;
    o.from_labels = from_labels;
    o.kmeans_iters = (int)iters;

    double start = ds_seconds();
    ds_data data;
    if (cli_data_load("prepare", data_path, &data) != 0) return cli_fail(1);
    ds_model m;
    rc = ds_model_fit(&data, kind, &o, &m);
    if (!rc) {
        cli_replace replace;
        rc = cli_replace_begin(&replace, out, force);
        if (!rc) rc = ds_model_save(&m, out);
        cli_replace_end(&replace, rc != 0);
        char shape[96] = "";
        if (kind != DS_MODEL_EMPIRICAL)
            snprintf(shape, sizeof shape, ", k = %lld, rank = %lld", (long long)m.k,
                     (long long)m.r);
        if (!rc)
            printf("prepare: %s model, N = %lld, d = %lld%s, sigma_data = %.4g, %.2f s -> %s\n",
                   kind_name, (long long)data.n, (long long)m.d, shape, m.sigma_data,
                   ds_seconds() - start, out);
        ds_model_free(&m);
    }
    ds_data_free(&data);
    return rc ? cli_fail(1) : 0;
}
