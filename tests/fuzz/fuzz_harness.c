// Shared steps of the libFuzzer targets: scratch files, splitting, the properties checked.
#define _GNU_SOURCE // memmem, nftw
#include "fuzz_harness.h"

#include <float.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "ds_error.h"

static char scratch[512];

void fuzz_abort(const char *file, int line, const char *cond, const char *fmt, ...) {
    fprintf(stderr, "%s:%d: property violated: %s: ", file, line, cond);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    abort();
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag;
    if (ftw->level > 0) remove(path);
    return 0;
}

void fuzz_clear(void) {
    if (scratch[0]) nftw(scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void remove_scratch(void) {
    fuzz_clear();
    rmdir(scratch);
}

const char *fuzz_dir(void) {
    if (!scratch[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(scratch, sizeof scratch, "%s/diffsamp-fuzz-XXXXXX", base ? base : "/tmp");
        FUZZ_ASSERT(mkdtemp(scratch), "cannot make a scratch folder under %s", scratch);
        atexit(remove_scratch);
    }
    return scratch;
}

const char *fuzz_path(const char *name) {
    static char ring[16][1024];
    static int next;
    char *p = ring[next++ % 16];
    snprintf(p, sizeof ring[0], "%s/%s", fuzz_dir(), name);
    return p;
}

static void make_parent(const char *path) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + strlen(fuzz_dir()) + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        mkdir(dir, 0777);
        *p = '/';
    }
}

const char *fuzz_write(const char *name, const void *data, size_t n) {
    const char *path = fuzz_path(name);
    make_parent(path);
    FILE *f = fopen(path, "wb");
    FUZZ_ASSERT(f, "cannot write %s", path);
    FUZZ_ASSERT(n == 0 || fwrite(data, 1, n, f) == n, "cannot write %s", path);
    FUZZ_ASSERT(fclose(f) == 0, "cannot write %s", path);
    return path;
}

const char *fuzz_write_gz(const char *name, const void *data, size_t n) {
    const char *path = fuzz_path(name);
    make_parent(path);
    gzFile f = gzopen(path, "wb1");
    FUZZ_ASSERT(f, "cannot write %s", path);
    FUZZ_ASSERT(n == 0 || gzwrite(f, data, (unsigned)n) == (int)n, "cannot write %s", path);
    FUZZ_ASSERT(gzclose(f) == Z_OK, "cannot write %s", path);
    return path;
}

int fuzz_split(const uint8_t *data, size_t size, fuzz_part *parts, int max) {
    int n = 0;
    const size_t sep = strlen(FUZZ_SEP);
    while (n + 1 < max) {
        const uint8_t *at = memmem(data, size, FUZZ_SEP, sep);
        if (!at) break;
        parts[n++] = (fuzz_part){data, (size_t)(at - data)};
        size -= (size_t)(at - data) + sep;
        data = at + sep;
    }
    parts[n++] = (fuzz_part){data, size};
    return n;
}

void fuzz_check_refusal(const char *names) {
    const char *msg = ds_error();
    if (getenv("FUZZ_SHOW")) fprintf(stderr, "refused: %s\n", msg); // to check the seeds
    FUZZ_ASSERT(msg[0], "refused without a message");
    FUZZ_ASSERT(!strchr(msg, '\n'), "message of more than one line: %s", msg);
    FUZZ_ASSERT(strstr(msg, names), "message does not name %s: %s", names, msg);
}

void fuzz_check_data(int rc, const ds_data *d, const char *names) {
    FUZZ_ASSERT(rc == 0 || rc == -1, "returned %d", rc);
    if (rc) {
        fuzz_check_refusal(names);
        FUZZ_ASSERT(!d->values && !d->labels && d->n == 0 && d->d == 0,
                    "refused but left %lld rows", (long long)d->n);
        return;
    }
    FUZZ_ASSERT(d->n >= 1 && d->d >= 1 && d->values, "accepted %lld x %lld rows", (long long)d->n,
                (long long)d->d);
    int64_t pixels = (int64_t)d->channels * d->height * d->width;
    FUZZ_ASSERT(pixels == 0 || pixels == d->d, "image shape %dx%dx%d but d = %lld", d->channels,
                d->height, d->width, (long long)d->d);
    for (int64_t i = 0; i < d->n; i++)
        for (int64_t j = 0; j < d->d; j++) {
            double v = ds_data_value(d, i, j);
            FUZZ_ASSERT(isfinite(v) && fabs(v) <= FLT_MAX, "value (%lld, %lld) is %g", (long long)i,
                        (long long)j, v);
            FUZZ_ASSERT(d->dtype != DS_U8 || fabs(v) <= 1, "pixel value (%lld, %lld) is %g",
                        (long long)i, (long long)j, v);
        }
    for (int64_t i = 0; d->labels && i < d->n; i++)
        FUZZ_ASSERT(d->labels[i] >= 0 && d->labels[i] <= 255, "label %lld is %d", (long long)i,
                    d->labels[i]);
}
