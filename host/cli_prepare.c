// diffsamp prepare: fit a model (empirical, gaussian, gmm) to a data set and write its
// model folder.
#include <stdio.h>
#include <time.h>

#include "cli.h"
#include "ds_data.h"
#include "ds_error.h"
#include "ds_model.h"

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int fail(int status) {
    fprintf(stderr, "diffsamp: %s\n", ds_error());
    return status;
}

// Checks the options that do not need the data; -1 with a message when one is bad.
static int check_options(const char *kind_name, const char *out, ds_model_kind *kind,
                         int from_labels, int64_t k, int64_t rank, int64_t iters) {
    if (!kind_name || !out)
        return ds_fail("prepare: --model and --out are required (see diffsamp prepare --help)");
    DS_TRY(ds_model_kind_parse(kind_name, kind));
    if (from_labels && *kind != DS_MODEL_GMM)
        return ds_fail("prepare: --gmm-from-labels applies to --model gmm only");
    if (k < 0 || rank < 0 || iters < 1 || iters > 1000000)
        return ds_fail("prepare: --k and --rank must be >= 0, --kmeans-iters in 1..1000000");
    return 0;
}

int cli_prepare(int argc, char **argv) {
    const char *data_path = DS_DEFAULT_DATA, *kind_name = NULL, *out = NULL;
    int64_t k = 0, rank = 0, seed = 0, iters = 50;
    int from_labels = 0;
    ds_fit_opts o;
    ds_fit_opts_default(&o);
    cli_opt opts[] = {
        {"data", CLI_STR, &data_path, "data set (.npy, IDX[.gz], CIFAR-10 .bin, PNG folder)"},
        {"model", CLI_STR, &kind_name, "model kind: empirical, gaussian or gmm (required)"},
        {"out", CLI_STR, &out, "model folder to write (required)"},
        {"k", CLI_INT, &k, "gmm components (0: 10, or one per class with --gmm-from-labels)"},
        {"rank", CLI_INT, &rank, "eigenpairs kept per component (0: full rank d)"},
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
    if (rc) return rc > 0 ? 0 : fail(2);
    ds_model_kind kind;
    if (check_options(kind_name, out, &kind, from_labels, k, rank, iters) != 0) return fail(2);
    o.k = k ? k : 10;
    o.rank = rank;
    o.seed = (uint64_t)seed;
    o.from_labels = from_labels;
    o.kmeans_iters = (int)iters;

    double start = seconds_now();
    ds_data data;
    if (ds_data_load(data_path, &data) != 0) return fail(1);
    ds_model m;
    rc = ds_model_fit(&data, kind, &o, &m);
    if (!rc && from_labels && k && m.k != k) {
        rc = ds_fail("prepare: --k %lld but the data has %lld classes (leave --k out with "
                     "--gmm-from-labels)",
                     (long long)k, (long long)m.k);
        ds_model_free(&m);
    }
    if (!rc) {
        rc = ds_model_save(&m, out);
        if (!rc)
            printf("prepare: %s model, N = %lld, d = %lld, k = %lld, rank = %lld, sigma_data = "
                   "%.4g, %.2f s -> %s\n",
                   kind_name, (long long)data.n, (long long)m.d, (long long)m.k, (long long)m.r,
                   m.sigma_data, seconds_now() - start, out);
        ds_model_free(&m);
    }
    ds_data_free(&data);
    return rc ? fail(1) : 0;
}
