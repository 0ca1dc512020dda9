// The batched output of diffsamp sample.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "cli_sample_batch.h"
#include "ds_error.h"
#include "mem_plan.h"

// Batch-sized vectors a solver keeps at once (the multistep solvers' history included).
#define SOLVER_BUFFERS 8
// Certified landing's compact batches (live queries, their denoised rows, the landed
// rows' training rows): the empirical model lands unless --no-landing.
#define LANDING_BUFFERS 3

int sample_plan_memory(const ds_model *m, const ds_backend *b, uint64_t max_memory,
                       int64_t *batch) {
    ds_mem_request req = {.batch = *batch,
                          .elem_bytes = b->f64 ? 8 : 4,
                          .with_source_rows = strcmp(b->name, "cuda") != 0,
                          .batch_buffers = SOLVER_BUFFERS +
                                           (m->kind == DS_MODEL_EMPIRICAL ? LANDING_BUFFERS : 0),
                          .limit = max_memory,
                          .limit_what = "--max-memory"};
    if (!max_memory && strcmp(b->name, "cuda") != 0)
        req.limit = ds_host_memory_available(), req.limit_what = "the available host memory";
    ds_mem_plan p;
    DS_TRY(ds_mem_plan_make(m, &req, &p));
    if (p.batch < *batch) {
        char total[32];
        ds_format_bytes(p.total_bytes, total, sizeof total);
        printf("memory: batch %lld -> %lld rows to fit %s (%s planned)\n", (long long)*batch,
               (long long)p.batch, req.limit_what, total);
    }
    *batch = p.batch;
    return 0;
}

// Free bytes on the file system of path, or of its nearest existing parent; -1 if unknown.
static double disk_free(const char *path) {
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
    return (double)fs.f_bavail * (double)fs.f_frsize;
}

// Refuses a run whose outputs would not fit on the disk of `out`: the shards of the `todo`
// rows still to do, samples.npy of all n, and the PNGs at most their raw pixels plus 1 KiB
// each.
static int check_disk(const char *out, const ds_model *m, int elem_bytes, int64_t todo, int64_t n,
                      int with_npy, int with_png) {
    double avail = disk_free(out), row = (double)m->d * elem_bytes;
    double need = (double)todo * row + (with_npy ? (double)n * row : 0) +
                  (with_png ? (double)todo * ((double)m->d + 1024) : 0);
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
    // A new run is checked before its folder exists; a resumed one for what is left.
    if (!resume) DS_TRY(check_disk(out, m, elem, n, n, with_npy, o->png));
    o->out = out, o->m = m, o->open = 1;
    DS_TRY(ds_resume_open(&o->res, out, config, n, batch, m->d, b->f64 ? DS_F64 : DS_F32, resume));
    if (resume && !o->res.complete)
        DS_TRY(check_disk(out, m, elem, n - o->res.samples_done, n, with_npy, o->png));
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
    double *x = ds_alloc((size_t)values, sizeof(double));
    for (int64_t i = 0; i < values; i++)
        x[i] =
            all->dtype == DS_F64 ? ((const double *)all->data)[i] : ((const float *)all->data)[i];
    return x;
}

void sample_output_close(sample_output *o, int failed) {
    if (o->open && failed) ds_resume_abandon(&o->res);
    if (o->open) ds_resume_close(&o->res);
    o->open = 0;
}
