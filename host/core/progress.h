// Progress of a long sampling run on stderr: batches done, samples/s, denoised rows/s
// (rows x NFE: the denoiser's work, whatever the batch size), ETA.
// A terminal gets one line redrawn in place; a pipe or file gets a plain line at most
// every few seconds (and a last one at the end); quiet mode prints nothing.
#ifndef DS_PROGRESS_H
#define DS_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

typedef struct {
    FILE *f;
    int tty, quiet;
    const char *label;
    int64_t samples_total, batches_total;
    int64_t samples_done, batches_done;
    int64_t samples_skipped; // resumed, not computed here: excluded from the rates
    int64_t row_evals_done;  // rows x denoiser calls, computed here
    double t_start, t_last_print;
    double interval; // seconds between redraws (terminal) or lines (otherwise)
} ds_progress;

// Monotonic clock in seconds.
double ds_seconds(void);

void ds_progress_start(ds_progress *p, FILE *f, const char *label, int64_t samples_total,
                       int64_t batches_total, int quiet);
// Batches found complete on resume: counted as done, not in the rates.
void ds_progress_skip(ds_progress *p, int64_t samples, int64_t batches);
// One batch of `samples` rows finished with `nfe` denoiser calls on the batch.
void ds_progress_batch(ds_progress *p, int64_t samples, int64_t nfe);
void ds_progress_batch_at(ds_progress *p, int64_t samples, int64_t nfe, double now);
// Prints the final line (and ends the redrawn line on a terminal).
void ds_progress_finish(ds_progress *p);
void ds_progress_finish_at(ds_progress *p, double now);
// The status line at time `now`, without a newline.
void ds_progress_format(const ds_progress *p, double now, char *buf, size_t size);

#endif
