// diffsamp analyze end to end on small files with known answers, and its bad input.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_io.h"
#include "testutil.h"

enum { N_TRAIN = 300, N_SAMPLES = 40, D = 10 };

static char dir[600];

static void path_in(char *buf, size_t size, const char *name) {
    snprintf(buf, size, "%s/%s", dir, name);
}

static void write_rows(const char *name, const double *x, int64_t n, int64_t d, ds_dtype t) {
    char p[700];
    path_in(p, sizeof p, name);
    const int64_t shape[2] = {n, d};
    assert_int_equal(ds_npy_write_f64(p, x, 2, shape, t), 0);
}

// Value of column `col` (0-based) in data row `row` (0-based, after the header) of a CSV.
static double csv_value(const char *name, int row, int col) {
    char p[700], line[4096];
    path_in(p, sizeof p, name);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    for (int r = 0; r <= row + 1; r++) assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    char *s = line;
    for (int c = 0; c < col; c++) {
        s = strchr(s, ',');
        assert_non_null(s);
        s++;
    }
    return strtod(s, NULL);
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    uint64_t seed = tu_seed();
    double *train = malloc(sizeof(double) * N_TRAIN * D), *s = malloc(sizeof(double) * 400 * D);
    tu_fill_normal(train, N_TRAIN * D, seed);
    write_rows("train.npy", train, N_TRAIN, D, DS_F32);
    // Samples: the first half copies of training rows 3 i, the rest random.
    tu_fill_normal(s, N_SAMPLES * D, seed + 1);
    for (int i = 0; i < N_SAMPLES / 2; i++)
        for (int j = 0; j < D; j++) s[i * D + j] = (float)train[3 * i * D + j];
    write_rows("samples.npy", s, N_SAMPLES, D, DS_F64);
    for (int i = 0; i < N_SAMPLES * D; i++) s[i] *= 1.5;
    write_rows("scaled.npy", s, N_SAMPLES, D, DS_F64);
    tu_fill_normal(s, 400 * D, seed + 2);
    write_rows("heldout.npy", s, 400, D, DS_F32);
    free(train);
    free(s);
    return 0;
}

static void test_memorization(void **state) {
    (void)state;
    assert_int_equal(tu_system("%s analyze memorization --samples %s/samples.npy --data "
                               "%s/train.npy --out %s",
                               tu_bin(), dir, dir, dir),
                     0);
    for (int i = 0; i < N_SAMPLES / 2; i++) {
        assert_true(csv_value("memorization.csv", i, 1) == 3 * i); // nearest
        assert_true(csv_value("memorization.csv", i, 2) == 0.0);   // d1
        assert_true(csv_value("memorization.csv", i, 5) == 1.0);   // memorised
    }
}

// The held-out set against itself: the Frechet distance is 0 up to rounding (~1e-12 of
// the variance, which is ~1 per component here).
static void test_fid_self(void **state) {
    (void)state;
    assert_int_equal(tu_system("%s analyze fid --samples %s/heldout.npy --data %s/train.npy "
                               "--heldout %s/heldout.npy --pca-k 4 --out %s",
                               tu_bin(), dir, dir, dir, dir),
                     0);
    assert_true(fabs(csv_value("fid.csv", 0, 4)) < 1e-9);
    assert_true(csv_value("fid.csv", 1, 4) > 1e-3); // training rows differ from held-out
}

// Samples scaled by 1.5 against the originals: relative error 0.5 in every row.
static void test_error(void **state) {
    (void)state;
    assert_int_equal(tu_system("%s analyze error --samples %s/scaled.npy --reference "
                               "%s/samples.npy --out %s",
                               tu_bin(), dir, dir, dir),
                     0);
    assert_true(fabs(csv_value("error.csv", 0, 2) - 0.5) < 1e-12);
    assert_true(fabs(csv_value("error.csv", 0, 8) - 0.5) < 1e-12);
}

// Straight trajectories x_s = y + sigma_s / 80 (x_0 - y): deviation 0, one component.
static void test_trajectory_straight(void **state) {
    (void)state;
    enum { S = 8, B = 3 };
    double x[S * B * D], y[B * D], x0[B * D], sig[S];
    tu_fill_normal(y, B * D, tu_seed() + 5);
    tu_fill_normal(x0, B * D, tu_seed() + 6);
    for (int s = 0; s < S; s++) {
        sig[s] = 80.0 * pow(0.3, s);
        for (int i = 0; i < B * D; i++) x[s * B * D + i] = y[i] + sig[s] * x0[i];
    }
    char p[700];
    path_in(p, sizeof p, "t_x.npy");
    const int64_t shape[3] = {S, B, D}, dshape[3] = {S - 1, B, D}, sshape[1] = {S};
    assert_int_equal(ds_npy_write_f64(p, x, 3, shape, DS_F64), 0);
    path_in(p, sizeof p, "t_denoised.npy");
    assert_int_equal(ds_npy_write_f64(p, x, 3, dshape, DS_F64), 0);
    path_in(p, sizeof p, "t_sigmas.npy");
    assert_int_equal(ds_npy_write_f64(p, sig, 1, sshape, DS_F64), 0);
    assert_int_equal(
        tu_system("%s analyze trajectory --trajectory %s/t --out %s", tu_bin(), dir, dir), 0);
    for (int s = 0; s < S; s++) assert_true(csv_value("trajectory_steps.csv", s, 2) < 1e-12);
    for (int i = 0; i < B; i++) assert_true(csv_value("trajectory_samples.csv", i, 3) > 0.999999);
}

// A GMM with K = 1 is the Gaussian model: their denoisers agree to rounding (1e-9 is
// far above float64 rounding of the same fit, far below any real difference) at every
// sigma, so no crossover. The empirical denoiser against the Gaussian differs on
// held-out points at small sigma (it returns a training row), so it has one.
static void test_denoisers(void **state) {
    (void)state;
    assert_int_equal(tu_system("%s analyze denoisers --data %s/train.npy --heldout "
                               "%s/heldout.npy --models gaussian,gmm --k 1 --backend ref --n 8 "
                               "--levels 5 --out %s",
                               tu_bin(), dir, dir, dir),
                     0);
    for (int r = 0; r < 10; r++) {
        assert_true(fabs(csv_value("denoisers.csv", r, 4)) < 1e-9);
        assert_true(fabs(csv_value("denoisers.csv", r, 5) - 1.0) < 1e-9);
    }
    assert_true(isnan(csv_value("denoisers_crossover.csv", 0, 4)));
    assert_int_equal(tu_system("%s analyze denoisers --data %s/train.npy --heldout "
                               "%s/heldout.npy --models empirical,gaussian --backend ref --n 8 "
                               "--levels 5 --out %s",
                               tu_bin(), dir, dir, dir),
                     0);
    assert_true(csv_value("denoisers.csv", 5, 4) > 0.1); // held-out, sigma = 0.002
    double cross = csv_value("denoisers_crossover.csv", 1, 4);
    assert_true(cross >= 0.002 && cross <= 80);
}

// A sweep on a Gaussian model (ref backend): the adaptive row is the truth (error 0),
// every run keeps within its NFE budget, teleporting saves NFE, and Heun's error falls
// as its budget grows (second order on a smooth flow).
static void test_sweep(void **state) {
    (void)state;
    assert_int_equal(tu_system("%s sweep --data %s/train.npy --heldout %s/heldout.npy --model "
                               "gaussian --solvers euler,heun --nfe 6,12 --teleport 0,0.4 --n 6 "
                               "--pca-k 3 --backend ref --out %s",
                               tu_bin(), dir, dir, dir),
                     0);
    assert_true(csv_value("sweep.csv", 0, 5) == 0.0);  // adaptive against itself
    assert_true(csv_value("sweep.csv", 0, 10) == 1.0); // same nearest rows as itself
    assert_true(csv_value("sweep.csv", 0, 11) == 0.0); // no diverged samples
    const int budget[2] = {6, 12};
    for (int r = 1; r <= 8; r++) {
        int b = budget[(r - 1) % 2];
        assert_true(csv_value("sweep.csv", r, 4) <= b);
        assert_true(csv_value("sweep.csv", r, 5) > 0);
    }
    // Rows: euler t0 (6, 12), euler t0.4 (6, 12), heun t0 (6, 12), heun t0.4 (6, 12).
    for (int r = 1; r <= 5; r += 4) {
        assert_true(csv_value("sweep.csv", r + 2, 4) < csv_value("sweep.csv", r, 4));
        assert_true(csv_value("sweep.csv", r + 3, 4) < csv_value("sweep.csv", r + 1, 4));
    }
    assert_true(csv_value("sweep.csv", 6, 5) < 0.5 * csv_value("sweep.csv", 5, 5));
}

static int csv_rows(const char *name) {
    char p[700], line[4096];
    path_in(p, sizeof p, name);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    int rows = -1; // the header
    while (fgets(line, sizeof line, f)) rows++;
    fclose(f);
    return rows;
}

// Teleport fractions that skip none or all of a configuration's steps (Euler, 2 steps:
// 0.2 rounds to 0 of them, 0.8 to both) leave that configuration out instead of
// repeating the row without teleport under another label, or stopping the sweep after
// the runs already made. Rows: the truth, then teleport 0, 0.2, 0.8 at 10 steps and
// teleport 0 at 2 steps.
static void test_sweep_teleport_rounding(void **state) {
    (void)state;
    assert_int_equal(tu_system("%s sweep --data %s/train.npy --model gaussian --solvers euler "
                               "--nfe 10,2 --teleport 0,0.2,0.8 --n 4 --backend ref --out %s",
                               tu_bin(), dir, dir),
                     0);
    assert_int_equal(csv_rows("sweep.csv"), 5);
    assert_true(csv_value("sweep.csv", 1, 4) == 10);
    assert_true(csv_value("sweep.csv", 2, 4) == 2);
    assert_true(csv_value("sweep.csv", 3, 3) == 0.2 && csv_value("sweep.csv", 3, 4) == 8);
    assert_true(csv_value("sweep.csv", 4, 3) == 0.8 && csv_value("sweep.csv", 4, 4) == 2);
}

// End to end through diffsamp sample: a one-point data set gives straight trajectories
// (deviation at float64 rounding, ~1e-16; tolerance 1e-12) in one principal component;
// a two-point data set sampled to sigma = 0 is memorised by every sample.
static void test_sample_then_analyze(void **state) {
    (void)state;
    double y[2 * D];
    tu_fill_normal(y, 2 * D, tu_seed() + 9);
    for (int j = 0; j < D; j++) y[D + j] += 3.0;
    write_rows("one.npy", y, 1, D, DS_F64);
    write_rows("two.npy", y, 2, D, DS_F64);
    assert_int_equal(tu_system("%s sample --data %s/one.npy --model empirical --sampler heun "
                               "--steps 12 --n 4 --backend ref --trajectory %s/one --out %s/one_s",
                               tu_bin(), dir, dir, dir),
                     0);
    assert_int_equal(
        tu_system("%s analyze trajectory --trajectory %s/one --out %s", tu_bin(), dir, dir), 0);
    for (int i = 0; i < 4; i++) {
        assert_true(csv_value("trajectory_samples.csv", i, 1) < 1e-12);
        assert_true(csv_value("trajectory_samples.csv", i, 3) > 1.0 - 1e-12);
    }
    assert_int_equal(tu_system("%s sample --data %s/two.npy --model empirical --sampler euler "
                               "--steps 12 --n 16 --backend ref --out %s/two_s",
                               tu_bin(), dir, dir),
                     0);
    assert_int_equal(tu_system("%s analyze memorization --samples %s/two_s/samples.npy --data "
                               "%s/two.npy --out %s",
                               tu_bin(), dir, dir, dir),
                     0);
    for (int i = 0; i < 16; i++) assert_true(csv_value("memorization.csv", i, 5) == 1.0);
}

// Bad input: one line, a non-zero exit, and no output file.
static void test_bad_input(void **state) {
    (void)state;
    char out[700], p[800];
    snprintf(out, sizeof out, "%s/bad", tu_tmpdir());
    assert_true(
        tu_system("%s analyze memorization --data %s/train.npy --out %s", tu_bin(), dir, out) != 0);
    // Rows of the wrong dimension (the trajectory's sigmas are 1-D).
    assert_true(tu_system("%s analyze memorization --samples %s/t_sigmas.npy --data "
                          "%s/train.npy --out %s",
                          tu_bin(), dir, dir, out) != 0);
    assert_true(tu_system("%s analyze fid --samples %s/samples.npy --data %s/train.npy "
                          "--heldout %s/missing.npy --out %s",
                          tu_bin(), dir, dir, dir, out) != 0);
    assert_true(tu_system("%s analyze fid --samples %s/samples.npy --data %s/train.npy "
                          "--heldout %s/heldout.npy --pca-k 11 --out %s",
                          tu_bin(), dir, dir, dir, out) != 0);
    assert_true(tu_system("%s analyze error --samples %s/samples.npy --reference "
                          "%s/heldout.npy --out %s",
                          tu_bin(), dir, dir, out) != 0);
    assert_true(
        tu_system("%s analyze trajectory --trajectory %s/none --out %s", tu_bin(), dir, out) != 0);
    assert_true(tu_system("%s analyze denoisers --data %s/train.npy --heldout %s/heldout.npy "
                          "--models empirical --backend ref --out %s",
                          tu_bin(), dir, dir, out) != 0);
    assert_true(tu_system("%s analyze denoisers --data %s/train.npy --heldout %s/heldout.npy "
                          "--models empirical,flow --backend ref --out %s",
                          tu_bin(), dir, dir, out) != 0);
    const char *sweeps[] = {"--solvers magic", "--solvers adaptive", "--nfe 0",
                            "--teleport 1.5",  "--schedules file",   "--n 1"};
    for (int i = 0; i < 6; i++)
        assert_true(tu_system("%s sweep --data %s/train.npy --model gaussian --backend ref %s "
                              "--out %s",
                              tu_bin(), dir, sweeps[i], out) != 0);
    assert_int_equal(tu_system("%s analyze nothing", tu_bin()), 2);
    const char *names[] = {"memorization.csv", "memorization_summary.csv", "fid.csv",
                           "error.csv",        "trajectory_steps.csv",     "denoisers.csv",
                           "sweep.csv"};
    for (int i = 0; i < 7; i++) {
        snprintf(p, sizeof p, "%s/%s", out, names[i]);
        assert_false(tu_file_exists(p));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memorization),
        cmocka_unit_test(test_fid_self),
        cmocka_unit_test(test_error),
        cmocka_unit_test(test_trajectory_straight),
        cmocka_unit_test(test_denoisers),
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_sweep_teleport_rounding),
        cmocka_unit_test(test_sample_then_analyze),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
