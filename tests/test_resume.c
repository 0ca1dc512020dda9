// Resumable output: manifest checks, committed batches found again, stale temporary
// files removed, samples.npy assembled exactly, the run lock.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "ds_error.h"
#include "resume.h"
#include "testutil.h"

static const char *config = "solver=heun\nsteps=18\nseed=7\n";

static void touch(const char *dir, const char *name) {
    char path[800];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("partial", f);
    fclose(f);
}

static int exists(const char *dir, const char *name) {
    char path[DS_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return tu_file_exists(path);
}

static void test_resume_skips_committed_batches(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    int64_t n = 23, batch = 5, d = 3;
    double *x = malloc(sizeof(double) * (size_t)(n * d));
    tu_fill_normal(x, n * d, tu_seed());
    ds_resume r;
    assert_int_equal(ds_resume_open(&r, dir, config, n, batch, d, DS_F32, 0), 0);
    assert_int_equal(r.n_batches, 5);
    assert_int_equal(r.batches_done, 0);
    int64_t first;
    assert_int_equal(ds_resume_rows(&r, 4, &first), 3);
    assert_int_equal(first, 20);
    assert_int_equal(ds_resume_commit(&r, 0, x), 0);
    assert_int_equal(ds_resume_commit(&r, 2, x + 10 * d), 0);
    ds_resume_close(&r);

    // A killed run leaves temporary files behind; other files are kept.
    assert_int_equal(ds_mkdirs(dir), 0);
    char sub[700];
    snprintf(sub, sizeof sub, "%s/000000", dir);
    assert_int_equal(ds_mkdirs(sub), 0);
    touch(dir, "000000/000007.png.tmp.12345");
    touch(dir, "samples.npy.tmp.99");
    touch(dir, "notes.tmp.txt");

    // Without --resume: refused. With other options: refused, naming the difference.
    assert_int_equal(ds_resume_open(&r, dir, config, n, batch, d, DS_F32, 0), -1);
    assert_non_null(strstr(ds_error(), "--resume"));
    ds_resume_close(&r);
    assert_int_equal(
        ds_resume_open(&r, dir, "solver=heun\nsteps=20\nseed=7\n", n, batch, d, DS_F32, 1), -1);
    assert_non_null(strstr(ds_error(), "'steps=18'"));
    assert_non_null(strstr(ds_error(), "'steps=20'"));
    ds_resume_close(&r);

    assert_int_equal(ds_resume_open(&r, dir, config, n, batch, d, DS_F32, 1), 0);
    assert_false(exists(dir, "000000/000007.png.tmp.12345"));
    assert_false(exists(dir, "samples.npy.tmp.99"));
    assert_true(exists(dir, "notes.tmp.txt"));
    assert_int_equal(r.batches_done, 2);
    assert_int_equal(r.samples_done, 10);
    assert_true(r.done[0] && !r.done[1] && r.done[2] && !r.done[3] && !r.done[4]);
    assert_false(r.complete);
    // Not every batch is done yet.
    ds_array a, head, streamed;
    assert_int_equal(ds_resume_gather(&r, n, &a), -1);
    for (int64_t j = 0; j < r.n_batches; j++)
        if (!r.done[j]) assert_int_equal(ds_resume_commit(&r, j, x + j * batch * d), 0);
    assert_int_equal(ds_resume_gather(&r, n, &a), 0);
    // The first 7 rows only (a batch and part of the next), and every row streamed to a
    // .npy one shard at a time.
    assert_int_equal(ds_resume_gather(&r, 7, &head), 0);
    char npy[800];
    snprintf(npy, sizeof npy, "%s/samples.npy", dir);
    assert_int_equal(ds_resume_write_npy(&r, npy, 0, NULL), 0);
    assert_int_equal(ds_npy_read(npy, &streamed), 0);
    assert_int_equal(ds_resume_finish(&r), 0);
    ds_resume_close(&r);
    assert_false(exists(dir, ".diffsamp-run/batch-000000.npy"));

    // Every row, as float32, in order.
    assert_int_equal(a.dtype, DS_F32);
    assert_int_equal(a.shape[0], n);
    assert_int_equal(a.shape[1], d);
    for (int64_t i = 0; i < n * d; i++) assert_true(((float *)a.data)[i] == (float)x[i]);
    assert_int_equal(head.shape[0], 7);
    assert_int_equal(head.shape[1], d);
    assert_memory_equal(head.data, a.data, 7 * d * sizeof(float));
    assert_int_equal(streamed.dtype, DS_F32);
    assert_int_equal(streamed.ndim, 2);
    assert_int_equal(streamed.shape[0], n);
    assert_int_equal(streamed.shape[1], d);
    assert_memory_equal(streamed.data, a.data, n * d * sizeof(float));
    ds_array_free(&a);
    ds_array_free(&head);
    ds_array_free(&streamed);

    // A finished run, resumed: nothing left to do.
    assert_int_equal(ds_resume_open(&r, dir, config, n, batch, d, DS_F32, 1), 0);
    assert_true(r.complete);
    assert_int_equal(r.batches_done, r.n_batches);
    ds_resume_close(&r);
    free(x);
}

static void test_one_writer_at_a_time(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    ds_resume r1, r2;
    assert_int_equal(ds_resume_open(&r1, dir, config, 4, 2, 2, DS_F32, 1), 0);
    assert_int_equal(ds_resume_open(&r2, dir, config, 4, 2, 2, DS_F32, 1), -1);
    assert_non_null(strstr(ds_error(), "another diffsamp run"));
    ds_resume_close(&r2);
    ds_resume_close(&r1);
    assert_int_equal(ds_resume_open(&r2, dir, config, 4, 2, 2, DS_F32, 1), 0);
    ds_resume_close(&r2);
}

static int open_descriptors(void) {
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

// A refused open holds nothing, with or without ds_resume_close after it: a library
// caller (Python) that retries with the right options in the same process is not
// refused as "another diffsamp run", and repeated refusals leak no descriptors (the
// fuzz_resume finding: after about 20,000 refusals the process had no descriptors left).
static void test_refused_open_holds_nothing(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    ds_resume r;
    assert_int_equal(ds_resume_open(&r, dir, config, 4, 2, 2, DS_F32, 0), 0);
    ds_resume_close(&r);
    int before = open_descriptors();
    for (int i = 0; i < 50; i++) {
        assert_int_equal(ds_resume_open(&r, dir, "solver=euler\n", 4, 2, 2, DS_F32, 1), -1);
        assert_non_null(strstr(ds_error(), "different options"));
        assert_int_equal(ds_resume_open(&r, dir, config, 4, 2, 2, DS_F32, 0), -1);
        assert_non_null(strstr(ds_error(), "--resume"));
    }
    assert_int_equal(open_descriptors(), before);
    assert_int_equal(ds_resume_open(&r, dir, config, 4, 2, 2, DS_F32, 1), 0);
    ds_resume r2; // and a refused second writer leaves the first one's lock in place
    assert_int_equal(ds_resume_open(&r2, dir, config, 4, 2, 2, DS_F32, 1), -1);
    assert_non_null(strstr(ds_error(), "another diffsamp run"));
    assert_int_equal(ds_resume_open(&r2, dir, config, 4, 2, 2, DS_F32, 1), -1);
    ds_resume_close(&r);
}

// A shard that cannot be written says why, as PNG writes do, and leaves no file: here
// the file size limit (RLIMIT_FSIZE, with SIGXFSZ ignored) makes write() fail with EFBIG.
static void test_shard_write_failure_reason(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    int64_t n = 4, batch = 2, d = 4096;
    double *x = calloc((size_t)(n * d), sizeof(double));
    assert_non_null(x);
    tu_fill_normal(x, n * d, tu_seed());
    ds_resume r;
    assert_int_equal(ds_resume_open(&r, dir, config, n, batch, d, DS_F32, 0), 0);
    struct rlimit old, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small = old;
    small.rlim_cur = 4096;
    void (*was)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    int rc = ds_resume_commit(&r, 0, x);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, was);
    printf("  %s\n", ds_error());
    assert_int_equal(rc, -1);
    assert_non_null(strstr(ds_error(), "batch-000000.npy: write failed: File too large"));
    assert_false(exists(r.work, "batch-000000.npy"));
    assert_int_equal(ds_resume_commit(&r, 0, x), 0); // fine again without the limit
    ds_resume_close(&r);
    free(x);
}

// A config.txt that holds this run's config, a NUL byte and more is another run's
// (found by fuzzing: the text compared equal up to the NUL).
static void test_config_with_nul_refused(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    ds_resume r;
    assert_int_equal(ds_resume_open(&r, dir, config, 4, 2, 2, DS_F32, 0), 0);
    ds_resume_close(&r);
    char path[DS_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/.diffsamp-run/config.txt", dir);
    FILE *f = fopen(path, "ab");
    assert_non_null(f);
    assert_int_equal(fwrite("\0steps=99\n", 1, 10, f), 10);
    fclose(f);
    assert_int_equal(ds_resume_open(&r, dir, config, 4, 2, 2, DS_F32, 1), -1);
    printf("  %s\n", ds_error());
    assert_non_null(strstr(ds_error(), "different options"));
}

static void test_config_text(void **state) {
    (void)state;
    const char *solver = "heun", *out = "x";
    int64_t steps = 18;
    double sigma = 0.1;
    int quiet = 1;
    cli_opt opts[] = {{"solver", CLI_STR, &solver, ""},
                      {"out", CLI_STR, &out, ""},
                      {"steps", CLI_INT, &steps, ""},
                      {"sigma", CLI_REAL, &sigma, ""},
                      {"quiet", CLI_FLAG, &quiet, ""}};
    const char *skip[] = {"out", "quiet", NULL};
    char buf[256] = "";
    assert_int_equal(ds_config_text(opts, 5, skip, buf, sizeof buf), 0);
    assert_int_equal(ds_config_add(buf, sizeof buf, "batch", "%d", 64), 0);
    assert_string_equal(buf, "solver=heun\nsteps=18\nsigma=0.10000000000000001\nbatch=64\n");
    char small[16] = "";
    assert_int_equal(ds_config_text(opts, 5, skip, small, sizeof small), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_skips_committed_batches),
        cmocka_unit_test(test_one_writer_at_a_time),
        cmocka_unit_test(test_refused_open_holds_nothing),
        cmocka_unit_test(test_shard_write_failure_reason),
        cmocka_unit_test(test_config_with_nul_refused),
        cmocka_unit_test(test_config_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
