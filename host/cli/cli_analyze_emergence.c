// diffsamp analyze emergence: the noise level at which each principal component of the
// data settles in the denoising trajectory (Wang & Vastola, outline first), from a
// recorded trajectory or from a run it samples with its trajectory recorded.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_analyze.h"
#include "ds_error.h"

static const char *command = "analyze emergence";

// The trajectory to analyse: the files of --trajectory, or a run of the model.
typedef struct {
    analyze_trajectory_files files;
    ds_sample_result run;
    ds_traj_view view;
    const double *sigmas;
} trajectory_source;

static int sample_trajectory(const analyze_opts *o, ds_sample_config *c, const ds_model *m,
                             trajectory_source *src) {
    ds_backend *b = ds_backend_new(o->backend);
    if (!b) return -1;
    c->record_trajectory = 1;
    int rc = ds_sample_run(b, m, NULL, c, NULL, NULL, &src->run);
    ds_backend_free(b);
    DS_TRY(rc);
    const ds_trajectory *t = &src->run.trajectory;
    src->view = (ds_traj_view){t->points, t->rows, t->d, t->points - 1, t->x, t->denoised};
    src->sigmas = t->sigmas;
    printf("%s: %s, %lld samples, %s %d points, %.1f s\n", command, ds_model_kind_name(m->kind),
           (long long)c->n, o->sampler, t->points, src->run.seconds);
    return 0;
}

// Per component: its variance, the emergence sigmas over samples, and the Gaussian's
// prediction from the variance alone and from each sample's own final coordinate;
// ratio[j]: the measured median over the prediction.
static int component_table(const ds_emergence *e, const ds_pca *p, double tol, double sigma0,
                           ds_table *t, double *ratio) {
    double *own = ds_try_alloc((size_t)e->b, sizeof(double), "emergence predictions");
    if (!own) return -1;
    ds_table_init(t, "component,variance,sigma_median,sigma_q25,sigma_q75,settled_at_start,"
                     "gaussian_predicted,gaussian_from_finals");
    int rc = 0;
    for (int64_t j = 0; j < e->k && !rc; j++) {
        double lam = p->eigvals[j];
        double pred = ds_emergence_gaussian(lam, tol, DS_HALF_NORMAL_MEDIAN, sigma0);
        for (int64_t i = 0; i < e->b; i++)
            own[i] = ds_emergence_gaussian(lam, tol, e->final[i * e->k + j], sigma0);
        ds_stats s;
        rc = ds_stats_of(own, e->b, &s);
        ratio[j] = e->median[j] / pred;
        ds_table_add(t, "%lld", (long long)(j + 1));
        ds_table_add(t, "%.6g", lam);
        ds_table_add(t, "%.6g", e->median[j]);
        ds_table_add(t, "%.6g", e->q25[j]);
        ds_table_add(t, "%.6g", e->q75[j]);
        ds_table_add(t, "%.4g", e->at_start[j]);
        ds_table_add(t, "%.6g", pred);
        ds_table_add(t, "%.6g", s.q50);
    }
    free(own);
    return rc;
}

static int summary_table(const ds_emergence *e, const char *model, int64_t points, double tol,
                         const double *ratio, ds_table *t) {
    ds_stats r;
    DS_TRY(ds_stats_of(ratio, e->k, &r));
    ds_table_init(t, "model,samples,points,pca_k,tolerance,spearman,ratio_to_gaussian_q05,"
                     "ratio_to_gaussian_median,ratio_to_gaussian_q95");
    ds_table_add(t, "%s", model);
    ds_table_add(t, "%lld", (long long)e->b);
    ds_table_add(t, "%lld", (long long)points);
    ds_table_add(t, "%lld", (long long)e->k);
    ds_table_add(t, "%g", tol);
    ds_table_add(t, "%.4f", e->spearman);
    ds_table_add(t, "%.4g", r.q05);
    ds_table_add(t, "%.4g", r.q50);
    ds_table_add(t, "%.4g", r.q95);
    return 0;
}

static int emergence_tables(const trajectory_source *src, const ds_data *train, int64_t k,
                            double tol, const char *model, const char *out) {
    ds_pca p;
    DS_TRY(ds_pca_fit(train, cli_pca_k(command, k, train), &p));
    ds_emergence e;
    int rc = ds_emergence_compute(&src->view, src->sigmas, &p, tol, &e);
    if (!rc) {
        double *ratio = ds_try_alloc((size_t)e.k, sizeof(double), "emergence ratios");
        ds_table comp = {0}, sum = {0};
        rc = ratio ? component_table(&e, &p, tol, src->sigmas[0], &comp, ratio) : -1;
        if (!rc) rc = summary_table(&e, model, src->view.steps, tol, ratio, &sum);
        if (!rc) rc = analyze_emit(&comp, out, "emergence.csv");
        if (!rc) rc = analyze_emit(&sum, out, "emergence_summary.csv");
        ds_table_free(&comp);
        ds_table_free(&sum);
        free(ratio);
        ds_emergence_free(&e);
    }
    ds_pca_free(&p);
    return rc;
}

int cli_analyze_emergence(int argc, char **argv) {
    analyze_opts o;
    analyze_opts_default(&o, "analysis");
    const char *prefix = NULL;
    double tol = 0.1;
    int64_t k = 0;
    const cli_opt opts[] = {
        {"trajectory", CLI_STR, &prefix,
         "recorded trajectory PREFIX_{x,denoised,sigmas}.npy (none: sample one)"},
        {"tolerance", CLI_REAL, &tol,
         "a coordinate has settled within this many of its component's standard deviations "
         "of its final value"},
        {"pca-k", CLI_INT, &k, "principal components (0: 64, or d when d < 64)"},
        ANALYZE_MODEL_OPTS(o),
        ANALYZE_SAMPLING_OPTS(o),
    };
    int rc = cli_parse(command,
                       "Emergence of the data's principal components (Wang & Vastola): for each "
                       "component, the sigma below which the denoised points D(x_i; sigma_i) stay "
                       "within the tolerance of the final sample's coordinate, its rank "
                       "correlation with the component's variance, and the Gaussian model's "
                       "closed-form prediction.",
                       argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc) return rc > 0 ? rc : ANALYZE_PARSE_ERROR;
    ds_sample_config c;
    if (!(tol > 0) || !isfinite(tol))
        rc = ds_fail("%s: --tolerance must be a finite value > 0 (got %g)", command, tol);
    if (!rc) rc = cli_check_int(command, "pca-k", k, 0, INT32_MAX);
    if (!rc) rc = analyze_sample_config(command, &o, &c);
    if (rc) return ANALYZE_PARSE_ERROR;
    cli_out_dir out_dir;
    DS_TRY(cli_out_dir_make(&out_dir, o.out)); // before the work: fails at once
    ds_data data;
    ds_model m;
    const ds_data *train = NULL;
    trajectory_source src = {0};
    rc = analyze_model_load(command, &o, !prefix, &data, &m, &train);
    if (!rc && prefix) {
        rc = analyze_load_trajectory(prefix, &src.files, &src.view);
        src.sigmas = src.files.sigmas.data;
        if (!rc && src.view.d != train->d)
            rc = ds_fail("%s: samples of dimension %lld, but the training data %s has %lld", prefix,
                         (long long)src.view.d, train->path, (long long)train->d);
    } else if (!rc) {
        rc = sample_trajectory(&o, &c, &m, &src);
    }
    const char *model = m.d ? ds_model_kind_name(m.kind) : "trajectory";
    if (!rc) rc = emergence_tables(&src, train, k, tol, model, o.out);
    if (rc) cli_out_dir_abandon(&out_dir);
    analyze_trajectory_files_free(&src.files);
    ds_sample_result_free(&src.run);
    ds_model_free(&m);
    ds_data_free(&data);
    return rc;
}
