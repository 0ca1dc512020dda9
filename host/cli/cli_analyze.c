// diffsamp analyze: trajectory geometry, memorisation, PCA-Frechet distance, error
// against a reference run, and denoiser comparison across noise levels (here), emergence
// and perturbation (cli_analyze_*.c). Each prints its tables and writes them as CSV
// files into --out.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_analyze.h"
#include "ds_error.h"
#include "ds_io.h"
#include "ds_schedule.h"

// ---- shared steps ----

// Drops the rows of x (and of ref, when given: a pair is dropped when either row is not
// finite) that hold NaN or Inf, saying on stderr how many, as sweep counts diverged
// samples; -1 when no row is left. *n becomes the rows kept.
static int keep_finite(const char *command, const char *path, double *x, double *ref, int64_t *n,
                       int64_t d) {
    int64_t first = -1, all = *n;
    for (int64_t i = 0; i < all && first < 0; i++)
        for (int64_t j = 0; j < d; j++)
            if (!isfinite(x[i * d + j]) || (ref && !isfinite(ref[i * d + j]))) {
                first = i;
                break;
            }
    if (first < 0) return 0;
    *n = ds_finite_rows(x, ref, all, d, NULL);
    fprintf(stderr,
            "diffsamp: %s: %lld of %lld samples (%s) hold NaN or Inf (the first: row %lld, "
            "counted from 0); measuring the other %lld\n",
            command, (long long)(all - *n), (long long)all, path, (long long)first, (long long)*n);
    if (*n == 0)
        return ds_fail("%s: %s: no sample is finite (all %lld hold NaN or Inf)", command, path,
                       (long long)all);
    return 0;
}

// The data set rows as doubles (for sets compared with generated samples); NULL when
// memory runs out (recorded).
static double *data_as_f64(const ds_data *data) {
    double *x = ds_try_alloc((size_t)(data->n * data->d), sizeof(double), data->path);
    if (x) ds_data_rows_f64(data, 0, data->n, x);
    return x;
}

#define ANALYZE_STATS_HEADER "metric,n,mean,q05,q25,q50,q75,q95,max"
// What an analysis returns for a refused command line (exit status 2).
#define ANALYZE_PARSE_ERROR (-2)
// A check of the command line: its failure refuses it.
#define REFUSE_UNLESS(call)                                                                        \
    do {                                                                                           \
        if ((call) != 0) return ANALYZE_PARSE_ERROR;                                               \
    } while (0)

// ---- analyze trajectory ----

// The per-step table: means over samples at every point of the schedule.
static int trajectory_steps(const ds_traj_geometry *g, const double *sigmas, ds_table *t) {
    int64_t S = g->steps, B = g->b, nd = g->n_denoised;
    int rc = 0;
    ds_table_init(t, "step,sigma,deviation_mean,deviation_q95,angle_mean,dist_x_mean,"
                     "dist_denoised_mean");
    for (int64_t s = 0; s < S; s++) {
        ds_stats dev, ang = {0}, dx, dd = {0};
        rc |= ds_stats_strided(g->deviation + s, B, S, &dev);
        rc |= ds_stats_strided(g->dist_x + s, B, S, &dx);
        if (s < S - 2) rc |= ds_stats_strided(g->angle + s, B, S - 2, &ang);
        if (s < nd) rc |= ds_stats_strided(g->dist_denoised + s, B, nd, &dd);
        ds_table_add(t, "%lld", (long long)s);
        ds_table_add(t, "%.6g", sigmas[s]);
        ds_table_add(t, "%.6g", dev.mean);
        ds_table_add(t, "%.6g", dev.q95);
        ds_table_add(t, s < S - 2 ? "%.4g" : "", ang.mean);
        ds_table_add(t, "%.6g", dx.mean);
        ds_table_add(t, s < nd ? "%.6g" : "", dd.mean);
    }
    return rc;
}

// Per-sample measures (samples) and their statistics over samples (summary).
static int trajectory_samples(const ds_traj_geometry *g, ds_table *samples, ds_table *summary) {
    int64_t S = g->steps, B = g->b;
    double *v = ds_try_alloc((size_t)(5 * B), sizeof(double), "analyze trajectory");
    if (!v) return -1;
    int rc = 0;
    ds_table_init(samples, "sample,max_deviation,mean_angle,pca1,pca2,pca3");
    for (int64_t i = 0; i < B; i++) {
        // NaN (a chord of length 0) stays NaN: fmax would report such a sample as straight.
        double maxdev = 0, angle = NAN;
        for (int64_t s = 0; s < S && !isnan(maxdev); s++)
            maxdev = isnan(g->deviation[i * S + s]) ? NAN : fmax(maxdev, g->deviation[i * S + s]);
        if (S > 2) {
            ds_stats a;
            rc |= ds_stats_of(g->angle + i * (S - 2), S - 2, &a);
            angle = a.mean;
        }
        const double row[5] = {maxdev, angle, g->pca_frac[i * 3], g->pca_frac[i * 3 + 1],
                               g->pca_frac[i * 3 + 2]};
        ds_table_add(samples, "%lld", (long long)i);
        for (int c = 0; c < 5; c++) {
            v[c * B + i] = row[c];
            ds_table_add(samples, "%.6g", row[c]);
        }
    }
    static const char *names[5] = {"max_deviation", "mean_angle_deg", "pca1_fraction",
                                   "pca2_fraction", "pca3_fraction"};
    ds_table_init(summary, ANALYZE_STATS_HEADER);
    for (int c = 0; c < 5; c++) {
        ds_stats st;
        rc |= ds_stats_of(v + c * B, B, &st);
        analyze_add_stats_row(summary, names[c], &st);
    }
    free(v);
    return rc;
}

static int analyze_trajectory(int argc, char **argv) {
    const char *prefix = NULL, *out = "analysis";
    const cli_opt opts[] = {
        {"trajectory", CLI_STR, &prefix,
         "recorded trajectory: PREFIX_{x,denoised,sigmas}.npy (required)"},
        {"out", CLI_STR, &out, "folder for the CSV files"},
    };
    int rc = cli_parse("analyze trajectory",
                       "Geometry of recorded sampling trajectories: deviation from the chord, "
                       "angles between steps, variance in the top principal components, and "
                       "the distance of x_i and D(x_i) to the final sample.",
                       argc, argv, opts, 2);
    if (rc) return rc > 0 ? rc : ANALYZE_PARSE_ERROR;
    REFUSE_UNLESS(analyze_need("analyze trajectory", "trajectory", prefix));
    analyze_trajectory_files f;
    ds_traj_view t;
    ds_traj_geometry g = {0};
    ds_table steps = {0}, samples = {0}, summary = {0};
    rc = analyze_load_trajectory(prefix, &f, &t);
    if (!rc) rc = ds_traj_geometry_compute(&t, &g);
    if (!rc) {
        printf("trajectory %s: %lld points, %lld samples, d = %lld\n\n", prefix, (long long)t.steps,
               (long long)t.b, (long long)t.d);
        rc = trajectory_steps(&g, f.sigmas.data, &steps);
        if (!rc) rc = trajectory_samples(&g, &samples, &summary);
        if (!rc) rc = analyze_emit(&steps, out, "trajectory_steps.csv");
        if (!rc) rc = analyze_emit(&summary, out, "trajectory_summary.csv");
        char path[DS_PATH_MAX];
        if (!rc) rc = analyze_out_path(path, sizeof path, out, "trajectory_samples.csv");
        if (!rc) rc = ds_table_write_csv(&samples, path);
        if (!rc) printf("wrote %s\n", path);
    }
    ds_table_free(&steps);
    ds_table_free(&samples);
    ds_table_free(&summary);
    ds_traj_geometry_free(&g);
    analyze_trajectory_files_free(&f);
    return rc;
}

// ---- analyze memorization ----

// Memorisation of b samples against the training set: a per-sample table and a summary.
static int memorization_tables(const ds_data *train, const double *x, int64_t b,
                               ds_table *per_sample, ds_table *summary, double *fraction) {
    ds_memorization m;
    DS_TRY(ds_memorization_compute(train, x, b, &m));
    ds_table_init(per_sample, "sample,nearest,d1,d2,ratio,memorized");
    for (int64_t i = 0; i < b; i++) {
        ds_table_add(per_sample, "%lld", (long long)i);
        ds_table_add(per_sample, "%lld", (long long)m.nearest[i]);
        ds_table_add(per_sample, "%.6g", m.d1[i]);
        ds_table_add(per_sample, "%.6g", m.d2[i]);
        ds_table_add(per_sample, "%.6g", m.ratio[i]);
        ds_table_add(per_sample, "%d", m.ratio[i] < DS_MEMORIZED_RATIO);
    }
    // The memorised flags (0 or 1) as a third row: its mean is the memorised fraction.
    double *flags = ds_try_alloc((size_t)b, sizeof(double), "analyze memorization");
    ds_stats s1, sr, sm;
    int rc = flags ? 0 : -1;
    for (int64_t i = 0; i < b && !rc; i++) flags[i] = m.ratio[i] < DS_MEMORIZED_RATIO;
    if (!rc)
        rc = ds_stats_of(m.d1, b, &s1) | ds_stats_of(m.ratio, b, &sr) | ds_stats_of(flags, b, &sm);
    free(flags);
    if (rc) {
        ds_memorization_free(&m);
        return -1;
    }
    ds_table_init(summary, ANALYZE_STATS_HEADER);
    analyze_add_stats_row(summary, "nearest_distance", &s1);
    analyze_add_stats_row(summary, "nearest_ratio", &sr);
    analyze_add_stats_row(summary, "memorized", &sm);
    *fraction = m.fraction;
    ds_memorization_free(&m);
    return 0;
}

static int analyze_memorization(int argc, char **argv) {
    const char *samples = NULL, *data_path = DS_DEFAULT_DATA, *out = "analysis";
    const cli_opt opts[] = {
        {"samples", CLI_STR, &samples,
         "generated samples (.npy, N x d, or a folder of PNGs) (required)"},
        {"data", CLI_STR, &data_path, "training data set"},
        {"out", CLI_STR, &out, "folder for the CSV files"},
    };
    int rc = cli_parse("analyze memorization",
                       "Distance of each sample to its nearest training row and the ratio "
                       "nearest / second-nearest; a sample is memorised when the ratio is "
                       "below 1/3.",
                       argc, argv, opts, 3);
    if (rc) return rc > 0 ? rc : ANALYZE_PARSE_ERROR;
    REFUSE_UNLESS(analyze_need("analyze memorization", "samples", samples));
    ds_data train;
    DS_TRY(cli_data_load("analyze", data_path, &train));
    double *x = NULL, fraction = 0;
    int64_t n = 0;
    ds_table per_sample = {0}, summary = {0};
    rc = analyze_load_rows(samples, train.d, &x, &n, NULL);
    if (!rc) rc = keep_finite("analyze memorization", samples, x, NULL, &n, train.d);
    if (!rc) rc = memorization_tables(&train, x, n, &per_sample, &summary, &fraction);
    if (!rc) {
        printf("memorisation of %lld samples (%s) against %lld training rows (%s)\n\n",
               (long long)n, samples, (long long)train.n, data_path);
        rc = analyze_emit(&summary, out, "memorization_summary.csv");
        char path[DS_PATH_MAX];
        if (!rc) rc = analyze_out_path(path, sizeof path, out, "memorization.csv");
        if (!rc) rc = ds_table_write_csv(&per_sample, path);
        if (!rc)
            printf("wrote %s\nmemorised (ratio < 1/3): %.4f of %lld samples\n", path, fraction,
                   (long long)n);
    }
    ds_table_free(&per_sample);
    ds_table_free(&summary);
    free(x);
    ds_data_free(&train);
    return rc;
}

// ---- analyze fid ----

static int analyze_fid(int argc, char **argv) {
    const char *samples = NULL, *data_path = DS_DEFAULT_DATA, *heldout = NULL, *out = "analysis";
    int64_t k = 0;
    const cli_opt opts[] = {
        {"samples", CLI_STR, &samples,
         "generated samples (.npy, N x d, or a folder of PNGs) (required)"},
        {"data", CLI_STR, &data_path, "training data (defines the principal components)"},
        {"heldout", CLI_STR, &heldout, "held-out data to compare the samples with (required)"},
        {"pca-k", CLI_INT, &k, "number of principal components (0: 64, or d when d < 64)"},
        {"out", CLI_STR, &out, "folder for the CSV file"},
    };
    int rc = cli_parse("analyze fid",
                       "Frechet distance between the samples and held-out data in the space "
                       "of the top principal components of the training data; the first rows "
                       "of the training set, as many as there are samples, give a baseline.",
                       argc, argv, opts, 5);
    if (rc) return rc > 0 ? rc : ANALYZE_PARSE_ERROR;
    REFUSE_UNLESS(analyze_need("analyze fid", "samples", samples));
    REFUSE_UNLESS(analyze_need("analyze fid", "heldout", heldout));
    ds_data train, test = {0};
    DS_TRY(cli_data_load("analyze", data_path, &train));
    ds_pca p = {0};
    double *x = NULL, *y = NULL, *base = NULL, fd = NAN, fd_base = NAN;
    int64_t n = 0;
    rc = cli_data_load("analyze", heldout, &test);
    if (!rc && test.d != train.d)
        rc = ds_fail("%s: rows of dimension %lld, but the training data %s has %lld", heldout,
                     (long long)test.d, data_path, (long long)train.d);
    if (!rc) rc = analyze_load_rows(samples, train.d, &x, &n, NULL);
    if (!rc) rc = keep_finite("analyze fid", samples, x, NULL, &n, train.d);
    if (!rc) k = cli_pca_k("analyze fid", k, &train);
    if (!rc) rc = ds_pca_fit(&train, k, &p);
    if (!rc) {
        y = data_as_f64(&test);
        rc = y ? ds_pca_frechet(&p, x, n, y, test.n, &fd) : -1;
    }
    if (!rc) {
        ds_data first = train;
        first.n = n < train.n ? n : train.n;
        base = data_as_f64(&first);
        rc = base ? ds_pca_frechet(&p, base, first.n, y, test.n, &fd_base) : -1;
    }
    if (!rc) {
        double explained = 0;
        for (int64_t c = 0; c < k; c++) explained += p.eigvals[c];
        printf("PCA-Frechet distance, k = %lld components (%.4f of the training variance)\n\n",
               (long long)k, explained / p.total_var);
        ds_table t;
        ds_table_init(&t, "set,n,heldout_n,pca_k,frechet");
        const char *names[2] = {samples, "training rows (baseline)"};
        const double v[2] = {fd, fd_base};
        const int64_t counts[2] = {n, n < train.n ? n : train.n};
        for (int i = 0; i < 2; i++) {
            ds_table_add(&t, "%s", names[i]);
            ds_table_add(&t, "%lld", (long long)counts[i]);
            ds_table_add(&t, "%lld", (long long)test.n);
            ds_table_add(&t, "%lld", (long long)k);
            ds_table_add(&t, "%.6g", v[i]);
        }
        rc = analyze_emit(&t, out, "fid.csv");
        ds_table_free(&t);
    }
    free(x);
    free(y);
    free(base);
    ds_pca_free(&p);
    ds_data_free(&test);
    ds_data_free(&train);
    return rc;
}

// ---- analyze error ----

static int analyze_error(int argc, char **argv) {
    const char *samples = NULL, *reference = NULL, *out = "analysis";
    const cli_opt opts[] = {
        {"samples", CLI_STR, &samples,
         "samples of a run (.npy, N x d, or a folder of PNGs) (required)"},
        {"reference", CLI_STR, &reference,
         "samples of the reference run from the same noise (required)"},
        {"out", CLI_STR, &out, "folder for the CSV file"},
    };
    int rc = cli_parse("analyze error",
                       "Relative L2 error |x - ref| / |ref| of each sample against a reference "
                       "run (e.g. the adaptive solver) from the same noise.",
                       argc, argv, opts, 3);
    if (rc) return rc > 0 ? rc : ANALYZE_PARSE_ERROR;
    REFUSE_UNLESS(analyze_need("analyze error", "samples", samples));
    REFUSE_UNLESS(analyze_need("analyze error", "reference", reference));
    double *x = NULL, *ref = NULL, *err = NULL;
    int64_t n = 0, nr = 0, d = 0;
    rc = analyze_load_rows(samples, 0, &x, &n, &d);
    if (!rc) rc = analyze_load_rows(reference, d, &ref, &nr, NULL);
    if (!rc && nr != n)
        rc = ds_fail("%s: %lld rows, but %s has %lld (expected the same run's rows)", reference,
                     (long long)nr, samples, (long long)n);
    if (!rc) rc = keep_finite("analyze error", "the samples or the reference", x, ref, &n, d);
    if (!rc && !(err = ds_try_alloc((size_t)n, sizeof(double), "analyze error"))) rc = -1;
    ds_stats s;
    if (!rc) {
        ds_rel_error_rows(x, ref, n, d, err);
        rc = ds_stats_of(err, n, &s);
    }
    if (!rc) {
        ds_table t;
        ds_table_init(&t, ANALYZE_STATS_HEADER);
        analyze_add_stats_row(&t, "relative_l2_error", &s);
        rc = analyze_emit(&t, out, "error.csv");
        ds_table_free(&t);
    }
    free(x);
    free(ref);
    free(err);
    return rc;
}

// ---- analyze denoisers ----

enum { MAX_MODELS = 8 };

typedef struct {
    int n_models, n_sigmas;
    ds_model_kind kinds[MAX_MODELS];
    const char *dirs[MAX_MODELS];   // a prepared folder, or NULL: kinds[m] fitted to the data
    const char *labels[MAX_MODELS]; // the kind's name, or the folder
    char dir_list[DS_PATH_MAX * 2]; // --model-dir, split in place
    double *sigmas;
    double *rel[2], *ev[2]; // per point set (train, held-out): (model - 1) x sigma
} denoiser_results;

static const char *point_sets[2] = {"train", "heldout"};

// n rows spread evenly over the data set, as doubles.
static double *spread_rows(const ds_data *data, int64_t n) {
    double *y = ds_try_alloc((size_t)(n * data->d), sizeof(double), data->path);
    for (int64_t i = 0; y && i < n; i++)
        ds_data_rows_f64(data, i * data->n / n, 1, y + i * data->d);
    return y;
}

static int check_list(const char *option, const char *list) {
    size_t len = strlen(list);
    if (!len || list[0] == ',' || list[len - 1] == ',' || strstr(list, ",,"))
        return ds_fail("analyze denoisers: --%s '%s' has an empty item (expected items "
                       "separated by single commas)",
                       option, list);
    return 0;
}

// The kinds of --models (fitted), then the folders of --model-dir (prepared).
static int parse_models(const char *list, const char *dirs, denoiser_results *r) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    r->n_models = 0;
    DS_TRY(check_list("models", list));
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (r->n_models == MAX_MODELS)
            return ds_fail("analyze denoisers: more than %d models", MAX_MODELS);
        DS_TRY(ds_model_kind_parse(tok, &r->kinds[r->n_models]));
        for (int m = 0; m < r->n_models; m++)
            if (r->kinds[m] == r->kinds[r->n_models])
                return ds_fail("analyze denoisers: --models '%s' names %s twice", list, tok);
        r->labels[r->n_models] = ds_model_kind_name(r->kinds[r->n_models]);
        r->n_models++;
    }
    if (dirs) {
        DS_TRY(check_list("model-dir", dirs));
        if ((size_t)snprintf(r->dir_list, sizeof r->dir_list, "%s", dirs) >= sizeof r->dir_list)
            return ds_fail("analyze denoisers: --model-dir is too long");
        for (char *save = NULL, *tok = strtok_r(r->dir_list, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
            if (r->n_models == MAX_MODELS)
                return ds_fail("analyze denoisers: more than %d models", MAX_MODELS);
            DS_TRY(ds_model_folder_kind(tok, &r->kinds[r->n_models]));
            r->dirs[r->n_models] = r->labels[r->n_models] = tok;
            r->n_models++;
        }
    }
    if (r->n_models < 2)
        return ds_fail("analyze denoisers: %d model (expected at least 2: the reference first, "
                       "then the models compared with it; --models, then --model-dir)",
                       r->n_models);
    return 0;
}

// Model m: its folder, or the fit of its kind, kept in OUT/models for the next command.
static int get_model(const denoiser_results *r, int m, const ds_data *train, const cli_data_id *id,
                     const ds_fit_opts *fo, const char *out, ds_model *model) {
    if (r->dirs[m]) {
        DS_TRY(ds_model_load(r->dirs[m], model));
        if (model->d == train->d) return 0;
        ds_model_free(model);
        return ds_fail("%s: a model of dimension %lld, but the data %s has %lld", r->dirs[m],
                       (long long)model->d, train->path, (long long)train->d);
    }
    char dir[DS_PATH_MAX + 64];
    if (r->kinds[m] == DS_MODEL_GMM)
        snprintf(dir, sizeof dir, "%s/models/gmm-k%lld-seed%llu", out, (long long)fo->k,
                 (unsigned long long)fo->seed);
    else
        snprintf(dir, sizeof dir, "%s/models/%s", out, r->labels[m]);
    return cli_fit_cached("analyze denoisers", dir, train, id, r->kinds[m], fo, model);
}

// Fits the models, binds them and compares them on both point sets.
static int compare_models(const ds_data *train, const ds_data *test, const ds_fit_opts *fo,
                          const char *backend, const char *out, int64_t n, uint64_t seed,
                          denoiser_results *r) {
    ds_backend *be = ds_backend_new(backend);
    if (!be) return -1;
    ds_model models[MAX_MODELS] = {0};
    ds_bound_model *bound[MAX_MODELS] = {0};
    cli_data_id id;
    char abs[DS_PATH_MAX];
    int rc = ds_data_fingerprint(train->path, abs, &id.bytes, &id.checksum);
    for (int m = 0; m < r->n_models && !rc; m++) {
        rc = get_model(r, m, train, &id, fo, out, &models[m]);
        if (!rc && !(bound[m] = be->bind(be, &models[m]))) rc = -1;
    }
    for (int set = 0; set < 2 && !rc; set++) {
        const ds_data *src = set ? test : train;
        int64_t rows = n < src->n ? n : src->n;
        double *y = spread_rows(src, rows);
        if (!y) rc = -1;
        if (!rc)
            rc = ds_denoiser_diff(be, bound, r->n_models, y, rows, train->d, r->sigmas, r->n_sigmas,
                                  seed, r->rel[set], r->ev[set]);
        free(y);
    }
    for (int m = 0; m < r->n_models; m++) {
        if (bound[m]) be->unbind(be, bound[m]);
        ds_model_free(&models[m]);
    }
    ds_backend_free(be);
    return rc;
}

// The long table (one row per model, point set and sigma), the wide one for the
// terminal, and the crossover table.
static void denoiser_tables(const denoiser_results *r, double threshold, ds_table *lng,
                            ds_table *wide, ds_table *cross) {
    const char *ref = r->labels[0];
    ds_table_init(lng, "model,reference,points,sigma,rel_diff,score_ev");
    ds_table_init(cross, "model,reference,points,threshold,crossover_sigma");
    char header[512] = "sigma";
    for (int m = 1; m < r->n_models; m++)
        for (int set = 0; set < 2; set++)
            snprintf(header + strlen(header), sizeof header - strlen(header), ",%s_%s",
                     r->labels[m], point_sets[set]);
    ds_table_init(wide, header);
    for (int s = 0; s < r->n_sigmas; s++) {
        ds_table_add(wide, "%.4g", r->sigmas[s]);
        for (int m = 1; m < r->n_models; m++)
            for (int set = 0; set < 2; set++)
                ds_table_add(wide, "%.4g", r->rel[set][(m - 1) * r->n_sigmas + s]);
    }
    for (int m = 1; m < r->n_models; m++)
        for (int set = 0; set < 2; set++) {
            const double *rel = r->rel[set] + (m - 1) * r->n_sigmas;
            const double *ev = r->ev[set] + (m - 1) * r->n_sigmas;
            for (int s = 0; s < r->n_sigmas; s++) {
                ds_table_add(lng, "%s", r->labels[m]);
                ds_table_add(lng, "%s", ref);
                ds_table_add(lng, "%s", point_sets[set]);
                ds_table_add(lng, "%.6g", r->sigmas[s]);
                ds_table_add(lng, "%.6g", rel[s]);
                ds_table_add(lng, "%.6g", ev[s]);
            }
            ds_table_add(cross, "%s", r->labels[m]);
            ds_table_add(cross, "%s", ref);
            ds_table_add(cross, "%s", point_sets[set]);
            ds_table_add(cross, "%g", threshold);
            ds_table_add(cross, "%.4g", ds_crossover_sigma(r->sigmas, rel, r->n_sigmas, threshold));
        }
}

static int analyze_denoisers(int argc, char **argv) {
    const char *data_path = DS_DEFAULT_DATA, *heldout = NULL, *models = "empirical,gmm,gaussian";
    const char *backend = "auto", *out = "analysis", *model_dirs = NULL;
    int64_t n = 128, n_sigmas = 25, k = 10, seed = 0;
    double sigma_min = 0.002, sigma_max = 80, threshold = 0.1;
    const cli_opt opts[] = {
        {"data", CLI_STR, &data_path,
         "training data (the models are fitted to it; their fits are kept in OUT/models)"},
        {"heldout", CLI_STR, &heldout, "held-out data (second set of points) (required)"},
        {"models", CLI_STR, &models,
         "reference model first, then the models compared with it (with --model-dir: "
         "empirical)"},
        {"model-dir", CLI_STR, &model_dirs,
         "prepared model folders, comma-separated, compared after --models"},
        {"k", CLI_INT, &k, "gmm: mixture components"},
        {"n", CLI_INT, &n, "points taken from each set (spread evenly over it)"},
        {"levels", CLI_INT, &n_sigmas, "number of noise levels, uniform in log sigma"},
        {"sigma-min", CLI_REAL, &sigma_min, "smallest noise level"},
        {"sigma-max", CLI_REAL, &sigma_max, "largest noise level"},
        {"threshold", CLI_REAL, &threshold, "relative difference that defines the crossover"},
        {"seed", CLI_INT, &seed, "noise seed (also the k-means++ seed)"},
        {"backend", CLI_STR, &backend, "ref, cpu, cuda or auto"},
        {"out", CLI_STR, &out, "folder for the CSV files"},
    };
    const int n_opts = sizeof opts / sizeof opts[0];
    int rc = cli_parse("analyze denoisers",
                       "Relative L2 difference |D_model - D_ref| / |D_ref| between denoisers "
                       "on noisy training and held-out points y + sigma n, for sigma on a log "
                       "grid, and the explained variance of the reference score. The crossover "
                       "is the largest sigma where the difference exceeds the threshold "
                       "(log-log interpolated between grid points): above it the model "
                       "approximates the reference.",
                       argc, argv, opts, n_opts);
    if (rc) return rc > 0 ? rc : ANALYZE_PARSE_ERROR;
    REFUSE_UNLESS(analyze_need("analyze denoisers", "heldout", heldout));
    const char *cmd = "analyze denoisers";
    REFUSE_UNLESS(cli_check_int(cmd, "n", n, 1, INT64_MAX));
    REFUSE_UNLESS(cli_check_int(cmd, "levels", n_sigmas, 2, 10000));
    REFUSE_UNLESS(cli_check_int(cmd, "seed", seed, 0, INT64_MAX));
    REFUSE_UNLESS(cli_check_real(cmd, "sigma-min", sigma_min, DS_SIGMA_LOWEST, DS_SIGMA_HIGHEST));
    REFUSE_UNLESS(cli_check_real(cmd, "sigma-max", sigma_max, DS_SIGMA_LOWEST, DS_SIGMA_HIGHEST));
    if (!(sigma_max > sigma_min)) {
        ds_fail("%s: --sigma-min must be below --sigma-max (got %g, %g)", cmd, sigma_min,
                sigma_max);
        return ANALYZE_PARSE_ERROR;
    }
    if (!(threshold > 0)) {
        ds_fail("%s: --threshold must be > 0, got %g", cmd, threshold);
        return ANALYZE_PARSE_ERROR;
    }
    denoiser_results r = {0};
    if (model_dirs && !cli_given(argc, argv, opts, n_opts, "models"))
        models = "empirical"; // the reference, compared with the folders
    REFUSE_UNLESS(parse_models(models, model_dirs, &r));
    cli_out_dir out_dir;
    DS_TRY(cli_out_dir_make(&out_dir, out)); // before the minutes of work: fails at once
    ds_fit_opts fo;
    ds_fit_opts_default(&fo);
    fo.k = k;
    fo.seed = (uint64_t)seed;
    r.n_sigmas = (int)n_sigmas;
    r.sigmas = ds_try_alloc((size_t)n_sigmas, sizeof(double), cmd);
    rc = r.sigmas ? 0 : -1;
    if (!rc) ds_log_grid(sigma_min, sigma_max, (int)n_sigmas, r.sigmas);
    for (int set = 0; set < 2; set++) {
        size_t cells = (size_t)((r.n_models - 1) * n_sigmas);
        r.rel[set] = ds_try_alloc(cells, sizeof(double), cmd);
        r.ev[set] = ds_try_alloc(cells, sizeof(double), cmd);
        if (!r.rel[set] || !r.ev[set]) rc = -1;
    }
    ds_data train = {0}, test = {0};
    if (!rc) rc = cli_data_load("analyze", data_path, &train);
    if (!rc) rc = cli_data_load("analyze", heldout, &test);
    if (!rc && test.d != train.d)
        rc = ds_fail("%s: rows of dimension %lld, but the training data %s has %lld", heldout,
                     (long long)test.d, data_path, (long long)train.d);
    if (!rc) rc = compare_models(&train, &test, &fo, backend, out, n, (uint64_t)seed, &r);
    if (!rc) {
        ds_table lng, wide, cross;
        denoiser_tables(&r, threshold, &lng, &wide, &cross);
        printf("relative difference to the %s denoiser, %lld training and %lld held-out "
               "points\n\n",
               r.labels[0], (long long)(n < train.n ? n : train.n),
               (long long)(n < test.n ? n : test.n));
        char path[DS_PATH_MAX];
        rc = ds_table_print(&wide, stdout);
        printf("\n");
        if (!rc) rc = analyze_out_path(path, sizeof path, out, "denoisers.csv");
        if (!rc) rc = ds_table_write_csv(&lng, path);
        if (!rc) printf("wrote %s\n\n", path);
        if (!rc) rc = analyze_emit(&cross, out, "denoisers_crossover.csv");
        ds_table_free(&lng);
        ds_table_free(&wide);
        ds_table_free(&cross);
    }
    if (rc) cli_out_dir_abandon(&out_dir);
    ds_data_free(&train);
    ds_data_free(&test);
    free(r.sigmas);
    for (int set = 0; set < 2; set++) free(r.rel[set]), free(r.ev[set]);
    return rc;
}

// ---- dispatch ----

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} analysis;

static const analysis analyses[] = {
    {"trajectory", analyze_trajectory, "geometry of a recorded trajectory"},
    {"memorization", analyze_memorization, "nearest training rows of generated samples"},
    {"fid", analyze_fid, "PCA-Frechet distance of samples to held-out data"},
    {"error", analyze_error, "relative error of a run against a reference run"},
    {"denoisers", analyze_denoisers, "denoiser differences across noise levels, crossover"},
    {"emergence", cli_analyze_emergence, "noise level at which each principal component settles"},
    {"perturbation", cli_analyze_perturbation, "effect of a perturbation at each step of a run"},
    {"noether", cli_analyze_noether, "Noether quantities along most likely SDE paths"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: diffsamp analyze WHAT [options]\n\nwhat:\n");
    for (size_t i = 0; i < sizeof analyses / sizeof analyses[0]; i++)
        fprintf(f, "  %-14s %s\n", analyses[i].name, analyses[i].summary);
    fprintf(f, "\n'diffsamp analyze WHAT --help' lists its options and defaults.\n");
}

int cli_analyze(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof analyses / sizeof analyses[0]; i++) {
        if (strcmp(argv[1], analyses[i].name)) continue;
        int rc = analyses[i].run(argc - 1, argv + 1);
        return rc < 0 ? cli_fail(rc == ANALYZE_PARSE_ERROR ? 2 : 1) : 0;
    }
    const char *what = argv[1][0] == '-' ? "option" : "analysis";
    fprintf(stderr,
            "diffsamp: analyze: unknown %s '%s' (expected one of the analyses in diffsamp analyze "
            "--help)\n",
            what, argv[1]);
    return 2;
}
