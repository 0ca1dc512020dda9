// diffsamp sample: options, the models, a pre-flight check of the plan, the run
// (ds_sample_run) and the outputs.
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_sample_batch.h"
#include "dist.h"
#include "ds_error.h"
#include "ds_sample.h"
#include "mem_plan.h"
#include "run_json.h"
#include "sample_merge.h"

typedef struct {
    const char *model_dir, *data_path, *model_kind, *teleport_model;
    const char *noise_path, *step_noise_path, *trajectory, *backend, *out, *sigmas_file;
    int64_t k, order, lower_order_final, steps, n, batch, seed, class_label;
    int64_t gits_teacher, gits_warmup, deis_riemann;
    int no_final_zero, full_order, afs, dynamic_threshold, prune, no_prune;
    const char *max_memory;
    uint64_t max_memory_bytes;
    int resume, force, quiet, no_npy, no_png, flat_npy, shard_data;
    int batches; // batches the solver keeps (from the plan), for the memory plan
    ds_sample_config cfg;
} sample_args;

// The options that apply to some samplers only (as their help lines say), for the
// warning that one given does nothing with the chosen sampler.
static const struct {
    const char *option, *samplers; // the samplers, comma-separated
} sampler_options[] = {
    {"variant", "unipc,ipndm_v,dpmpp2m_sde"},
    {"rtol", "adaptive"},
    {"atol", "adaptive"},
    {"full-order", "dpmpp3m,lms"},
    {"dynamic-threshold", "dpmpp2m,dpmpp3m,unipc"},
    {"deis-riemann", "deis"},
    {"s-churn", "euler,heun"},
    {"s-tmin", "euler,heun"},
    {"s-tmax", "euler,heun"},
    {"eta", "euler_ancestral,dpmpp_sde,dpmpp2m_sde,dpmpp3m_sde"},
    {"r", "dpmpp_sde"},
};

static int in_list(const char *list, const char *name) {
    size_t len = strlen(name);
    for (const char *p = list; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (!strncmp(p, name, len) && (p[len] == ',' || !p[len])) return 1;
    return 0;
}

// --model names a kind; given with --model-dir, it must be the folder's kind.
static int check_model_kind(const sample_args *a, int given) {
    ds_model_kind kind, held;
    DS_TRY(ds_model_kind_parse(a->model_kind, &kind));
    if (a->class_label < -1 || a->class_label > INT32_MAX)
        return ds_fail("sample: --class must be a label >= 0 (or -1: all rows), got %lld",
                       (long long)a->class_label);
    if (!a->model_dir || !given) return 0;
    DS_TRY(ds_model_folder_kind(a->model_dir, &held));
    if (held != kind)
        return ds_fail("sample: --model %s contradicts --model-dir %s, which holds a %s model "
                       "(leave out --model)",
                       a->model_kind, a->model_dir, ds_model_kind_name(held));
    return 0;
}

// One line on stderr for each given option that the sampler does not use.
static void warn_unused_options(int argc, char **argv, const cli_opt *opts, int n_opts,
                                const char *sampler) {
    for (size_t i = 0; i < sizeof sampler_options / sizeof sampler_options[0]; i++) {
        const char *name = sampler_options[i].option, *list = sampler_options[i].samplers;
        if (cli_given(argc, argv, opts, n_opts, name) && !in_list(list, sampler))
            fprintf(stderr,
                    "diffsamp: warning: sample: --%s applies to %s only; it does "
                    "nothing with --sampler %s\n",
                    name, list, sampler);
    }
}

// The config from the parsed options, the options' own checks, and the plan of the run
// (ds_sample_plan_make: every check that needs no data).
static int plan(sample_args *a) {
    ds_sample_config *c = &a->cfg;
    // The ranges of the options narrowed to int below, and of the seed.
    DS_TRY(cli_check_int("sample", "order", a->order, 0, 16));
    DS_TRY(cli_check_int("sample", "lower-order-final", a->lower_order_final, 0, 1));
    DS_TRY(cli_check_int("sample", "deis-riemann", a->deis_riemann, 0, INT32_MAX));
    DS_TRY(cli_check_int("sample", "seed", a->seed, 0, INT64_MAX));
    c->solver.order = (int)a->order;
    c->solver.lower_order_final = (int)a->lower_order_final;
    c->solver.full_order = a->full_order;
    c->solver.afs = a->afs;
    c->solver.dynamic_threshold = a->dynamic_threshold;
    c->solver.deis_riemann = (int)a->deis_riemann;
    c->schedule.steps = a->steps;
    c->schedule.final_zero = !a->no_final_zero;
    c->schedule.gits.teacher_steps = a->gits_teacher;
    c->schedule.gits.warmup = a->gits_warmup;
    if (a->sigmas_file) c->schedule.kind = "file", c->schedule.path = a->sigmas_file;
    c->n = a->n, c->batch = a->batch, c->seed = (uint64_t)a->seed;
    c->record_trajectory = a->trajectory != NULL;
    if (a->prune && a->no_prune)
        return ds_fail("sample: --prune and --no-prune together (give one)");
    c->prune = a->prune ? 1 : a->no_prune ? -1 : 0;
    if (a->prune && !strcmp(a->backend, "ref"))
        return ds_fail("sample: --prune: backend %s evaluates every training row (pruning is on "
                       "cpu and cuda; leave out --prune)",
                       a->backend);
    if (a->n < 0 || a->batch < 1)
        return ds_fail("sample: --n must be >= 0 and --batch >= 1 (got %lld, %lld)",
                       (long long)a->n, (long long)a->batch);
    if (a->max_memory) {
        DS_TRY(ds_parse_bytes(a->max_memory, &a->max_memory_bytes));
        if (!a->max_memory_bytes)
            return ds_fail("sample: --max-memory must be more than 0 bytes (got '%s')",
                           a->max_memory);
    }
    if (a->resume && a->trajectory)
        return ds_fail("sample: --trajectory keeps every row in memory and cannot be resumed "
                       "(leave out --resume)");
    if (a->trajectory && ds_dist_size() > 1 && !a->shard_data)
        return ds_fail("sample: --trajectory keeps every row in one process and is not split "
                       "over the %d ranks (run it without mpirun, or add --shard-data)",
                       ds_dist_size());
    ds_dist_set_data_sharding(a->shard_data);
    ds_sample_plan p; // with GITS, only the names: the schedule needs the model
    DS_TRY(ds_sample_plan_make(c, NULL, 0, &p));
    a->batches = p.batches;
    ds_sample_plan_free(&p);
    return 0;
}

// --class K: dst becomes the rows of class K of src, so that every model (and the Gaussian
// to teleport with) is that class's.
static int select_class(const sample_args *a, const ds_data *src, ds_data *dst) {
    DS_TRY(ds_data_select_class(src, a->class_label, dst));
    fprintf(stderr, "sample: --class %lld: %lld of the %lld rows of %s\n",
            (long long)a->class_label, (long long)dst->n, (long long)src->n, src->path);
    return 0;
}

// --class K with a model folder: a gmm keeps its components of class K, weights
// renormalised (nothing is refitted); an empirical folder becomes the empirical model of
// the class's rows, a Gaussian folder the class's own Gaussian, fitted to the class's rows
// of the data model.txt records at the folder's rank (what prepare would store for them).
// *data holds those rows.
static int folder_class(const sample_args *a, ds_data *data, ds_model *model) {
    if (model->kind == DS_MODEL_GMM) return ds_model_select_class(model, a->class_label);
    if (model->kind != DS_MODEL_EMPIRICAL && model->kind != DS_MODEL_GAUSSIAN)
        return ds_fail("sample: --class with --model-dir takes an empirical, gaussian or gmm "
                       "folder, and %s holds a %s model (give --data to fit one to the class)",
                       a->model_dir, ds_model_kind_name(model->kind));
    ds_data all = {0};
    const ds_data *src = &model->data;
    if (model->kind == DS_MODEL_GAUSSIAN && ds_model_data_load(a->model_dir, model, &all))
        return ds_fail("sample: --class %lld fits the class's Gaussian to the folder's data: %s",
                       (long long)a->class_label, ds_error());
    if (model->kind == DS_MODEL_GAUSSIAN) src = &all;
    int rc = select_class(a, src, data);
    ds_data_free(&all);
    ds_fit_opts fo;
    ds_fit_opts_default(&fo);
    fo.rank = model->r < model->d ? model->r : 0;
    ds_model fresh;
    if (!rc) rc = ds_model_fit(data, model->kind, &fo, &fresh);
    if (rc) return rc;
    ds_model_free(model);
    *model = fresh;
    return 0;
}

// The model to sample and, when teleporting, the Gaussian to jump with: a model folder,
// or a fit to --data; the Gaussian from --teleport-model, the model itself, or a fit to
// the same data (with --class, the class's).
static int load_models(const sample_args *a, ds_data *data, ds_model *model, ds_model *gauss,
                       int teleporting) {
    ds_fit_opts fo;
    ds_fit_opts_default(&fo);
    fo.k = a->k;
    if (a->model_dir) {
        DS_TRY(ds_model_load(a->model_dir, model));
        if (a->class_label >= 0) DS_TRY(folder_class(a, data, model));
    } else {
        ds_model_kind kind;
        ds_data all;
        DS_TRY(ds_model_kind_parse(a->model_kind, &kind));
        DS_TRY(cli_data_load("sample", a->data_path, data));
        if (a->class_label >= 0) {
            all = *data;
            int rc = select_class(a, &all, data);
            ds_data_free(&all);
            DS_TRY(rc);
        }
        DS_TRY(ds_model_fit(data, kind, &fo, model));
    }
    if (!teleporting) return 0;
    if (a->teleport_model) {
        DS_TRY(ds_model_load(a->teleport_model, gauss));
        if (gauss->kind != DS_MODEL_GAUSSIAN)
            return ds_fail("%s: a %s model (expected a Gaussian model folder for "
                           "--teleport-model)",
                           a->teleport_model, ds_model_kind_name(gauss->kind));
        return 0;
    }
    if (model->kind == DS_MODEL_GAUSSIAN) return 0;
    // A mixture's folder holds no rows: the Gaussian is fitted to the data model.txt records.
    if (!data->values && !model->data.values) {
        if (ds_model_data_load(a->model_dir, model, data))
            return ds_fail("teleport: %s (give --teleport-model DIR, a Gaussian model folder)",
                           ds_error());
        if (a->class_label >= 0) {
            ds_data all = *data;
            int rc = select_class(a, &all, data);
            ds_data_free(&all);
            DS_TRY(rc);
        }
    }
    return ds_model_fit(data->values ? data : &model->data, DS_MODEL_GAUSSIAN, &fo, gauss);
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
        *out = ds_try_alloc((size_t)(*n * d), sizeof(double), path);
        if (!*out) rc = -1;
        for (int64_t i = 0; !rc && i < *n * d; i++)
            (*out)[i] = a.dtype == DS_F64 ? ((double *)a.data)[i] : ((float *)a.data)[i];
    }
    ds_array_free(&a);
    return rc;
}

// The stochastic samplers' draws from a .npy file: draws x n x d finite standard normals
// (the draw count is checked against the sampler by ds_sample_run).
static int load_step_noise(const char *path, int64_t n, int64_t d, double **out, int64_t *draws) {
    ds_array a;
    DS_TRY(ds_npy_read(path, &a));
    int rc = 0;
    if (a.dtype == DS_U8 || a.ndim != 3 || a.shape[1] != n || a.shape[2] != d || a.shape[0] < 1)
        rc = ds_fail("%s: step noise must be a float array of shape (draws, %lld, %lld): one "
                     "slice of n x d standard normals per draw",
                     path, (long long)n, (long long)d);
    int64_t count = rc ? 0 : ds_array_count(&a);
    if (!rc && !(*out = ds_try_alloc((size_t)count, sizeof(double), path))) rc = -1;
    for (int64_t i = 0; !rc && i < count; i++) {
        (*out)[i] = a.dtype == DS_F64 ? ((double *)a.data)[i] : ((float *)a.data)[i];
        if (!isfinite((*out)[i]))
            rc = ds_fail("%s: step noise value %lld is %g (expected finite normals)", path,
                         (long long)i, (*out)[i]);
    }
    if (!rc) *draws = a.shape[0];
    ds_array_free(&a);
    return rc;
}

// The outputs of the whole run, from the batches written: the grid of the first 64
// samples, the trajectory, sigmas.txt and samples.npy.
static int write_outputs(const sample_args *a, const ds_model *m, sample_output *o,
                         const ds_sample_result *r) {
    char path[DS_PATH_MAX + 32];
    ds_array head; // the grid's rows: samples.npy is streamed, so any --n fits in memory
    int64_t n = a->cfg.n, count = n < 64 ? n : 64;
    DS_TRY(ds_resume_gather(&o->res, count, &head));
    int rc = 0;
    if (o->png) {
        double *x = sample_output_rows(&head, count);
        snprintf(path, sizeof path, "%s/grid.png", a->out);
        rc = !x ? -1 : ds_png_write_grid(path, x, count, 8, m->channels, m->height, m->width);
        free(x);
    }
    if (!rc && a->trajectory)
        rc = ds_trajectory_write(&r->trajectory, a->trajectory, head.dtype == DS_F64);
    snprintf(path, sizeof path, "%s/sigmas.txt", a->out);
    if (!rc) rc = ds_schedule_write(path, r->sigmas, r->n_sigmas);
    snprintf(path, sizeof path, "%s/samples.npy", a->out);
    // Image rows keep their shape, (n, C, H, W), unless --flat-npy.
    int64_t image[3] = {m->channels, m->height, m->width};
    int image_dims = m->height && !a->flat_npy ? 3 : 0;
    if (!rc && !a->no_npy) rc = ds_resume_write_npy(&o->res, path, image_dims, image);
    ds_array_free(&head);
    return rc;
}

// The size and checksum of an input file (or folder) named by an option: what it holds,
// not only its name, determines the output.
static int add_file_identity(char *buf, size_t size, const char *key, const char *path) {
    if (!path) return 0;
    char abs_path[DS_PATH_MAX];
    int64_t bytes;
    uint64_t checksum;
    DS_TRY(ds_data_fingerprint(path, abs_path, &bytes, &checksum));
    return ds_config_add(buf, size, key, "%lld bytes %016llx", (long long)bytes,
                         (unsigned long long)checksum);
}

// A resumed run keeps the batches it was started with, which the memory plan may have
// made smaller than --batch then: smaller batches fit still; larger ones are refused.
static int resume_batch(const char *out, int64_t *batch) {
    int64_t stored = ds_resume_stored_batch(out);
    if (!stored || stored == *batch) return 0;
    if (stored > *batch)
        return ds_fail("%s: cannot resume: the run used batches of %lld rows and this command "
                       "allows %lld (by --batch or the memory limit)",
                       out, (long long)stored, (long long)*batch);
    *batch = stored;
    return 0;
}

// What determines the output, for --resume: every option but those that only say where
// and how to run, plus the batch planned, the backend that runs and the model's identity.
static int output_config(const sample_args *a, const cli_opt *opts, int n_opts, const ds_model *m,
                         const ds_backend *b, char *buf, size_t size) {
    static const char *const skip[] = {"out",   "resume",  "force",      "quiet", "max-memory",
                                       "batch", "backend", "shard-data", NULL};
    buf[0] = '\0';
    DS_TRY(ds_config_text(opts, n_opts, skip, buf, size));
    // Sample sharding gives every rank count the same output; data sharding's merge order
    // depends on the count, so a resume must keep it.
    if (ds_dist_data_sharding())
        DS_TRY(ds_config_add(buf, size, "data-shards", "%d", ds_dist_size()));
    DS_TRY(ds_config_add(buf, size, "batch-planned", "%lld", (long long)a->cfg.batch));
    DS_TRY(ds_config_add(buf, size, "backend-used", "%s", b->name));
    DS_TRY(add_file_identity(buf, size, "model-dir-identity", a->model_dir));
    DS_TRY(add_file_identity(buf, size, "noise-identity", a->noise_path));
    DS_TRY(add_file_identity(buf, size, "step-noise-identity", a->step_noise_path));
    DS_TRY(add_file_identity(buf, size, "sigmas-identity", a->sigmas_file));
    DS_TRY(add_file_identity(buf, size, "teleport-model-identity", a->teleport_model));
    return ds_config_add(buf, size, "model-identity", "%s d=%lld k=%lld r=%lld data=%016llx",
                         ds_model_kind_name(m->kind), (long long)m->d, (long long)m->k,
                         (long long)m->r, (unsigned long long)m->data_checksum);
}

static void run_json_extra(ds_json *j, void *user) {
    const ds_sample_result *r = user;
    ds_json_real(j, "sigma_start", r->sigma_start);
    ds_json_int(j, "nfe_without_teleport", r->nfe_full);
    ds_json_int(j, "denoiser_calls", r->batch_calls);
    ds_json_bool(j, "landing", r->landing);
    ds_json_real(j, "nfe_mean_per_sample", r->nfe_mean);
    ds_json_int(j, "samples_landed", r->landed);
    ds_json_int(j, "ranks", ds_dist_size());
    ds_json_bool(j, "data_sharding", ds_dist_data_sharding());
    ds_json_int(j, "mpi_bytes_sent_by_rank_0", (int64_t)ds_dist_bytes_sent());
    ds_json_array(j, "sample_nfe");
    for (int64_t i = 0; i < r->n_samples; i++) ds_json_int(j, NULL, r->sample_nfe[i]);
    ds_json_end(j);
    ds_json_array(j, "landing_sigma"); // 0: did not land
    for (int64_t i = 0; i < r->n_samples; i++) ds_json_real(j, NULL, r->landing_sigma[i]);
    ds_json_end(j);
    ds_json_array(j, "landed_on_training_row"); // -1: did not land
    for (int64_t i = 0; i < r->n_samples; i++) ds_json_int(j, NULL, r->landed_on[i]);
    ds_json_end(j);
    ds_json_bool(j, "pruning", r->pruning);
    if (!r->pruning) return;
    const ds_prune_stats *p = &r->prune;
    ds_json_object(j, "prune");
    ds_json_real(j, "eps", p->eps);
    ds_json_int(j, "queries", p->queries);
    ds_json_int(j, "queries_pruned", p->queries_pruned);
    ds_json_int(j, "pairs", p->pairs);
    ds_json_int(j, "pairs_skipped", p->pairs_skipped);
    ds_json_real(j, "skipped_mass_bound", p->mass_max);
    ds_json_real(j, "relative_change_bound", p->change_max);
    ds_json_real(j, "flops", p->flops);
    ds_json_real(j, "flops_dense", p->flops_dense);
    ds_json_end(j);
}

// run.json: the configuration, the model, the backend and the timings of this run.
static int write_run_json(const sample_args *a, int argc, char **argv, const cli_opt *opts,
                          int n_opts, const ds_model *m, const ds_backend *b,
                          const sample_output *o, const ds_sample_result *r, ds_run_times t) {
    char device[256], path[DS_PATH_MAX + 32];
    ds_device_name(b->name, device, sizeof device);
    ds_run_info info = {.command = "sample",
                        .argc = argc,
                        .argv = argv,
                        .opts = opts,
                        .n_opts = n_opts,
                        .model_path = a->model_dir ? a->model_dir : a->data_path,
                        .model = m,
                        .backend = b->name,
                        .device = device,
                        .seed = a->cfg.seed,
                        .n_samples = a->cfg.n,
                        .batch = a->cfg.batch,
                        .batches_resumed = o->res.batches_done,
                        .samples_resumed = o->res.samples_done,
                        .nfe = r->nfe,
                        .sigmas = r->sigmas,
                        .n_sigmas = r->n_sigmas,
                        .times = t,
                        .extra = run_json_extra,
                        .extra_user = (void *)r};
    snprintf(path, sizeof path, "%s/run.json", a->out);
    return ds_run_json_write(path, &info);
}

static int compare_desc(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

// The p-quantile (from the top: 1 is the largest) of the landed samples' sigmas.
static double landing_quantile(const ds_sample_result *r, double p) {
    if (r->landed < 1) return 0;
    double *s = ds_try_alloc((size_t)r->landed, sizeof(double), "landing report");
    if (!s) return NAN; // a figure of the report line only
    int64_t n = 0;
    for (int64_t i = 0; i < r->n_samples; i++)
        if (r->landing_sigma[i] > 0) s[n++] = r->landing_sigma[i];
    qsort(s, (size_t)n, sizeof(double), compare_desc);
    double q = s[(int64_t)((1.0 - p) * (double)(n - 1) + 0.5)];
    free(s);
    return q;
}

static void report(const sample_args *a, const ds_sample_result *r, int64_t resumed) {
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
    if (r->landing)
        printf("landing: %lld of %lld samples landed (first at sigma %g, median %g); NFE per "
               "sample %.2f on average, %lld at most\n",
               (long long)r->landed, (long long)(c->n - resumed), landing_quantile(r, 1.0),
               landing_quantile(r, 0.5), r->nfe_mean, (long long)r->nfe);
    if (r->pruning) {
        const ds_prune_stats *p = &r->prune;
        printf("pruning: %lld of %lld training rows skipped over all evaluations (%.2f%%), %lld "
               "of %lld query evaluations pruned; skipped mass <= %.2g, change of D <= %.2g "
               "relative per evaluation; %.3g of %.3g dense flops\n",
               (long long)p->pairs_skipped, (long long)p->pairs,
               p->pairs ? 100.0 * (double)p->pairs_skipped / (double)p->pairs : 0.0,
               (long long)p->queries_pruned, (long long)p->queries, p->mass_max, p->change_max,
               p->flops, p->flops_dense);
    }
    printf("NFE: %lld per sample; time %.3f s (%.1f samples/s) -> %s\n", (long long)r->nfe,
           r->seconds, (double)(c->n - resumed) / r->seconds, a->out);
}

// ds_dist_agree until the ranks have agreed on a failure, which every rank then knows:
// from there each keeps its message.
static int agree(int rc, int *stopped) {
    if (*stopped) return rc;
    rc = ds_dist_agree(rc);
    *stopped = rc != 0;
    return rc;
}

static int64_t batch_count(const sample_args *a) {
    return (a->cfg.n + a->cfg.batch - 1) / a->cfg.batch;
}

// Collective: the batches this rank runs (skip: 0), those rank 0 found not done, and with
// sample sharding only every ranks-th of them (batch j on rank j mod ranks). *complete
// becomes rank 0's.
static int rank_batches(const sample_args *a, const sample_output *o, int rank, int ranks,
                        int *complete, uint8_t *skip) {
    int64_t n_batches = batch_count(a);
    if (rank == 0) memcpy(skip, o->res.done, (size_t)n_batches);
    DS_TRY(ds_dist_bcast(complete, sizeof *complete, 0));
    DS_TRY(ds_dist_bcast(skip, (size_t)n_batches, 0));
    for (int64_t j = 0; !a->shard_data && j < n_batches; j++)
        if (j % ranks != rank) skip[j] = 1;
    return 0;
}

// Collective: rank 0 learns how many batches all ranks committed, which decides whether a
// failed run's folder is kept (ds_resume_abandon). Returns rc, or -1 when MPI fails.
static int count_committed(sample_output *o, int rc) {
    int64_t committed = o->res.committed;
    int mpi = ds_dist_sum_i64(&committed, 1);
    if (ds_dist_rank() == 0) o->res.committed = committed;
    return rc ? rc : mpi;
}

int cli_sample(int argc, char **argv) {
    sample_args a = {.data_path = DS_DEFAULT_DATA,
                     .model_kind = "empirical",
                     .backend = "auto",
                     .out = "out/sample",
                     .k = 10,
                     .lower_order_final = 1,
                     .steps = 18,
                     .batch = 256,
                     .class_label = -1};
    ds_sample_config_default(&a.cfg);
    a.gits_teacher = a.cfg.schedule.gits.teacher_steps, a.gits_warmup = a.cfg.schedule.gits.warmup;
    ds_solver_opts *so = &a.cfg.solver;
    ds_schedule_opts *sc = &a.cfg.schedule;
    char samplers[256];
    ds_solver_names(samplers, sizeof samplers, ", ");
    cli_opt opts[] = {
        {"model-dir", CLI_STR, &a.model_dir, "model folder (from diffsamp prepare)"},
        {"data", CLI_STR, &a.data_path, "data set to fit the model to (without --model-dir)"},
        {"model", CLI_STR, &a.model_kind,
         "model kind to fit: empirical, gaussian, gmm, pca_locality, ls, els, pspc, nearest or "
         "smoothed"},
        {"k", CLI_INT, &a.k, "gmm: number of components"},
        {"class", CLI_INT, &a.class_label,
         "sample class K only (data with labels; -1: all rows): the empirical model of its "
         "rows, a gmm's components of class K (a folder prepared with --per-class or "
         "--gmm-from-labels; fitted: --k components on its rows), its own Gaussian"},
        {"sampler", CLI_STR, &so->solver, samplers},
        {"order", CLI_INT, &a.order, "solver order (0: the solver's default)"},
        {"lower-order-final", CLI_INT, &a.lower_order_final,
         "multistep solvers: lower the order on the final steps (1) or not (0)"},
        {"full-order", CLI_FLAG, &a.full_order,
         "dpmpp3m, lms: the corrected variant that keeps the nominal order (see README)"},
        {"variant", CLI_STR, &so->variant,
         "unipc: bh1 or bh2; ipndm_v: diff-sampler (what bh2 selects there) or exact "
         "(docs/compat.md); dpmpp2m_sde: midpoint (what bh2 selects there) or heun"},
        {"no-landing", CLI_FLAG, &a.cfg.no_landing,
         "empirical model: evaluate every row at every step (no certified landing)"},
        {"prune", CLI_FLAG, &a.prune,
         "empirical model: certified pruning, required (an error on a backend without it; "
         "cuda prunes only with it)"},
        {"no-prune", CLI_FLAG, &a.no_prune,
         "empirical model: no certified pruning (by default the cpu backend prunes where it "
         "pays)"},
        {"landing-eps", CLI_REAL, &a.cfg.landing_eps,
         "landing certificate: a row lands once its mass off the top training row is <= this"},
        {"afs", CLI_FLAG, &a.afs, "diff-sampler's analytical first step (saves one NFE)"},
        {"dynamic-threshold", CLI_FLAG, &a.dynamic_threshold,
         "diff-sampler's dynamic thresholding of D (dpmpp2m, dpmpp3m, unipc)"},
        {"deis-riemann", CLI_INT, &a.deis_riemann,
         "deis: N-point Riemann sum for the coefficients (10000: diff-sampler; 0: exact)"},
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
        {"gits-metric", CLI_STR, &sc->gits.metric, "gits: one-step cost, dev or l2"},
        {"gits-teacher", CLI_STR, &sc->gits.teacher, "gits: teacher solver"},
        {"n", CLI_INT, &a.n, "number of samples (0: 16, or all rows of --noise)"},
        {"batch", CLI_INT, &a.batch, "rows per batch"},
        {"seed", CLI_INT, &a.seed, "noise seed (sample i uses noise row i of the seed)"},
        {"noise", CLI_STR, &a.noise_path, "standard normal rows (.npy, N x d) instead of Philox"},
        {"s-churn", CLI_REAL, &so->s_churn, "euler, heun: EDM's churn S_churn (0: the ODE)"},
        {"s-tmin", CLI_REAL, &so->s_tmin, "euler, heun: churn only where sigma >= S_tmin"},
        {"s-tmax", CLI_REAL, &so->s_tmax, "euler, heun: churn only where sigma <= S_tmax"},
        {"s-noise", CLI_REAL, &so->s_noise,
         "churn, ancestral and SDE samplers: scale of the noise added"},
        {"eta", CLI_REAL, &so->eta,
         "euler_ancestral, dpmpp_sde, dpmpp2m_sde, dpmpp3m_sde: noise fraction (0: the ODE)"},
        {"r", CLI_REAL, &so->sde_r, "dpmpp_sde: the substep's fraction of the step"},
        {"step-noise", CLI_STR, &a.step_noise_path,
         "stochastic samplers: draws x N x d standard normals (.npy) instead of Philox, in "
         "k-diffusion's order (docs/compat.md)"},
        {"teleport-sigma", CLI_REAL, &a.cfg.teleport.sigma,
         "jump from sigma-max to this sigma with the Gaussian flow"},
        {"teleport-fraction", CLI_REAL, &a.cfg.teleport.fraction,
         "jump past this fraction of the schedule's steps"},
        {"teleport-model", CLI_STR, &a.teleport_model,
         "Gaussian model folder for teleporting (none: the model if Gaussian, else a fit)"},
        {"trajectory", CLI_STR, &a.trajectory,
         "write PREFIX_x.npy, PREFIX_denoised.npy and PREFIX_sigmas.npy"},
        {"backend", CLI_STR, &a.backend, "ref, cpu, cuda or auto"},
        {"out", CLI_STR, &a.out, "output folder (samples.npy, sigmas.txt, run.json, PNGs)"},
        {"no-npy", CLI_FLAG, &a.no_npy, "do not write samples.npy"},
        {"flat-npy", CLI_FLAG, &a.flat_npy,
         "samples.npy of images as (n, d) rows (otherwise their shape, (n, C, H, W))"},
        {"no-png", CLI_FLAG, &a.no_png, "no PNGs (per sample and grid.png) for image data"},
        {"resume", CLI_FLAG, &a.resume,
         "continue the interrupted run in --out (same options): finished batches are kept"},
        {"force", CLI_FLAG, &a.force,
         "replace what --out holds (the old folder goes once the new run is complete)"},
        {"quiet", CLI_FLAG, &a.quiet,
         "no progress on stderr (batches done, samples/s, denoised rows/s = rows x NFE per "
         "second, ETA)"},
        {"max-memory", CLI_STR, &a.max_memory,
         "memory the backend may use, e.g. 512M or 4G (none: the available host memory for "
         "cpu and ref); a smaller batch is planned to fit"},
        {"shard-data", CLI_FLAG, &a.shard_data,
         "under mpirun: split the training rows over the ranks, each sample on every rank "
         "(empirical, nearest, smoothed on cpu; empirical on ref); without it the batches are "
         "split"},
    };
    const int n_opts = sizeof opts / sizeof opts[0];
    int rc = cli_parse("sample",
                       "Sample with a solver of the probability-flow ODE or a stochastic sampler.",
                       argc, argv, opts, n_opts);
    if (rc) return rc > 0 ? 0 : cli_fail(2);
    // Under mpirun rank 0 reports on stdout; every rank reports its errors on stderr.
    int rank = ds_dist_rank(), ranks = ds_dist_size(), root = rank == 0;
    if (!root && !freopen("/dev/null", "w", stdout)) return cli_fail(1);
    int stopped = 0;
    int refused = check_model_kind(&a, cli_given(argc, argv, opts, n_opts, "model"));
    if (agree(refused || plan(&a), &stopped)) return cli_fail(2);
    if (root) warn_unused_options(argc, argv, opts, n_opts, so->solver);
    // From here a first SIGINT / SIGTERM stops the run between denoiser calls, never
    // inside a write: the folder keeps only whole batches (cli_interrupt.c).
    cli_interrupt_install();
    int teleporting = a.cfg.teleport.sigma > 0 || a.cfg.teleport.fraction > 0;
    double t0 = ds_seconds();
    ds_run_times t = {0};
    ds_data data = {0};
    ds_model model = {0}, gauss = {0};
    ds_backend *b = NULL;
    double *noise = NULL, *step_noise = NULL;
    ds_sample_result r = {0};
    sample_output o = {.r = &r};
    rc = load_models(&a, &data, &model, &gauss, teleporting);
    if (!rc && a.noise_path) rc = load_noise(a.noise_path, &a.cfg.n, model.d, &noise);
    if (!rc && a.cfg.n == 0) a.cfg.n = 16;
    if (!rc && a.step_noise_path)
        rc = load_step_noise(a.step_noise_path, a.cfg.n, model.d, &step_noise,
                             &a.cfg.step_noise_draws);
    a.cfg.step_noise = step_noise;
    if (a.cfg.batch > a.cfg.n) a.cfg.batch = a.cfg.n; // plan memory for the rows there are
    a.cfg.noise = noise;
    if (!rc && ranks > 1) rc = cli_pick_gpu(a.backend);
    if (!rc && !(b = ds_backend_new(a.backend))) rc = -1;
    t.load = ds_seconds() - t0;
    char config[16384];
    int batches = a.batches + ds_sample_landing_batches(&model, &a.cfg);
    if (!rc) rc = sample_plan_memory(&model, b, batches, a.max_memory_bytes, &a.cfg.batch);
    if (!rc && a.resume) rc = resume_batch(a.out, &a.cfg.batch);
    // Every rank has loaded and checked its inputs before any output exists; rank 0's
    // batch is every rank's (sample i depends on (seed, i) and on its batch's rows).
    rc = agree(rc, &stopped);
    if (!rc) rc = ds_dist_bcast(&a.cfg.batch, sizeof a.cfg.batch, 0);
    cli_replace replace = {0};
    if (!rc && root) rc = cli_replace_check("sample", a.out, a.force, a.resume);
    if (!rc && root) rc = cli_replace_begin(&replace, a.out, a.force);
    // The trajectory is written after the run and cannot be resumed: its folder first.
    if (!rc && root && a.trajectory) rc = ds_mkdirs_parent(a.trajectory);
    if (!rc) rc = output_config(&a, opts, n_opts, &model, b, config, sizeof config);
    o.png = model.height && !a.no_png;
    // Rank 0 opens the run; with sample sharding the others join it and write the shards
    // and PNGs of their batches; with data sharding only rank 0 writes.
    o.join = !root && !a.shard_data;
    if (!rc && root)
        rc = sample_output_open(&o, a.out, config, &model, b, a.cfg.n, a.cfg.batch, a.resume,
                                a.quiet, !a.no_npy);
    rc = agree(rc, &stopped);
    if (!rc && o.join)
        rc = sample_output_open(&o, a.out, config, &model, b, a.cfg.n, a.cfg.batch, a.resume,
                                a.quiet, !a.no_npy);
    uint8_t *skip = rc ? NULL : ds_try_alloc((size_t)batch_count(&a), 1, "sample: batches");
    if (!skip) rc = -1;
    rc = agree(rc, &stopped);
    int complete = o.res.complete;
    if (!rc) rc = rank_batches(&a, &o, rank, ranks, &complete, skip);
    t.prepare = ds_seconds() - t0 - t.load;
    int run = !rc && !complete;
    if (!rc && !run) printf("sample: %s holds this run, complete; nothing to do\n", a.out);
    if (run) {
        const ds_model *g = gauss.d ? &gauss : &model;
        a.cfg.skip = skip;
        a.cfg.cancel = cli_interrupted;
        ds_batch_done done = o.open ? sample_output_batch : NULL;
        rc = ds_sample_run(b, &model, teleporting ? g : NULL, &a.cfg, done, &o, &r);
        if (o.open) ds_progress_finish(&o.prog);
        rc = agree(rc, &stopped);
    }
    int ran = run && !rc; // the same on every rank
    if (ran && ranks > 1 && !a.shard_data) rc = ds_sample_result_merge(&r);
    if (run && ranks > 1) rc = count_committed(&o, rc);
    t.sample = r.seconds - o.write_seconds;
    double t_write = ds_seconds();
    if (ran && root) ds_resume_rescan(&o.res); // the other ranks' batches
    if (ran && root && !rc) rc = write_outputs(&a, &model, &o, &r);
    t.write = o.write_seconds + ds_seconds() - t_write;
    t.total = ds_seconds() - t0;
    if (ran && root && !rc) rc = write_run_json(&a, argc, argv, opts, n_opts, &model, b, &o, &r, t);
    if (ran && root && !rc) rc = ds_resume_finish(&o.res);
    if (ran && root && !rc) report(&a, &r, o.res.samples_done);
    if (ran) rc = agree(rc, &stopped);
    int sig = rc ? cli_interrupt_signal() : 0, status = rc && !sig ? cli_fail(1) : 0;
    if (sig) {
        fprintf(stderr,
                "diffsamp: sample stopped by %s after %lld of %lld batches; %s holds no partial "
                "batch; run the same command with --resume to continue\n",
                sig == SIGINT ? "SIGINT" : "SIGTERM",
                (long long)(o.res.batches_done + o.res.committed), (long long)o.res.n_batches,
                a.out);
        status = 128 + sig;
    }
    sample_output_close(&o, rc != 0);
    cli_replace_end(&replace, rc != 0);
    free(skip);
    ds_sample_result_free(&r);
    free(noise);
    free(step_noise);
    ds_backend_free(b);
    ds_model_free(&gauss);
    ds_model_free(&model);
    ds_data_free(&data);
    return status;
}
