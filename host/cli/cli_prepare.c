// diffsamp prepare: fit a model (empirical, gaussian, gmm, pca_locality, ls, els, pspc,
// nearest, smoothed, variance, linear_features) to a data set and write its model folder.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "ds_data.h"
#include "ds_error.h"
#include "progress.h"
#include "ds_model.h"
#include "linear_features.h"

// Checks the options that do not need the data (K and rank are checked by the fit).
static int check_options(const char *kind_name, const char *out, ds_model_kind *kind,
                         int from_labels, int per_class, int64_t iters, int64_t seed,
                         const ds_fit_opts *o) {
    if (!kind_name || !out)
        return ds_fail("prepare: --model and --out are required (see diffsamp prepare --help)");
    DS_TRY(ds_model_kind_parse(kind_name, kind));
    if (from_labels && *kind != DS_MODEL_GMM)
        return ds_fail("prepare: --gmm-from-labels applies to --model gmm only");
    if (per_class && *kind != DS_MODEL_GMM)
        return ds_fail("prepare: --per-class applies to --model gmm only (the other kinds "
                       "take the class at sample time: sample --class K)");
    if (iters < 1 || iters > 1000000)
        return ds_fail("prepare: --kmeans-iters %lld is out of range (expected 1 .. 1000000)",
                       (long long)iters);
    DS_TRY(cli_check_real("prepare", "mask-threshold", o->mask_threshold, 0, 1));
    if (!(o->variance >= 0) || !isfinite(o->variance))
        return ds_fail("prepare: --variance %g is invalid (expected a finite value >= 0)",
                       o->variance);
    if (!(o->temperature > 0) || !isfinite(o->temperature))
        return ds_fail("prepare: --temperature %g is invalid (expected a finite value > 0)",
                       o->temperature);
    // linear_features: what does not depend on the data's d (the fit checks the rest)
    if (*kind == DS_MODEL_LINEAR_FEATURES)
        DS_TRY(linear_features_check("prepare", 1, o->features_per_axis ? o->features_per_axis : 2,
                                     o->feature_draws, o->feature_cutoff, o->feature_ridge,
                                     o->feature_range));
    return cli_check_int("prepare", "seed", seed, 0, INT64_MAX);
}

// A patch schedule file: one "sigma patch" pair per line, sigmas increasing ('#' starts a
// comment); the pairs go to *out (steps x 2, to free).
static int read_patch_schedule(const char *path, double **out, int64_t *steps) {
    FILE *f = fopen(path, "r");
    if (!f) return ds_fail("%s: cannot open the patch schedule: %s", path, strerror(errno));
    char line[256];
    int64_t count = 0, cap = 16, at = 0;
    double *pairs = ds_try_alloc((size_t)(2 * cap), sizeof(double), path);
    int rc = pairs ? 0 : -1;
    while (!rc && fgets(line, sizeof line, f)) {
        at++;
        char *hash = strchr(line, '#'), *end;
        if (hash) *hash = '\0';
        if (strspn(line, " \t\r\n") == strlen(line)) continue;
        double sigma = strtod(line, &end), patch = strtod(end, &end);
        if (strspn(end, " \t\r\n") != strlen(end) || end == line) {
            rc = ds_fail("%s: line %lld: expected 'sigma patch'", path, (long long)at);
            break;
        }
        if (count == cap) {
            double *grown = realloc(pairs, sizeof(double) * (size_t)(4 * cap));
            if (!grown) {
                rc = ds_fail("%s: out of memory reading the patch schedule", path);
                break;
            }
            pairs = grown, cap *= 2;
        }
        pairs[2 * count] = sigma, pairs[2 * count + 1] = patch, count++;
    }
    fclose(f);
    if (!rc && !count) rc = ds_fail("%s: the patch schedule has no entries", path);
    if (rc) {
        free(pairs);
        return rc;
    }
    *out = pairs, *steps = count;
    return 0;
}

int cli_prepare(int argc, char **argv) {
    const char *data_path = DS_DEFAULT_DATA, *kind_name = NULL, *out = NULL, *schedule = NULL;
    int64_t seed = 0, iters = 50;
    int from_labels = 0, per_class = 0, force = 0;
    ds_fit_opts o;
    ds_fit_opts_default(&o);
    cli_opt opts[] = {
        {"data", CLI_STR, &data_path, "data set (.npy, IDX[.gz], CIFAR-10 .bin, PNG folder)"},
        {"model", CLI_STR, &kind_name,
         "model kind: empirical, gaussian, gmm, pca_locality, ls, els, pspc, nearest, "
         "smoothed, variance or linear_features (required)"},
        {"out", CLI_STR, &out, "model folder to write (required)"},
        {"force", CLI_FLAG, &force,
         "replace what --out holds (the old folder goes once the new model is written)"},
        {"k", CLI_INT, &o.k,
         "gmm components (with --per-class: per class; ignored with --gmm-from-labels: one "
         "per class)"},
        {"rank", CLI_INT, &o.rank, "eigenpairs kept per component (0: full rank d)"},
        {"seed", CLI_INT, &seed,
         "k-means++ seed; smoothed, variance: the Philox stream of its perturbations; "
         "linear_features: of its training draws"},
        {"gmm-from-labels", CLI_FLAG, &from_labels, "gmm: one component per class label"},
        {"per-class", CLI_FLAG, &per_class,
         "gmm: --k components by k-means within each class label, each marked with its class "
         "(sample --class K then uses class K's components)"},
        {"kmeans-iters", CLI_INT, &iters, "gmm: at most this many Lloyd iterations"},
        {"var-floor", CLI_REAL, &o.var_floor,
         "gmm: eigenvalue floor of components with fewer than rank + 1 rows"},
        {"temperature", CLI_REAL, &o.temperature, "pca_locality: the logits are divided by it"},
        {"mask-threshold", CLI_REAL, &o.mask_threshold,
         "pca_locality: binarise the mask at this fraction of its largest |entry|, in [0, 1] "
         "(0: the soft mask)"},
        {"patch-schedule", CLI_STR, &schedule,
         "ls, els, pspc: file of 'sigma patch' lines, sigmas increasing: the patch of the "
         "first sigma >= the noise level (the last one's above them)"},
        {"smoothing", CLI_REAL, &o.smoothing,
         "smoothed: std of the query perturbations in DDPM latent units (the studio's "
         "smoothing_std; >= 0)"},
        {"smoothing-samples", CLI_INT, &o.smoothing_samples,
         "smoothed: perturbed copies averaged (the studio's num_noise; 1 .. 4096)"},
        {"variance", CLI_REAL, &o.variance,
         "variance: kappa, the scale of the DSM proxy variance added to the empirical "
         "denoiser (>= 0; 0: the empirical model)"},
        {"features-per-axis", CLI_INT, &o.features_per_axis,
         "linear_features: F Gaussian bumps per coordinate and in time, F^d x F features "
         "(0: the paper's, 16 in 1-D, 10 in 2-D)"},
        {"draws", CLI_INT, &o.feature_draws,
         "linear_features: P, the denoising-score-matching draws W is fitted to"},
        {"time-cutoff", CLI_REAL, &o.feature_cutoff,
         "linear_features: eps, the draws' VP times are uniform on [eps, 1]"},
        {"ridge", CLI_REAL, &o.feature_ridge,
         "linear_features: added to the feature covariance before it is inverted (> 0)"},
        {"feature-range", CLI_REAL, &o.feature_range,
         "linear_features: the coordinate bumps' centres span [-R, R] (VP units)"},
        {"patch-size", CLI_INT, &o.patch_size,
         "ls, els: side of the square patch around each pixel (odd, at most 2 max(H, W) - 1); "
         "pspc: side of the square patches inside the image (1 .. min(H, W))"},
    };
    int rc = cli_parse("prepare",
                       "Fit a model to a data set and write its model folder (model.txt and .npy "
                       "arrays; see README, section Models).",
                       argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc) return rc > 0 ? 0 : cli_fail(2);
    ds_model_kind kind;
    if (check_options(kind_name, out, &kind, from_labels, per_class, iters, seed, &o) != 0 ||
        cli_replace_check("prepare", out, force, 0) != 0)
        return cli_fail(2);
    o.seed = (uint64_t)seed;
    o.from_labels = from_labels;
    o.per_class = per_class;
    o.kmeans_iters = (int)iters;

    double *pairs = NULL;
    if (schedule && !ds_model_uses_patches(kind)) {
        ds_fail("prepare: --patch-schedule applies to --model ls, els or pspc only");
        return cli_fail(2);
    }
    if (schedule && read_patch_schedule(schedule, &pairs, &o.patch_steps) != 0) return cli_fail(2);
    o.patch_schedule = pairs;
    double start = ds_seconds();
    ds_data data;
    if (cli_data_load("prepare", data_path, &data) != 0) {
        free(pairs);
        return cli_fail(1);
    }
    ds_model m;
    rc = ds_model_fit(&data, kind, &o, &m);
    if (!rc) {
        cli_replace replace;
        rc = cli_replace_begin(&replace, out, force);
        if (!rc) rc = ds_model_save(&m, out);
        cli_replace_end(&replace, rc != 0);
        char shape[160] = "";
        if (kind == DS_MODEL_LINEAR_FEATURES)
            snprintf(shape, sizeof shape,
                     ", %lld features (%lld per axis), P = %lld draws, eps = %g, ridge = %g, "
                     "seed %llu",
                     (long long)linear_features_count(m.d, m.features_per_axis),
                     (long long)m.features_per_axis, (long long)m.feature_draws, m.feature_cutoff,
                     m.feature_ridge, (unsigned long long)m.feature_seed);
        else if (kind == DS_MODEL_SMOOTHED)
            snprintf(shape, sizeof shape, ", smoothing = %g, %lld samples", m.smoothing,
                     (long long)m.smoothing_samples);
        else if (kind == DS_MODEL_VARIANCE)
            snprintf(shape, sizeof shape, ", kappa = %g, seed %llu", m.variance,
                     (unsigned long long)m.variance_seed);
        else if (ds_model_uses_patches(kind) && m.patch_steps)
            snprintf(shape, sizeof shape, ", patch schedule of %lld entries",
                     (long long)m.patch_steps);
        else if (ds_model_uses_patches(kind))
            snprintf(shape, sizeof shape, ", patch size = %d", m.patch_size);
        else if (kind == DS_MODEL_PCA_LOCALITY)
            snprintf(shape, sizeof shape, ", temperature = %g, mask threshold = %g", m.temperature,
                     m.mask_threshold);
        else if (!ds_model_holds_rows(kind))
            snprintf(shape, sizeof shape, ", k = %lld%s, rank = %lld", (long long)m.k,
                     m.classes ? " (components per class)" : "", (long long)m.r);
        if (!rc)
            printf("prepare: %s model, N = %lld, d = %lld%s, sigma_data = %.4g, %.2f s -> %s\n",
                   kind_name, (long long)data.n, (long long)m.d, shape, m.sigma_data,
                   ds_seconds() - start, out);
        ds_model_free(&m);
    }
    ds_data_free(&data);
    free(pairs);
    return rc ? cli_fail(1) : 0;
}
