// Progress reporting for sampling runs.
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

double ds_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void ds_progress_start(ds_progress *p, FILE *f, const char *label, int64_t samples_total,
                       int64_t batches_total, int quiet) {
    memset(p, 0, sizeof *p);
    p->f = f;
    p->tty = isatty(fileno(f));
    p->quiet = quiet;
    p->label = label;
    p->samples_total = samples_total;
    p->batches_total = batches_total;
    p->t_start = ds_seconds();
    p->t_last_print = p->t_start;
    p->interval = p->tty ? 0.1 : 2.0;
}

void ds_progress_skip(ds_progress *p, int64_t samples, int64_t batches) {
    p->samples_done += samples;
    p->samples_skipped += samples;
    p->batches_done += batches;
}

static void format_duration(double s, char *buf, size_t size) {
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, size, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60)
        snprintf(buf, size, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(buf, size, "%lds", t);
}

void ds_progress_format(const ds_progress *p, double now, char *buf, size_t size) {
    double elapsed = now - p->t_start;
    int64_t computed = p->samples_done - p->samples_skipped;
    double rate = elapsed > 0 ? (double)computed / elapsed : 0;
    double eval_rate = elapsed > 0 ? (double)p->row_evals_done / elapsed : 0;
    char eta[32] = "?", spent[32];
    if (p->samples_done >= p->samples_total)
        snprintf(eta, sizeof eta, "0s");
    else if (rate > 0)
        format_duration((double)(p->samples_total - p->samples_done) / rate, eta, sizeof eta);
    format_duration(elapsed, spent, sizeof spent);
    snprintf(
        buf, size,
        "%s: batch %lld/%lld, %lld/%lld samples, %.1f samples/s, %.1f denoised rows/s, elapsed %s, "
        "ETA %s",
        p->label, (long long)p->batches_done, (long long)p->batches_total,
        (long long)p->samples_done, (long long)p->samples_total, rate, eval_rate, spent, eta);
}

static void print_line(ds_progress *p, double now, int last) {
    char line[256];
    ds_progress_format(p, now, line, sizeof line);
    if (p->tty)
        fprintf(p->f, "\r%s\033[K%s", line, last ? "\n" : "");
    else
        fprintf(p->f, "%s\n", line);
    fflush(p->f);
    p->t_last_print = now;
}

void ds_progress_batch_at(ds_progress *p, int64_t samples, int64_t nfe, double now) {
    p->samples_done += samples;
    p->batches_done++;
    p->row_evals_done += samples * nfe; // each of the nfe calls denoises every row
    if (!p->quiet && now - p->t_last_print >= p->interval && p->batches_done < p->batches_total)
        print_line(p, now, 0);
}

void ds_progress_batch(ds_progress *p, int64_t samples, int64_t nfe) {
    ds_progress_batch_at(p, samples, nfe, ds_seconds());
}

void ds_progress_finish_at(ds_progress *p, double now) {
    if (!p->quiet) print_line(p, now, 1);
}

void ds_progress_finish(ds_progress *p) {
    ds_progress_finish_at(p, ds_seconds());
}
