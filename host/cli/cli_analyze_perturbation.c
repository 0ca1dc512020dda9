// diffsamp analyze perturbation: a run restarted at every schedule point with and
// without a perturbation of fixed relative size (Wang & Vastola: early perturbations
// matter more), the change of the final samples against the step, and how often the
// sample then ends on another training image.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_analyze.h"
#include "ds_error.h"
#include "progress.h"

static const char *command = "analyze perturbation";

// Per step k: the change's statistics over samples, and the flips of the samples
// perturbed at k against those restarted at k without perturbation.
static int perturbation_table(const ds_perturbation *p, const ds_data *train, ds_table *t) {
    int64_t n = p->n, steps = p->steps;
    ds_memorization base, pert;
    DS_TRY(ds_memorization_compute(train, p->restart, steps * n, &base));
    int rc = ds_memorization_compute(train, p->perturbed, steps * n, &pert);
    if (rc) {
        ds_memorization_free(&base);
        return rc;
    }
    int *flip = ds_try_alloc((size_t)(2 * steps * n), sizeof(int), "flips");
    if (!flip) rc = -1;
    int *changed = flip ? flip + steps * n : NULL;
    if (!rc) ds_flips(&base, &pert, flip, changed);
    ds_table_init(t, "step,sigma,change_mean,change_median,change_q95,nearest_changed,flip_rate,"
                     "memorized_restart,memorized_perturbed");
    for (int64_t k = 0; k < steps && !rc; k++) {
        ds_stats s;
        rc = ds_stats_of(p->change + k * n, n, &s);
        int64_t flips = 0, moved = 0, mem_r = 0, mem_p = 0;
        for (int64_t i = k * n; i < (k + 1) * n; i++) {
            flips += flip[i], moved += changed[i];
            mem_r += base.ratio[i] < DS_MEMORIZED_RATIO;
            mem_p += pert.ratio[i] < DS_MEMORIZED_RATIO;
        }
        ds_table_add(t, "%lld", (long long)k);
        ds_table_add(t, "%.6g", p->sigmas[k]);
        ds_table_add(t, "%.6g", s.mean);
        ds_table_add(t, "%.6g", s.q50);
        ds_table_add(t, "%.6g", s.q95);
        const int64_t counts[4] = {moved, flips, mem_r, mem_p};
        for (int c = 0; c < 4; c++) ds_table_add(t, "%.4g", (double)counts[c] / (double)n);
    }
    free(flip);
    ds_memorization_free(&base);
    ds_memorization_free(&pert);
    return rc;
}

int cli_analyze_perturbation(int argc, char **argv) {
    analyze_opts o;
    analyze_opts_default(&o, "analysis");
    double size = 0.1;
    const cli_opt opts[] = {
        {"size", CLI_REAL, &size,
         "perturbation at step k: this fraction of |x_k|, along a fixed random direction"},
        ANALYZE_MODEL_OPTS(o),
        ANALYZE_SAMPLING_OPTS(o),
    };
    int rc = cli_parse(command,
                       "Sensitivity to perturbations along a run (Wang & Vastola): the run from "
                       "fixed noise restarted at every step k from its state x_k, as it is and "
                       "with x_k moved by --size |x_k|; the relative change of the final "
                       "samples, and the fraction that end on another training image (flip "
                       "rate: the nearest training row changed and the perturbed sample is "
                       "memorised, d1/d2 < 1/3).",
                       argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc) return rc > 0 ? rc : ANALYZE_PARSE_ERROR;
    ds_sample_config c;
    if (!(size > 0) || !isfinite(size))
        rc = ds_fail("%s: --size must be a finite value > 0 (got %g)", command, size);
    if (!rc) rc = analyze_sample_config(command, &o, &c);
    if (rc) return ANALYZE_PARSE_ERROR;
    cli_out_dir out_dir;
    DS_TRY(cli_out_dir_make(&out_dir, o.out)); // before the work: fails at once
    ds_data data;
    ds_model m;
    const ds_data *train = NULL;
    ds_backend *b = NULL;
    ds_perturbation p = {0};
    double t0 = ds_seconds();
    rc = analyze_model_load(command, &o, 1, &data, &m, &train);
    if (!rc && !(b = ds_backend_new(o.backend))) rc = -1;
    if (!rc) rc = ds_perturbation_run(b, &m, &c, size, &p);
    if (!rc) {
        printf("%s: %s, %lld samples, %s %d steps, perturbation %g |x_k|, %.1f s\n\n", command,
               ds_model_kind_name(m.kind), (long long)c.n, o.sampler, p.steps, size,
               ds_seconds() - t0);
        ds_table t = {0};
        rc = perturbation_table(&p, train, &t);
        if (!rc) rc = analyze_emit(&t, o.out, "perturbation.csv");
        ds_table_free(&t);
    }
    if (rc) cli_out_dir_abandon(&out_dir);
    ds_perturbation_free(&p);
    ds_backend_free(b);
    ds_model_free(&m);
    ds_data_free(&data);
    return rc;
}
