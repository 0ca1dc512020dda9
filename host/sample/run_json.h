// run.json: a record of a sampling run (configuration, model, backend, timings,
// version) sufficient to reproduce it, written with a small streaming JSON writer.
#ifndef DS_RUN_JSON_H
#define DS_RUN_JSON_H

#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "ds_model.h"

#define DS_JSON_MAX_DEPTH 16

// Writes indented JSON to a stream. Every value takes a key, which must be NULL inside
// arrays and for the root object.
typedef struct {
    FILE *f;
    int depth;
    int64_t count[DS_JSON_MAX_DEPTH + 1]; // values written so far at each depth
    char close[DS_JSON_MAX_DEPTH + 1];    // '}' or ']' for each open level
    int ok;                               // 0 after misuse (a key in an array, ...)
} ds_json;

void ds_json_init(ds_json *j, FILE *f);
void ds_json_object(ds_json *j, const char *key);
void ds_json_array(ds_json *j, const char *key);
// Closes the innermost object or array.
void ds_json_end(ds_json *j);
void ds_json_str(ds_json *j, const char *key, const char *v); // NULL writes null
void ds_json_int(ds_json *j, const char *key, int64_t v);
void ds_json_u64(ds_json *j, const char *key, uint64_t v);
void ds_json_real(ds_json *j, const char *key, double v); // non-finite writes null
void ds_json_bool(ds_json *j, const char *key, int v);
// A string literal with quotes, escaping '"', '\\' and control characters.
void ds_json_escape(FILE *f, const char *s);

// Wall time of the phases of a run, in seconds.
typedef struct {
    double load, prepare, sample, write, total;
} ds_run_times;

typedef struct {
    const char *command;     // e.g. "sample"
    int argc;                // the command line as given (argv[0] is the command)
    char **argv;             //
    const cli_opt *opts;     // every option of the command with its final value
    int n_opts;              //
    const char *model_path;  // model folder or data file
    const ds_model *model;   // kind, shape and training-data provenance (may be NULL)
    const char *backend;     // backend that ran (after resolving "auto")
    const char *device;      // device name
    uint64_t seed;           //
    int64_t n_samples;       //
    int64_t batch;           // rows per batch
    int64_t batches_resumed; // batches found complete on --resume
    int64_t samples_resumed; // the samples of those batches (not in samples/s)
    int64_t nfe;             // denoiser evaluations per sample
    const double *sigmas;    // the time schedule walked (n_sigmas values), or NULL
    int n_sigmas;            //
    ds_run_times times;      //
    // Optional: adds command-specific fields to the root object.
    void (*extra)(ds_json *j, void *user);
    void *extra_user;
} ds_run_info;

// Writes run.json atomically.
int ds_run_json_write(const char *path, const ds_run_info *r);
// A short name of the device a backend runs on: the CUDA device, or the CPU model.
void ds_device_name(const char *backend, char *buf, size_t size);

#endif
