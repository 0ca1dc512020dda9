// Command-line helpers shared by the subcommands: option tables, parsing, help.
#ifndef DS_CLI_H
#define DS_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "ds_data.h"
#include "ds_io.h"
#include "ds_model.h"

typedef enum { CLI_STR, CLI_INT, CLI_REAL, CLI_FLAG } cli_type;

typedef struct {
    const char *name; // without the leading "--"
    cli_type type;
    void *value; // const char **, int64_t *, double *, int *
    const char *help;
} cli_opt;

// Parses argv[1..] against the table; values not given keep their (default) values,
// which --help prints. Returns 0, 1 when --help was printed, -1 on a bad option
// (message already recorded with ds_fail).
int cli_parse(const char *command, const char *summary, int argc, char **argv, const cli_opt *opts,
              int n_opts);

// Whether --name was given on a command line that cli_parse accepted with these options.
int cli_given(int argc, char **argv, const cli_opt *opts, int n_opts, const char *name);
// Range checks after parsing: 0, or -1 with "command: --name must be ..." recorded.
int cli_check_int(const char *command, const char *name, int64_t v, int64_t min, int64_t max);
int cli_check_real(const char *command, const char *name, double v, double min, double max);
// Prints the recorded error as "diffsamp: <message>" and returns status.
int cli_fail(int status);

// An --out folder made before a command's work (cli_out_dir.c): cli_out_dir_abandon,
// called when the command fails, removes the folders cli_out_dir_make created (path
// must stay valid), deepest first and only while empty.
typedef struct {
    const char *path;
    size_t made; // length of the first missing prefix of path; 0: none was missing
} cli_out_dir;
int cli_out_dir_make(cli_out_dir *o, const char *path);
void cli_out_dir_abandon(const cli_out_dir *o);

// --force / --resume for the --out folder of prepare and sample (cli_replace.c).
// cli_replace_check, before the work: a folder that holds a sample run or a model is
// refused unless --force is given (or --resume, for a sample run there). cli_replace_begin, once
// everything the command needs is loaded, moves the old folder aside under --force; cli_replace_end
// removes it when the command succeeded, or puts it back when it failed.
typedef struct {
    const char *out;
    char aside[DS_PATH_MAX + 32];
    int moved;
} cli_replace;
int cli_replace_check(const char *command, const char *out, int force, int resume);
int cli_replace_begin(cli_replace *r, const char *out, int force);
void cli_replace_end(cli_replace *r, int failed);

// ds_data_load for a command, saying on stderr when an (N, H, W, C) array was read
// channels last (cli_data.c).
int cli_data_load(const char *command, const char *path, ds_data *out);
// --pca-k for a PCA of train: k when given (> 0), else 64, or d when d < 64 (said on
// stderr).
int64_t cli_pca_k(const char *command, int64_t k, const ds_data *train);

// Under mpirun with a backend that may be cuda (cuda, auto): the GPU of local rank r is
// device r mod the device count, so the ranks of a host share its GPUs (cli_ranks.c).
int cli_pick_gpu(const char *backend);

// A sweep's ground truth kept in OUT/truth under its key (cli_truth_cache.c): load gives 1
// and the rows (n x d), the NFE and seconds of the run that made them, and the rows' path,
// when a truth with exactly this key is there, else 0; save stores them.
int cli_truth_load(const char *out, const char *key, double *rows, int64_t n, int64_t d,
                   int64_t *nfe, double *seconds, char *path, size_t path_size);
int cli_truth_save(const char *out, const char *key, const double *rows, int64_t n, int64_t d,
                   int64_t nfe, double seconds);

// The size and checksum of a data file (ds_data_fingerprint), read once for its models.
typedef struct {
    int64_t bytes;
    uint64_t checksum;
} cli_data_id;
// The model of `kind` fitted to data with fo, from the folder dir when it holds that fit
// (a data file with id's size and checksum; fo's k for a mixture), else fitted and saved
// there; one line on stdout says which (cli_model_cache.c).
int cli_fit_cached(const char *command, const char *dir, const ds_data *data, const cli_data_id *id,
                   ds_model_kind kind, const ds_fit_opts *fo, ds_model *m);

// SIGINT / SIGTERM during a run (cli_interrupt.c): install records the first signal (a
// second one ends the process) until the process exits, so that a signal arriving after
// the run completed leaves status 0 and every output. cli_interrupted is a ds_cancel_fn:
// 1 once a signal came; cli_interrupt_signal says which (0: none).
void cli_interrupt_install(void);
int cli_interrupted(void *user);
int cli_interrupt_signal(void);

// Subcommands: each returns the process exit status.
int cli_grid(int argc, char **argv);
int cli_info(int argc, char **argv);
int cli_prepare(int argc, char **argv);
int cli_denoise(int argc, char **argv);
int cli_sample(int argc, char **argv);
int cli_demo(int argc, char **argv);
int cli_analyze(int argc, char **argv);
int cli_sweep(int argc, char **argv);

#endif
