// diffsamp sample end to end on a small .npy data set: outputs, reproducibility across
// batch sizes and from a noise file, teleport and NFE report, and bad input (clear error,
// non-zero exit, no output).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_error.h"
#include "ds_io.h"
#include "ds_philox.h"
#include "testutil.h"

#define ROWS 200
#define D 6

static char dir[512], data[600];

static void write_npy(const char *path, const double *x, int64_t rows, int64_t cols) {
    int64_t shape[2] = {rows, cols};
    assert_int_equal(ds_npy_write_f64(path, x, 2, shape, DS_F32), 0);
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    snprintf(data, sizeof data, "%s/data.npy", dir);
    double x[ROWS * D];
    tu_fill_normal(x, ROWS * D, tu_seed());
    for (int i = 0; i < ROWS * D; i++) x[i] = 0.5 * x[i] + (i % D) * 0.1;
    write_npy(data, x, ROWS, D);
    return 0;
}

static void read_samples(const char *out, double *x, int64_t count) {
    char path[1200];
    snprintf(path, sizeof path, "%s/samples.npy", out);
    ds_array a;
    if (ds_npy_read(path, &a)) fail_msg("%s", ds_error());
    assert_int_equal(a.dtype, DS_F64);
    assert_int_equal(ds_array_count(&a), count);
    memcpy(x, a.data, sizeof(double) * (size_t)count);
    ds_array_free(&a);
}

// Runs diffsamp sample with the data set and the ref backend; stdout to OUT.log.
static int sample(const char *out, const char *args) {
    return tu_system("%s sample --data %s --backend ref --out %s/%s %s > %s/%s.log 2>&1", tu_bin(),
                     data, dir, out, args, dir, out);
}

static int log_has(const char *out, const char *text) {
    char path[1200], buf[8192] = {0};
    snprintf(path, sizeof path, "%s/%s.log", dir, out);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    buf[got] = 0;
    fclose(f);
    return strstr(buf, text) != NULL;
}

static void test_outputs_and_reproducibility(void **state) {
    (void)state;
    assert_int_equal(sample("a", "--n 5 --batch 2 --seed 7 --no-landing"), 0);
    assert_true(log_has("a", "NFE: 35 per sample"));
    assert_true(log_has("a", "last step to sigma = 0"));
    assert_int_equal(sample("b", "--n 5 --batch 5 --seed 7 --no-landing"), 0);
    double a[5 * D], b[5 * D], c[5 * D];
    char path[1200];
    snprintf(path, sizeof path, "%s/a", dir);
    read_samples(path, a, 5 * D);
    snprintf(path, sizeof path, "%s/b", dir);
    read_samples(path, b, 5 * D);
    assert_true(memcmp(a, b, sizeof a) == 0);
    // The same noise given as a file reproduces the run.
    double noise[5 * D];
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < D; j++) noise[i * D + j] = ds_philox_normal(7, i, j);
    snprintf(path, sizeof path, "%s/noise.npy", dir);
    int64_t shape[2] = {5, D};
    assert_int_equal(ds_npy_write_f64(path, noise, 2, shape, DS_F64), 0);
    char args[1400];
    snprintf(args, sizeof args, "--noise %s --batch 3 --no-landing", path);
    assert_int_equal(sample("c", args), 0);
    snprintf(path, sizeof path, "%s/c", dir);
    read_samples(path, c, 5 * D);
    assert_true(tu_rel_l2(c, a, 5 * D) == 0);
    snprintf(path, sizeof path, "%s/a/sigmas.txt", dir);
    assert_true(tu_file_exists(path));
}

static void test_teleport_and_conventions(void **state) {
    (void)state;
    assert_int_equal(sample("t", "--model gaussian --n 3 --teleport-fraction 0.1111"), 0);
    assert_true(log_has("t", "NFE 31 instead of 35 (saved 4)"));
    assert_int_equal(sample("z", "--n 3 --steps 10 --no-final-zero --no-landing"), 0);
    assert_true(log_has("z", "NFE: 20 per sample"));
    assert_true(log_has("z", "stopping at the last sigma"));
    char args[1400];
    snprintf(args, sizeof args, "--n 2 --trajectory %s/tr --sampler dpmpp2m --steps 4", dir);
    assert_int_equal(sample("tr", args), 0);
    char path[1200];
    snprintf(path, sizeof path, "%s/tr_x.npy", dir);
    ds_array x;
    assert_int_equal(ds_npy_read(path, &x), 0);
    assert_true(x.ndim == 3 && x.shape[0] == 5 && x.shape[1] == 2 && x.shape[2] == D);
    ds_array_free(&x);
}

// Image rows (N x 1 x 2 x 3) give one PNG per sample in EDM's layout and a grid.
static void test_images(void **state) {
    (void)state;
    double x[ROWS * D];
    tu_fill_uniform(x, ROWS * D, tu_seed() + 1, -1, 1);
    char path[1200], args[1400];
    snprintf(path, sizeof path, "%s/images.npy", dir);
    int64_t shape[4] = {ROWS, 1, 2, 3};
    assert_int_equal(ds_npy_write_f64(path, x, 4, shape, DS_F32), 0);
    snprintf(args, sizeof args, "--data %s --n 3 --sampler euler --steps 5", path);
    assert_int_equal(sample("img", args), 0);
    const char *files[3] = {"grid.png", "000000/000000.png", "000000/000002.png"};
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s/img/%s", dir, files[k]);
        assert_true(tu_file_exists(path));
    }
}

static void expect_refused(const char *name, const char *args, const char *message) {
    char out[1200];
    snprintf(out, sizeof out, "%s/%s", dir, name);
    if (sample(name, args) == 0) fail_msg("%s: accepted", args);
    if (!log_has(name, message)) fail_msg("%s: no message '%s'", args, message);
    assert_false(tu_file_exists(out));
}

static void test_bad_input(void **state) {
    (void)state;
    char path[1200], args[1400];
    expect_refused("e1", "--sampler nope", "unknown sampler 'nope'");
    expect_refused("e2", "--schedule nope", "unknown schedule 'nope'");
    expect_refused("e3", "--steps 0", "--steps must be >= 1");
    expect_refused("e4", "--sampler dpm2 --order 3", "dpm2 has order 2 only");
    expect_refused("e5", "--sampler lms --order 5", "lms has orders 1 to 4");
    expect_refused("e6", "--teleport-sigma 100", "outside the schedule");
    expect_refused("e7", "--teleport-fraction 1", "[0, 1)");
    expect_refused("e8", "--bogus 1", "unknown option");
    const char *lists[2] = {"80\n10\n20\n0\n", "80\n10\n-1\n"};
    const char *msgs[2] = {"decrease strictly", "expected 1e-10 to 1e+10"};
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/list%d.txt", dir, k);
        FILE *f = fopen(path, "w");
        fputs(lists[k], f);
        fclose(f);
        snprintf(args, sizeof args, "--sigmas %s", path);
        expect_refused(k ? "e9" : "e10", args, msgs[k]);
    }
    double noise[4 * (D - 1)];
    tu_fill_normal(noise, 4 * (D - 1), 1);
    snprintf(path, sizeof path, "%s/bad_noise.npy", dir);
    write_npy(path, noise, 4, D - 1);
    snprintf(args, sizeof args, "--noise %s", path);
    expect_refused("e11", args, "noise must be float rows of d = 6");
    snprintf(path, sizeof path, "%s/short_noise.npy", dir);
    write_npy(path, noise, 2, D);
    snprintf(args, sizeof args, "--noise %s --n 3", path);
    expect_refused("e12", args, "noise has 2 rows but --n is 3");
}

// Requirement 6 of issue 14: --no-landing and --no-prune with a model that has no
// training rows are accepted and do nothing; a landing eps outside (0, 1e-3], --prune
// with --no-prune, and --prune on the dense ref backend are refused with one line and
// exit status 2 (a refused command line), with no output; cpu prunes by default and
// reports it.
static void test_landing_and_pruning_options(void **state) {
    (void)state;
    assert_int_equal(sample("g", "--model gaussian --n 2 --no-landing --no-prune"), 0);
    assert_true(log_has("g", "NFE: 35 per sample"));
    assert_false(log_has("g", "landing:") || log_has("g", "pruning:"));
    const char *refused[][3] = {
        {"p1", "--landing-eps 0", "--landing-eps 0 is outside (0, 1e-3]"},
        {"p2", "--landing-eps 0.002", "--landing-eps 0.002 is outside (0, 1e-3]"},
        {"p3", "--prune --no-prune", "--prune and --no-prune together"},
        {"p4", "--prune", "--prune: backend ref evaluates every training row"},
    };
    for (int k = 0; k < 4; k++) {
        expect_refused(refused[k][0], refused[k][1], refused[k][2]);
        assert_int_equal(sample(refused[k][0], refused[k][1]), 2);
    }
    char out[1200];
    snprintf(out, sizeof out, "%s/pc", dir);
    assert_int_equal(tu_system("%s sample --data %s --backend cpu --n 2 --steps 6 --out %s > "
                               "%s/pc.log 2>&1",
                               tu_bin(), data, out, dir),
                     0);
    assert_true(log_has("pc", "pruning: "));
    assert_int_equal(tu_system("grep -q '\"pruning\": true' %s/run.json && grep -q "
                               "'\"skipped_mass_bound\"' %s/run.json",
                               out, out),
                     0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outputs_and_reproducibility),
        cmocka_unit_test(test_teleport_and_conventions),
        cmocka_unit_test(test_images),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_landing_and_pruning_options),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
