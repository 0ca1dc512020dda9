// The batched output of diffsamp sample: the memory plan, then per batch its PNGs (EDM
// layout) and a resumable shard, with progress on stderr.
#ifndef DS_CLI_SAMPLE_BATCH_H
#define DS_CLI_SAMPLE_BATCH_H

#include <stdint.h>

#include "ds_sample.h"
#include "progress.h"
#include "resume.h"

typedef struct {
    const char *out;
    const ds_model *m;
    ds_resume res;
    ds_progress prog;
    const ds_sample_result *r; // the run's result: denoiser calls so far
    int64_t calls_seen;
    double write_seconds; // spent writing batches
    int png;              // write a PNG per sample (image data without --no-png)
    int join;             // join the run rank 0 opened (ds_resume_join) instead of opening it
    int open;
} sample_output;

// The largest batch up to *batch that fits max_memory (0: what the backend's memory entry
// says it has: the host's available memory on cpu and ref, no limit on cuda, which fits
// its workspace itself), with `batches` batches kept by the solver; sets m->stream_rows
// when the plan streams the rows; -1 with the bytes needed when not even one row fits.
int sample_plan_memory(ds_model *m, ds_backend *b, int batches, uint64_t max_memory,
                       int64_t *batch);
// Opens the output folder for n samples in batches of `batch` (see ds_resume_open); a
// run whose outputs would not fit on that disk is refused with the bytes it needs. Set
// o->png and o->join before; a joining rank checks no disk and shows no progress.
int sample_output_open(sample_output *o, const char *out, const char *config, const ds_model *m,
                       const ds_backend *b, int64_t n, int64_t batch, int resume, int quiet,
                       int with_npy);
// The ds_batch_done callback (user = the sample_output): PNGs, shard, progress.
int sample_output_batch(void *user, int64_t first_row, int64_t rows, const double *x);
// The first `count` samples of the finished run as host doubles (count x d), from all;
// NULL when memory runs out (recorded).
double *sample_output_rows(const ds_array *all, int64_t count);
// Closes the output; after a failure, a run without a finished batch is removed (see
// ds_resume_abandon).
void sample_output_close(sample_output *o, int failed);

#endif
