// What the diffsamp analyze subcommands share (cli_analyze_common.c): reading rows and
// recorded trajectories, writing tables, and the options of the analyses that sample a
// model themselves (the model, the backend, the seed, the sampler, --out).
#ifndef DS_CLI_ANALYZE_H
#define DS_CLI_ANALYZE_H

#include <stdint.h>

#include "cli.h"
#include "ds_analysis.h"
#include "ds_io.h"
#include "ds_model.h"
#include "ds_sample.h"

#define ANALYZE_STATS_HEADER "metric,n,mean,q05,q25,q50,q75,q95,max"
// What an analysis returns for a command line it refused (exit status 2).
#define ANALYZE_PARSE_ERROR (-2)

// Reads a .npy as doubles (uint8 mapped to [-1, 1] as for data sets); shape in *a.
// finite_only: NaN or Inf is an error; else such values are kept (diverged samples).
int analyze_load_f64(const char *path, int finite_only, ds_array *a);
// Rows of a .npy file (N x prod(other dims)) or of a folder of PNGs as doubles, of
// dimension d (0: any); rows holding NaN or Inf are kept.
int analyze_load_rows(const char *path, int64_t d, double **x, int64_t *n, int64_t *d_out);
// -1 with "command: --option is required" when value is NULL.
int analyze_need(const char *command, const char *option, const char *value);
// "dir/name" into buf, creating dir.
int analyze_out_path(char *buf, size_t size, const char *dir, const char *name);
// Prints a table and writes it (atomically) as dir/name.
int analyze_emit(const ds_table *t, const char *dir, const char *name);
void analyze_add_stats_row(ds_table *t, const char *metric, const ds_stats *s);

// A recorded trajectory: PREFIX_x.npy and PREFIX_denoised.npy (points x samples x d) and
// PREFIX_sigmas.npy (points).
typedef struct {
    ds_array x, denoised, sigmas;
} analyze_trajectory_files;
int analyze_load_trajectory(const char *prefix, analyze_trajectory_files *f, ds_traj_view *t);
void analyze_trajectory_files_free(analyze_trajectory_files *f);

// The common options of an analysis over a model: the model folder or a kind fitted to
// --data, the backend, the seed, --out; and, for those that sample, the run.
typedef struct {
    const char *model_dir, *data_path, *model_kind, *backend, *out;
    int64_t k, seed;
    const char *sampler, *schedule;
    int64_t steps, n, batch;
    double sigma_min, sigma_max;
    int no_final_zero;
} analyze_opts;

void analyze_opts_default(analyze_opts *o, const char *out);
#define ANALYZE_MODEL_OPTS(o)                                                                      \
    {"model-dir", CLI_STR, &(o).model_dir, "model folder (from diffsamp prepare)"},                \
        {"data", CLI_STR, &(o).data_path,                                                          \
         "training data (the model is fitted to it without --model-dir; the data of a folder "     \
         "that records none)"},                                                                    \
        {"model", CLI_STR, &(o).model_kind,                                                        \
         "model kind to fit without --model-dir: empirical, gaussian, gmm, pca_locality, ls, "     \
         "nearest or smoothed"},                                                                   \
        {"k", CLI_INT, &(o).k, "gmm: number of components"},                                       \
        {"backend", CLI_STR, &(o).backend, "ref, cpu, cuda or auto"},                              \
        {"seed", CLI_INT, &(o).seed, "noise seed (sample i uses noise row i; also k-means++)"}, {  \
        "out", CLI_STR, &(o).out, "folder for the CSV files"                                       \
    }
#define ANALYZE_SAMPLING_OPTS(o)                                                                   \
    {"sampler", CLI_STR, &(o).sampler, "deterministic solver (see diffsamp sample --help)"},       \
        {"schedule", CLI_STR, &(o).schedule, "edm, logsnr or vp"},                                 \
        {"steps", CLI_INT, &(o).steps, "number of steps (see --no-final-zero)"},                   \
        {"sigma-min", CLI_REAL, &(o).sigma_min, "smallest positive sigma"},                        \
        {"sigma-max", CLI_REAL, &(o).sigma_max, "starting sigma"},                                 \
        {"no-final-zero", CLI_FLAG, &(o).no_final_zero, "stop at sigma-min (no last step to 0)"},  \
        {"n", CLI_INT, &(o).n, "number of samples"}, {                                             \
        "batch", CLI_INT, &(o).batch, "rows per batch"                                             \
    }

// The options' own checks and the run they describe, planned before anything is loaded
// (ds_sample_plan_make: sampler and schedule names, the schedule): 0 or -1 recorded.
int analyze_sample_config(const char *command, const analyze_opts *o, ds_sample_config *c);
// The model (with fit: the folder --model-dir or --model fitted to --data; without:
// only the folder when given) and its training data *train: the model's own rows, the
// data its model.txt records, or --data (loaded into data).
int analyze_model_load(const char *command, const analyze_opts *o, int fit, ds_data *data,
                       ds_model *m, const ds_data **train);

// The analyses in files of their own.
int cli_analyze_emergence(int argc, char **argv);
int cli_analyze_perturbation(int argc, char **argv);
int cli_analyze_noether(int argc, char **argv); // cli_analyze_noether.c

#endif
