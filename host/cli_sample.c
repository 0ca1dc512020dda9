// diffsamp sample: options, the models, a pre-flight check of the plan, the run
// (ds_sample_run) and the outputs.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ds_error.h"
#include "ds_sample.h"

typedef struct {
    const char *model_dir, *data_path, *model_kind, *teleport_model;
    const char *noise_path, *trajectory, *backend, *out, *sigmas_file;
    int64_t k, order, lower_order_final, steps, n, batch, seed;
    int64_t gits_teacher, gits_warmup;
    int no_final_zero, full_order;
    ds_sample_config cfg;
} sample_args;

static int say(const char *msg, int status) {
    fprintf(stderr, "diffsamp: %s\n", msg);
    return status;
}

// The config from the parsed options, and the checks that need no data: the schedule,
// the teleport plan and the solver's options (run on a one-dimensional Gaussian).
static int plan(sample_args *a) {
    ds_sample_config *c = &a->cfg;
    c->solver.order = (int)a->order;
    c->solver.lower_order_final = (int)a->lower_order_final;
    c->solver.full_order = a->full_order;
    c->schedule.steps = a->steps;
    c->schedule.final_zero = !a->no_final_zero;
    c->schedule.gits.teacher_steps = a->gits_teacher;
    c->schedule.gits.warmup = a->gits_warmup;
    if (a->sigmas_file) c->schedule.kind = "file", c->schedule.path = a->sigmas_file;
    c->n = a->n, c->batch = a->batch, c->seed = (uint64_t)a->seed;
    c->record_trajectory = a->trajectory != NULL;
    if (!ds_solver_known(c->solver.solver))
        return ds_fail("unknown sampler '%s' (expected euler, heun, dpm2, dpmpp2m, dpmpp3m, "
                       "unipc, ipndm, ipndm_v, deis, lms or adaptive)",
                       c->solver.solver);
    if (!ds_schedule_known(c->schedule.kind))
        return ds_fail("unknown schedule '%s' (expected edm, logsnr, vp, gits, or --sigmas FILE)",
                       c->schedule.kind);
    if (a->n < 0 || a->batch < 1)
        return ds_fail("sample: --n must be >= 0 and --batch >= 1 (got %lld, %lld)",
                       (long long)a->n, (long long)a->batch);
    if (!strcmp(c->schedule.kind, "gits")) return 0; // needs the model
    double *s, *run;
    int n, n_run;
    int64_t nfe;
    DS_TRY(ds_schedule_build(&c->schedule, NULL, NULL, &s, &n));
    int rc = ds_teleport_schedule(s, n, &c->teleport, &run, &n_run);
    if (!rc) {
        rc = ds_solver_count_nfe(&c->solver, run, n_run, &nfe);
        free(run);
    }
    free(s);
    return rc;
}

// The model to sample and, when teleporting, the Gaussian to jump with: a model folder,
// or a fit to --data; the Gaussian from --teleport-model, the model itself, or a fit to
// the same data.
static int load_models(const sample_args *a, ds_data *data, ds_model *model, ds_model *gauss,
                       int teleporting) {
    ds_fit_opts fo;
    ds_fit_opts_default(&fo);
    fo.k = a->k;
    if (a->model_dir) {
        DS_TRY(ds_model_load(a->model_dir, model));
    } else {
        ds_model_kind kind;
        DS_TRY(ds_model_kind_parse(a->model_kind, &kind));
        DS_TRY(ds_data_load(a->data_path, data));
        DS_TRY(ds_model_fit(data, kind, &fo, model));
    }
    if (!teleporting) return 0;
    if (a->teleport_model) return ds_model_load(a->teleport_model, gauss);
    if (model->kind == DS_MODEL_GAUSSIAN) return 0;
    const ds_data *src = data->x ? data : model->data.x ? &model->data : NULL;
    if (!src)
        return ds_fail(
            "teleport: this model folder holds no training rows; give --teleport-model DIR "
            "(a Gaussian model folder)");
    return ds_model_fit(src, DS_MODEL_GAUSSIAN, &fo, gauss);
}

// Standard normal rows from a .npy file: at least n rows of d values each.
static int load_noise(const char *path, int64_t *n, int64_t d, double **out) {
    ds_array a;
    DS_TRY(ds_npy_read(path, &a));
    int64_t count = ds_array_count(&a), rows = a.ndim ? a.shape[0] : 0;
    int rc = 0;
    if (a.dtype == DS_U8 || a.ndim < 2 || rows < 1 || count != rows * d)
        rc = ds_fail("%s: noise must be float rows of d = %lld values (shape N x %lld)", path,
                     (long long)d, (long long)d);
    else if (*n > rows)
        rc = ds_fail("%s: noise has %lld rows but --n is %lld", path, (long long)rows,
                     (long long)*n);
    if (!rc) {
        if (*n == 0) *n = rows;
        *out = ds_alloc((size_t)(*n * d), sizeof(double));
        for (int64_t i = 0; i < *n * d; i++)
            (*out)[i] = a.dtype == DS_F64 ? ((double *)a.data)[i] : ((float *)a.data)[i];
    }
    ds_array_free(&a);
    return rc;
}

typedef struct {
    double *x;
    int64_t d;
} collect;

static int collect_batch(void *user, int64_t first_row, int64_t rows, const double *x) {
    collect *c = user;
    memcpy(c->x + first_row * c->d, x, sizeof(double) * (size_t)(rows * c->d));
    return 0;
}

// PNGs (images only) and the trajectory first, samples.npy last: its presence marks a
// complete run.
static int write_outputs(const sample_args *a, const ds_model *m, const double *x, int f64,
                         const ds_sample_result *r) {
    char path[DS_PATH_MAX];
    int64_t n = a->cfg.n, shape[2] = {n, m->d};
    DS_TRY(ds_mkdirs(a->out));
    if (m->height) {
        DS_TRY(ds_png_write_samples(a->out, x, n, 0, m->channels, m->height, m->width));
        snprintf(path, sizeof path, "%s/grid.png", a->out);
        DS_TRY(ds_png_write_grid(path, x, n < 64 ? n : 64, 8, m->channels, m->height, m->width));
    }
    if (a->trajectory) DS_TRY(ds_trajectory_write(&r->trajectory, a->trajectory, f64));
    snprintf(path, sizeof path, "%s/sigmas.txt", a->out);
    DS_TRY(ds_schedule_write(path, r->sigmas, r->n_sigmas));
    snprintf(path, sizeof path, "%s/samples.npy", a->out);
    return ds_npy_write_f64(path, x, 2, shape, f64 ? DS_F64 : DS_F32);
}

static void report(const sample_args *a, const ds_sample_result *r) {
    const ds_sample_config *c = &a->cfg;
    int final_zero = r->sigmas[r->n_sigmas - 1] == 0;
    printf("sample: %lld samples, sampler %s, schedule %s: %d steps from sigma %g %s\n",
           (long long)c->n, c->solver.solver, c->schedule.kind, r->n_sigmas - 1, r->sigmas[0],
           final_zero ? "with a last step to sigma = 0" : "stopping at the last sigma");
    if (r->sigma_start != r->sigmas[0]) {
        printf("teleport: Gaussian flow from sigma %g to %g, ", r->sigmas[0], r->sigma_start);
        if (r->nfe_full >= 0)
            printf("NFE %lld instead of %lld (saved %lld)\n", (long long)r->nfe,
                   (long long)r->nfe_full, (long long)(r->nfe_full - r->nfe));
        else
            printf("NFE saved: not predictable for the adaptive solver\n");
    }
    printf("NFE: %lld per sample; time %.3f s (%.1f samples/s) -> %s\n", (long long)r->nfe,
           r->seconds, (double)c->n / r->seconds, a->out);
}

int cli_sample(int argc, char **argv) {
    sample_args a = {.data_path = DS_DEFAULT_DATA,
                     .model_kind = "empirical",
                     .backend = "auto",
                     .out = "out/sample",
                     .k = 10,
                     .lower_order_final = 1,
                     .steps = 18,
                     .batch = 256};
    ds_sample_config_default(&a.cfg);
    a.gits_teacher = a.cfg.schedule.gits.teacher_steps, a.gits_warmup = a.cfg.schedule.gits.warmup;
    ds_solver_opts *so = &a.cfg.solver;
    ds_schedule_opts *sc = &a.cfg.schedule;
    cli_opt opts[] = {
        {"model-dir", CLI_STR, &a.model_dir, "model folder (from diffsamp prepare)"},
        {"data", CLI_STR, &a.data_path, "data set to fit the model to (without --model-dir)"},
        {"model", CLI_STR, &a.model_kind, "model kind to fit: empirical, gaussian or gmm"},
        {"k", CLI_INT, &a.k, "gmm: number of components"},
        {"sampler", CLI_STR, &so->solver,
         "euler, heun, dpm2, dpmpp2m, dpmpp3m, unipc, ipndm, ipndm_v, deis, lms, adaptive"},
        {"order", CLI_INT, &a.order, "solver order (0: the solver's default)"},
        {"lower-order-final", CLI_INT, &a.lower_order_final,
         "multistep solvers: lower the order on the final steps (1) or not (0)"},
        {"full-order", CLI_FLAG, &a.full_order,
         "dpmpp3m, lms: the corrected variant that keeps the nominal order (see README)"},
        {"variant", CLI_STR, &so->variant, "unipc: bh1 or bh2"},
        {"rtol", CLI_REAL, &so->rtol, "adaptive: relative tolerance"},
        {"atol", CLI_REAL, &so->atol, "adaptive: absolute tolerance"},
        {"schedule", CLI_STR, &sc->kind, "edm, logsnr, vp or gits"},
        {"steps", CLI_INT, &a.steps, "number of steps N (see --no-final-zero)"},
        {"sigma-min", CLI_REAL, &sc->sigma_min, "smallest positive sigma"},
        {"sigma-max", CLI_REAL, &sc->sigma_max, "starting sigma"},
        {"rho", CLI_REAL, &sc->rho, "edm: polynomial exponent"},
        {"sigmas", CLI_STR, &a.sigmas_file, "explicit schedule: one sigma per line, decreasing"},
        {"no-final-zero", CLI_FLAG, &a.no_final_zero,
         "N + 1 sigmas from sigma-max to sigma-min, no last step to 0 (diff-sampler)"},
        {"gits-teacher-steps", CLI_INT, &a.gits_teacher, "gits: teacher grid size"},
        {"gits-warmup", CLI_INT, &a.gits_warmup, "gits: number of warm-up samples"},
        {"gits-coeff", CLI_REAL, &sc->gits.coeff, "gits: the DP's cost coefficient"},
        {"n", CLI_INT, &a.n, "number of samples (0: 16, or all rows of --noise)"},
        {"batch", CLI_INT, &a.batch, "rows per batch"},
        {"seed", CLI_INT, &a.seed, "noise seed (sample i uses noise row i of the seed)"},
        {"noise", CLI_STR, &a.noise_path, "standard normal rows (.npy, N x d) instead of Philox"},
        {"teleport-sigma", CLI_REAL, &a.cfg.teleport.sigma,
         "jump from sigma-max to this sigma with the Gaussian flow"},
        {"teleport-fraction", CLI_REAL, &a.cfg.teleport.fraction,
         "jump past this fraction of the schedule's steps"},
        {"teleport-model", CLI_STR, &a.teleport_model,
         "Gaussian model folder for teleporting (none: the model if Gaussian, else a fit)"},
        {"trajectory", CLI_STR, &a.trajectory,
         "write PREFIX_x.npy, PREFIX_denoised.npy and PREFIX_sigmas.npy"},
        {"backend", CLI_STR, &a.backend, "ref, cpu, cuda or auto"},
        {"out", CLI_STR, &a.out, "output folder (samples.npy, sigmas.txt, PNGs)"},
    };
    int rc = cli_parse("sample", "Sample with a solver of the probability-flow ODE.", argc, argv,
                       opts, sizeof opts / sizeof opts[0]);
    if (rc) return rc > 0 ? 0 : say(ds_error(), 2);
    if (plan(&a)) return say(ds_error(), 2);
    int teleporting = a.cfg.teleport.sigma > 0 || a.cfg.teleport.fraction > 0;
    ds_data data = {0};
    ds_model model = {0}, gauss = {0};
    ds_backend *b = NULL;
    double *noise = NULL, *x = NULL;
    ds_sample_result r = {0};
    rc = load_models(&a, &data, &model, &gauss, teleporting);
    if (!rc && a.noise_path) rc = load_noise(a.noise_path, &a.cfg.n, model.d, &noise);
    if (!rc && a.cfg.n == 0) a.cfg.n = 16;
    a.cfg.noise = noise;
    if (!rc && !(b = ds_backend_new(a.backend))) rc = -1;
    if (!rc) {
        collect col = {ds_alloc((size_t)(a.cfg.n * model.d), sizeof(double)), model.d};
        x = col.x;
        const ds_model *g = gauss.d ? &gauss : &model;
        rc = ds_sample_run(b, &model, teleporting ? g : NULL, &a.cfg, collect_batch, &col, &r);
    }
    if (!rc) rc = write_outputs(&a, &model, x, b->f64, &r);
    if (!rc) report(&a, &r);
    int status = rc ? say(ds_error(), 1) : 0;
    ds_sample_result_free(&r);
    free(x);
    free(noise);
    ds_backend_free(b);
    ds_model_free(&gauss);
    ds_model_free(&model);
    ds_data_free(&data);
    return status;
}
