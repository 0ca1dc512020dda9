// Resumable batched output: the run manifest, per-batch shards, final assembly.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ds_error.h"
#include "resume.h"

// Room for a file name after the run's folder.
#define PATH_SIZE (DS_PATH_MAX + 64)

static void work_path(const ds_resume *r, char *buf, const char *name) {
    snprintf(buf, PATH_SIZE, "%s/%s", r->work, name);
}

static void shard_path(const ds_resume *r, int64_t j, char *buf) {
    snprintf(buf, PATH_SIZE, "%s/batch-%06lld.npy", r->work, (long long)j);
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

// 1 for "name.tmp.PID", the temporary name of ds_atomic_open.
static int is_stale_tmp(const char *name) {
    const char *t = strstr(name, ".tmp.");
    if (!t || !t[5]) return 0;
    for (const char *p = t + 5; *p; p++)
        if (*p < '0' || *p > '9') return 0;
    return 1;
}

static int is_sample_folder(const char *name) {
    if (strlen(name) != 6) return 0;
    for (int i = 0; i < 6; i++)
        if (name[i] < '0' || name[i] > '9') return 0;
    return 1;
}

// Removes stale temporary files in dir and, with `recurse`, in its sample folders.
static void remove_stale_tmp(const char *dir, int recurse) {
    DIR *d = opendir(dir);
    if (!d) return;
    char path[DS_PATH_MAX + 512];
    for (struct dirent *e; (e = readdir(d));) {
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (is_stale_tmp(e->d_name))
            unlink(path);
        else if (recurse && is_sample_folder(e->d_name))
            remove_stale_tmp(path, 0);
    }
    closedir(d);
}

// *out: the whole of a small text file, or NULL when it does not exist. -1 when memory
// runs out (recorded).
static int read_text(const char *path, char **out) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t cap = 4096, len = 0;
    char *s = ds_try_alloc(cap, 1, path);
    for (size_t got; s && (got = fread(s + len, 1, cap - len - 1, f)) > 0;) {
        len += got;
        if (len + 1 < cap) continue;
        char *grown = realloc(s, cap *= 2);
        if (!grown) free(s), ds_fail("%s: out of memory reading it", path);
        s = grown; // NULL ends the loop
    }
    fclose(f);
    if (!s) return -1;
    s[len] = '\0';
    // A NUL byte would end the text early, and a config with anything after one would
    // compare equal (found by fuzzing): it becomes '?', which no config holds.
    for (size_t i = 0; i < len; i++)
        if (!s[i]) s[i] = '?';
    *out = s;
    return 0;
}

static int write_text(const char *path, const char *text) {
    ds_atomic_file af;
    DS_TRY(ds_atomic_open(&af, path));
    fputs(text, af.f);
    return ds_atomic_commit(&af);
}

int64_t ds_resume_stored_batch(const char *dir) {
    char path[PATH_SIZE];
    snprintf(path, sizeof path, "%s/.diffsamp-run/config.txt", dir);
    char *text;
    if (read_text(path, &text) || !text) return 0; // unreadable: no stored batch
    const char *line = strstr(text, "\nbatch-planned=");
    int64_t batch = line ? strtoll(line + 15, NULL, 10) : 0;
    free(text);
    return batch > 0 ? batch : 0;
}

// Calls fn(r, j, path) for every shard file batch-J.npy of the run's folder (one pass
// over the folder, however many batches the run has).
static void for_each_shard(ds_resume *r, void (*fn)(ds_resume *, int64_t, const char *)) {
    DIR *d = opendir(r->work);
    if (!d) return;
    char path[PATH_SIZE];
    for (struct dirent *e; (e = readdir(d));) {
        long long j;
        int end = 0;
        if (sscanf(e->d_name, "batch-%lld.npy%n", &j, &end) != 1 || e->d_name[end] || j < 0)
            continue;
        shard_path(r, j, path);
        if (!strcmp(strrchr(path, '/') + 1, e->d_name)) fn(r, j, path);
    }
    closedir(d);
}

static void remove_shard(ds_resume *r, int64_t j, const char *path) {
    (void)r, (void)j;
    unlink(path);
}

static void mark_shard(ds_resume *r, int64_t j, const char *path) {
    (void)path;
    if (j < r->n_batches) r->done[j] = 1;
}

// The first line where two configs differ, named for the message of a refused resume.
static int refuse_different(const char *dir, const char *old, const char *now) {
    while (*old && *now) {
        size_t lo = strcspn(old, "\n"), ln = strcspn(now, "\n");
        if (lo != ln || memcmp(old, now, lo) != 0) break;
        old += lo + (old[lo] != 0), now += ln + (now[ln] != 0);
    }
    int lo = (int)strcspn(old, "\n"), ln = (int)strcspn(now, "\n");
    return ds_fail("%s: cannot resume: the run there was started with different options "
                   "(it has '%.*s', this command gives '%.*s'); rerun with the same options "
                   "or choose another --out",
                   dir, lo, lo ? old : "(nothing)", ln, ln ? now : "(nothing)");
}

static int lock_run(ds_resume *r) {
    char path[PATH_SIZE];
    work_path(r, path, "lock");
    r->lock_fd = open(path, O_CREAT | O_RDWR, 0666);
    if (r->lock_fd < 0) return ds_fail("%s: cannot create: %s", path, strerror(errno));
    if (flock(r->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        close(r->lock_fd);
        r->lock_fd = -1;
        return ds_fail("%s: another diffsamp run is writing this folder", r->dir);
    }
    return 0;
}

// Reads the manifest of an existing run or writes the one of a new run.
static int check_or_write_config(ds_resume *r, const char *config, int resume) {
    char path[PATH_SIZE];
    work_path(r, path, "config.txt");
    char *old;
    DS_TRY(read_text(path, &old));
    if (!old) {
        for_each_shard(r, remove_shard); // orphans of an unrecorded run
        work_path(r, path, "complete");
        unlink(path);
        work_path(r, path, "config.txt");
        return write_text(path, config);
    }
    int rc = 0;
    if (!resume)
        rc = ds_fail("%s: holds a diffsamp run already; add --resume to continue it, --force "
                     "to replace it, or choose another --out",
                     r->dir);
    else if (strcmp(old, config) != 0)
        rc = refuse_different(r->dir, old, config);
    free(old);
    return rc;
}

// The run's shape and paths, before its folder is touched.
static int init_run(ds_resume *r, const char *dir, int64_t n, int64_t batch, int64_t d,
                    ds_dtype dtype) {
    memset(r, 0, sizeof *r);
    r->lock_fd = -1;
    if (n < 1 || batch < 1 || d < 1)
        return ds_fail("%s: bad run shape n=%lld batch=%lld d=%lld", dir, (long long)n,
                       (long long)batch, (long long)d);
    if (strlen(dir) + 32 >= sizeof r->dir) return ds_fail("%s: path too long", dir);
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    snprintf(r->work, sizeof r->work, "%s/.diffsamp-run", dir);
    r->n = n, r->batch = batch, r->d = d, r->dtype = dtype;
    r->n_batches = (n + batch - 1) / batch;
    return 0;
}

// The batches done: all when the run is complete, else those with a shard.
static int find_done(ds_resume *r) {
    char path[PATH_SIZE];
    work_path(r, path, "complete");
    r->complete = file_exists(path);
    r->done = ds_try_alloc((size_t)r->n_batches, 1, "resume");
    if (!r->done) return -1;
    if (r->complete)
        memset(r->done, 1, (size_t)r->n_batches);
    else
        for_each_shard(r, mark_shard);
    for (int64_t j = 0; j < r->n_batches; j++) {
        if (!r->done[j]) continue;
        int64_t first;
        r->batches_done++;
        r->samples_done += ds_resume_rows(r, j, &first);
    }
    return 0;
}

int ds_resume_open(ds_resume *r, const char *dir, const char *config, int64_t n, int64_t batch,
                   int64_t d, ds_dtype dtype, int resume) {
    DS_TRY(init_run(r, dir, n, batch, d, dtype));
    DS_TRY(ds_mkdirs(r->work));
    DS_TRY(lock_run(r));
    remove_stale_tmp(r->dir, 1);
    remove_stale_tmp(r->work, 0);
    if (check_or_write_config(r, config, resume) == 0 && find_done(r) == 0) return 0;
    ds_resume_close(r); // a refused run holds nothing: neither the lock nor its descriptor
    return -1;
}

int ds_resume_join(ds_resume *r, const char *dir, int64_t n, int64_t batch, int64_t d,
                   ds_dtype dtype) {
    DS_TRY(init_run(r, dir, n, batch, d, dtype));
    char path[PATH_SIZE];
    work_path(r, path, "config.txt");
    if (!file_exists(path)) return ds_fail("%s: no run to join (its config.txt is missing)", dir);
    r->joined = 1;
    return find_done(r);
}

void ds_resume_rescan(ds_resume *r) {
    if (!r->complete) for_each_shard(r, mark_shard);
}

int64_t ds_resume_rows(const ds_resume *r, int64_t j, int64_t *first) {
    *first = j * r->batch;
    int64_t rows = r->n - *first;
    return rows < r->batch ? rows : r->batch;
}

int ds_resume_commit(ds_resume *r, int64_t j, const double *x) {
    char path[PATH_SIZE];
    int64_t first, shape[2] = {ds_resume_rows(r, j, &first), r->d};
    shard_path(r, j, path);
    DS_TRY(ds_npy_write_f64(path, x, 2, shape, r->dtype));
    r->done[j] = 1;
    r->committed++;
    const char *die = getenv("DIFFSAMP_TEST_DIE_AFTER_BATCH");
    if (die && atoll(die) == j) raise(SIGKILL);
    return 0;
}

// Reads shard j, checking that it holds batch j of this run.
static int read_shard(const ds_resume *r, int64_t j, ds_array *a) {
    char path[PATH_SIZE];
    shard_path(r, j, path);
    DS_TRY(ds_npy_read(path, a));
    int64_t first, rows = ds_resume_rows(r, j, &first);
    if (a->dtype == r->dtype && a->ndim == 2 && a->shape[0] == rows && a->shape[1] == r->d)
        return 0;
    ds_array_free(a);
    return ds_fail("%s: holds a different shape or type than batch %lld of this run (expected "
                   "%lld x %lld)",
                   path, (long long)j, (long long)rows, (long long)r->d);
}

static int check_all_done(const ds_resume *r) {
    if (r->complete) return ds_fail("%s: the run is complete; its shards are gone", r->dir);
    for (int64_t j = 0; j < r->n_batches; j++)
        if (!r->done[j]) return ds_fail("%s: batch %lld is not done", r->dir, (long long)j);
    return 0;
}

int ds_resume_gather(const ds_resume *r, int64_t rows, ds_array *out) {
    memset(out, 0, sizeof *out);
    DS_TRY(check_all_done(r));
    if (rows > r->n) rows = r->n;
    size_t row_bytes = (size_t)r->d * ds_dtype_size(r->dtype);
    ds_array a = {.dtype = r->dtype, .ndim = 2, .shape = {rows, r->d}};
    a.data = ds_try_alloc((size_t)rows, row_bytes, "the run's samples");
    if (!a.data) return -1;
    for (int64_t j = 0; j * r->batch < rows; j++) {
        ds_array shard;
        if (read_shard(r, j, &shard) != 0) {
            free(a.data);
            return -1;
        }
        int64_t first = j * r->batch, take = shard.shape[0];
        if (take > rows - first) take = rows - first;
        memcpy((unsigned char *)a.data + (size_t)first * row_bytes, shard.data,
               (size_t)take * row_bytes);
        ds_array_free(&shard);
    }
    *out = a;
    return 0;
}

int ds_resume_write_npy(const ds_resume *r, const char *path, int row_ndim,
                        const int64_t *row_shape) {
    DS_TRY(check_all_done(r));
    ds_array all = {.dtype = r->dtype, .ndim = 2, .shape = {r->n, r->d}};
    if (row_ndim > 0) {
        int64_t count = 1;
        if (row_ndim >= DS_MAX_DIMS) return ds_fail("%s: too many dimensions", path);
        all.ndim = 1 + row_ndim;
        for (int i = 0; i < row_ndim; i++) count *= all.shape[1 + i] = row_shape[i];
        if (count != r->d)
            return ds_fail("%s: a row shape of %lld values for rows of %lld", path,
                           (long long)count, (long long)r->d);
    }
    ds_atomic_file af;
    DS_TRY(ds_atomic_open(&af, path));
    int rc = ds_npy_write_header(af.f, path, &all);
    for (int64_t j = 0; !rc && j < r->n_batches; j++) {
        ds_array shard;
        rc = read_shard(r, j, &shard);
        if (rc) break;
        size_t bytes = (size_t)ds_array_count(&shard) * ds_dtype_size(r->dtype);
        if (fwrite(shard.data, 1, bytes, af.f) != bytes)
            rc = ds_fail("%s: write failed: %s", path, strerror(errno));
        ds_array_free(&shard);
    }
    if (rc) {
        ds_atomic_abort(&af);
        return -1;
    }
    return ds_atomic_commit(&af);
}

int ds_resume_finish(ds_resume *r) {
    char path[PATH_SIZE];
    work_path(r, path, "complete");
    DS_TRY(write_text(path, "complete\n"));
    for_each_shard(r, remove_shard);
    r->complete = 1;
    return 0;
}

void ds_resume_close(ds_resume *r) {
    free(r->done);
    r->done = NULL;
    if (r->lock_fd >= 0) close(r->lock_fd); // releases the lock
    r->lock_fd = -1;
}

void ds_resume_abandon(ds_resume *r) {
    if (!r->done || r->joined || r->batches_done || r->committed || r->complete) return;
    char path[PATH_SIZE];
    work_path(r, path, "config.txt");
    unlink(path);
    work_path(r, path, "lock");
    unlink(path);
    rmdir(r->work);
    rmdir(r->dir); // only when empty
}

int ds_config_add(char *buf, size_t size, const char *key, const char *fmt, ...) {
    size_t len = strlen(buf);
    int n = snprintf(buf + len, size - len, "%s=", key);
    if (n < 0 || (size_t)n >= size - len) return ds_fail("run configuration too long");
    len += (size_t)n;
    va_list ap;
    va_start(ap, fmt);
    n = vsnprintf(buf + len, size - len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n + 1 >= size - len) return ds_fail("run configuration too long");
    strcat(buf + len, "\n");
    return 0;
}

static int skipped(const char *name, const char *const *skip) {
    for (; skip && *skip; skip++)
        if (!strcmp(name, *skip)) return 1;
    return 0;
}

int ds_config_text(const cli_opt *opts, int n_opts, const char *const *skip, char *buf,
                   size_t size) {
    for (int i = 0; i < n_opts; i++) {
        const cli_opt *o = &opts[i];
        if (skipped(o->name, skip)) continue;
        switch (o->type) {
        case CLI_STR: {
            const char *s = *(const char **)o->value;
            DS_TRY(ds_config_add(buf, size, o->name, "%s", s ? s : "(none)"));
            break;
        }
        case CLI_INT:
            DS_TRY(ds_config_add(buf, size, o->name, "%lld", (long long)*(int64_t *)o->value));
            break;
        case CLI_REAL:
            DS_TRY(ds_config_add(buf, size, o->name, "%.17g", *(double *)o->value));
            break;
        case CLI_FLAG:
            DS_TRY(ds_config_add(buf, size, o->name, "%d", *(int *)o->value));
            break;
        }
    }
    return 0;
}
