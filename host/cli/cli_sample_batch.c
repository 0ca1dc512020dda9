// The batched output of diffsamp sample.
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "bytes.h"
#include "cli_sample_batch.h"
#include "ds_error.h"
#include "mem_plan.h"

int sample_plan_memory(ds_model *m, ds_backend *b, int batches, uint64_t max_memory,
                       int64_t *batch) {
    ds_mem_request req = {
        .batch = *batch, .batches = batches, .limit = max_memory, .limit_what = "--max-memory"};
    ds_mem_plan p;
    DS_TRY(ds_mem_plan_make(b, m, &req, &p));
    m->stream_rows = p.stream_rows;
    if (p.stream_rows)
        printf("memory: the training rows are converted chunk by chunk at each call to fit "
               "%s\n",
               p.limit_what);
    if (p.batch < *batch) {
        char total[32];
        ds_format_bytes(p.total_bytes, total, sizeof total);
        printf("memory: batch %lld -> %lld rows to fit %s (%s planned)\n", (long long)*batch,
               (long long)p.batch, p.limit_what, total);
    }
    *batch = p.batch;
    return 0;
}

// Free bytes on the file system of path, or of its nearest existing parent, and its block
// size; -1 if unknown.
static double disk_free(const char *path, double *block) {
    char p[DS_PATH_MAX];
    snprintf(p, sizeof p, "%s", path);
    struct statvfs fs;
    while (statvfs(p, &fs) != 0) {
        char *slash = strrchr(p, '/');
        if (errno != ENOENT || !strcmp(p, ".")) return -1;
        if (slash && slash > p)
            *slash = '\0';
        else
            snprintf(p, sizeof p, "%s", slash ? "/" : ".");
    }
    *block = (double)fs.f_frsize;
    return (double)fs.f_bavail * (double)fs.f_frsize;
}

// Room kept besides the counted files: run.json, config.txt, the lock, folders' own
// blocks, and what other programs write meanwhile.
#define DISK_MARGIN_BYTES (16.0 * 1048576)
#define DISK_MARGIN_FRACTION 0.02
#define NPY_HEADER_BYTES 128

// Disk for `files` files of `bytes` each, in whole blocks.
static double files_on_disk(double files, double bytes, double block) {
    return files * (double)ds_disk_bytes((uint64_t)bytes, (uint64_t)block);
}

// Refuses a run whose outputs would not fit on the disk of `out`, counting each file in
// whole blocks: the shards of the `todo` rows still to do, samples.npy of all n, and the
// PNGs at most their raw pixels plus 1 KiB each; plus a margin.
static int check_disk(const char *out, const ds_model *m, int elem_bytes, int64_t todo, int64_t n,
                      int64_t batch, int with_npy, int with_png) {
    double block = 1, avail = disk_free(out, &block), row = (double)m->d * elem_bytes;
    double shards = ceil((double)todo / (double)batch);
    double need = files_on_disk(shards, (double)batch * row + NPY_HEADER_BYTES, block) +
                  (with_npy ? files_on_disk(1, (double)n * row + NPY_HEADER_BYTES, block) : 0) +
                  (with_png ? files_on_disk((double)todo, (double)m->d + 1024, block) : 0);
    need += DISK_MARGIN_BYTES + DISK_MARGIN_FRACTION * need;
    if (avail < 0 || need <= avail) return 0;
    char a[32], b[32];
    ds_format_bytes((uint64_t)fmin(need, 1e19), a, sizeof a);
    ds_format_bytes((uint64_t)avail, b, sizeof b);
    return ds_fail("%s: the run needs about %s of disk and %s is free (lower --n, %s%sor "
                   "choose another --out)",
                   out, a, b, with_npy ? "add --no-npy, " : "", with_png ? "add --no-png, " : "");
}

int sample_output_open(sample_output *o, const char *out, const char *config, const ds_model *m,
                       const ds_backend *b, int64_t n, int64_t batch, int resume, int quiet,
                       int with_npy) {
    int elem = b->f64 ? 8 : 4;
    ds_dtype dtype = b->f64 ? DS_F64 : DS_F32;
    o->out = out, o->m = m;
    if (o->join) {
        o->open = 1;
        DS_TRY(ds_resume_join(&o->res, out, n, batch, m->d, dtype));
        ds_progress_start(&o->prog, stderr, "sample", n, o->res.n_batches, 1);
        return 0;
    }
    // A new run is checked before its folder exists; a resumed one for what is left.
    if (!resume) DS_TRY(check_disk(out, m, elem, n, n, batch, with_npy, o->png));
    o->open = 1;
    DS_TRY(ds_resume_open(&o->res, out, config, n, batch, m->d, dtype, resume));
    if (resume && !o->res.complete)
        DS_TRY(check_disk(out, m, elem, n - o->res.samples_done, n, batch, with_npy, o->png));
    ds_progress_start(&o->prog, stderr, "sample", n, o->res.n_batches, quiet);
    ds_progress_skip(&o->prog, o->res.samples_done, o->res.batches_done);
    if (o->res.batches_done && !o->res.complete)
        printf("resume: %lld of %lld batches (%lld samples) done before, kept\n",
               (long long)o->res.batches_done, (long long)o->res.n_batches,
               (long long)o->res.samples_done);
    return 0;
}

int sample_output_batch(void *user, int64_t first_row, int64_t rows, const double *x) {
    sample_output *o = user;
    const ds_model *m = o->m;
    double t = ds_seconds();
    // For tests: a SIGINT that arrives as this batch's outputs are about to be written.
    const char *at = getenv("DIFFSAMP_TEST_SIGINT_AT_ROW");
    if (at && atoll(at) >= first_row && atoll(at) < first_row + rows) raise(SIGINT);
    if (o->png)
        DS_TRY(ds_png_write_samples(o->out, x, rows, first_row, m->channels, m->height, m->width));
    DS_TRY(ds_resume_commit(&o->res, first_row / o->res.batch, x));
    o->write_seconds += ds_seconds() - t;
    ds_progress_batch(&o->prog, rows, o->r->batch_calls - o->calls_seen);
    o->calls_seen = o->r->batch_calls;
    return 0;
}

double *sample_output_rows(const ds_array *all, int64_t count) {
    int64_t values = count * all->shape[1];
    double *x = ds_try_alloc((size_t)values, sizeof(double), "samples");
    for (int64_t i = 0; x && i < values; i++)
        x[i] =
            all->dtype == DS_F64 ? ((const double *)all->data)[i] : ((const float *)all->data)[i];
    return x;
}

void sample_output_close(sample_output *o, int failed) {
    if (o->open && failed) ds_resume_abandon(&o->res);
    if (o->open) ds_resume_close(&o->res);
    o->open = 0;
}
