// diffsamp denoise: results against a direct evaluation, both input routes (--data and
// --model-dir), output dtypes, and clear failures without output on bad arguments.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_io.h"
#include "testutil.h"

#define N 300
#define D 16
#define B 9

static const char *dir;
static double y[N * D], x[B * D];

static int setup(void **state) {
    (void)state;
    dir = tu_tmpdir();
    uint64_t seed = tu_seed();
    tu_fill_normal(y, N * D, seed + 1);
    tu_fill_normal(x, B * D, seed + 2);
    char path[600];
    const int64_t ys[2] = {N, D}, xs[2] = {B, D}, bad[2] = {B / 3, 3 * D};
    snprintf(path, sizeof path, "%s/y.npy", dir);
    ds_npy_write_f64(path, y, 2, ys, DS_F32);
    snprintf(path, sizeof path, "%s/x.npy", dir);
    ds_npy_write_f64(path, x, 2, xs, DS_F64);
    snprintf(path, sizeof path, "%s/xbad.npy", dir);
    ds_npy_write_f64(path, x, 2, bad, DS_F64);
    return 0;
}

// The empirical denoiser of the float32-rounded rows, directly from the definition.
static void direct_empirical(double sigma, double *out) {
    for (int i = 0; i < B; i++) {
        double logit[N], max = -INFINITY, z = 0;
        for (int k = 0; k < N; k++) {
            double s = 0;
            for (int j = 0; j < D; j++) {
                double t = x[i * D + j] - (double)(float)y[k * D + j];
                s += t * t;
            }
            logit[k] = -s / (2 * sigma * sigma);
            max = fmax(max, logit[k]);
        }
        for (int j = 0; j < D; j++) out[i * D + j] = 0;
        for (int k = 0; k < N; k++) z += (logit[k] = exp(logit[k] - max));
        for (int k = 0; k < N; k++)
            for (int j = 0; j < D; j++) out[i * D + j] += logit[k] / z * (float)y[k * D + j];
    }
}

static void read_result(const char *name, ds_dtype dtype, double *out) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ds_array a;
    assert_int_equal(ds_npy_read(path, &a), 0);
    assert_int_equal(a.dtype, dtype);
    assert_int_equal(a.ndim, 2);
    assert_int_equal(a.shape[0], B);
    assert_int_equal(a.shape[1], D);
    for (int e = 0; e < B * D; e++)
        out[e] = dtype == DS_F64 ? ((double *)a.data)[e] : ((float *)a.data)[e];
    ds_array_free(&a);
}

static void test_data_route_ref_and_cpu(void **state) {
    (void)state;
    const double sigmas[] = {0.3, 2.0};
    for (int s = 0; s < 2; s++) {
        double want[B * D], got[B * D];
        direct_empirical(sigmas[s], want);
        for (int k = 0; k < 2; k++) {
            const char *backend = k ? "cpu" : "ref";
            assert_int_equal(tu_system("%s denoise --data %s/y.npy --model empirical --x %s/x.npy "
                                       "--sigma %g --out %s/d_%s.npy --backend %s",
                                       tu_bin(), dir, dir, sigmas[s], dir, backend, backend),
                             0);
            char name[32];
            snprintf(name, sizeof name, "d_%s.npy", backend);
            read_result(name, k ? DS_F32 : DS_F64, got);
            double err = tu_rel_l2(got, want, B * D);
            printf("denoise --backend %s sigma %g: rel L2 error %.2e\n", backend, sigmas[s], err);
            // ref: float64 throughout (1e-12); cpu: float32, see test_backend_ops.c (2e-5).
            assert_true(err < (k ? 2e-5 : 1e-12));
        }
    }
}

static void test_model_dir_route(void **state) {
    (void)state;
    assert_int_equal(
        tu_system("%s prepare --data %s/y.npy --model gaussian --out %s/gauss", tu_bin(), dir, dir),
        0);
    double got[B * D], want[B * D];
    for (int k = 0; k < 2; k++) {
        const char *backend = k ? "cpu" : "ref";
        assert_int_equal(tu_system("%s denoise --model-dir %s/gauss --x %s/x.npy --sigma 0.7 --out "
                                   "%s/g_%s.npy --backend %s",
                                   tu_bin(), dir, dir, dir, backend, backend),
                         0);
        char name[32];
        snprintf(name, sizeof name, "g_%s.npy", backend);
        read_result(name, k ? DS_F32 : DS_F64, k ? got : want);
    }
    double err = tu_rel_l2(got, want, B * D);
    printf("denoise --model-dir gaussian cpu vs ref: rel L2 error %.2e\n", err);
    assert_true(err < 2e-6); // a linear map in float32: a few u
}

// Runs a bad command line: exit status 1 or 2, the expected message, no output file.
static void check_bad(const char *args, const char *message) {
    char out[600], err[600];
    snprintf(out, sizeof out, "%s/bad_out.npy", dir);
    snprintf(err, sizeof err, "%s/stderr.txt", dir);
    int rc = tu_system("%s denoise %s --out %s 2>%s", tu_bin(), args, out, err);
    FILE *f = fopen(err, "r");
    char text[1024] = "";
    size_t len = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[len] = 0;
    if (f) fclose(f);
    printf("denoise %s -> %d: %s", args, rc, text);
    assert_true(rc == 1 || rc == 2);
    assert_non_null(strstr(text, "diffsamp: "));
    assert_non_null(strstr(text, message));
    assert_false(tu_file_exists(out));
}

static void test_bad_arguments(void **state) {
    (void)state;
    char args[2048];
#define BAD(message, ...)                                                                          \
    do {                                                                                           \
        snprintf(args, sizeof args, __VA_ARGS__);                                                  \
        check_bad(args, message);                                                                  \
    } while (0)
    BAD("--sigma must be between", "--data %s/y.npy --model empirical --x %s/x.npy --sigma 0", dir,
        dir);
    BAD("--sigma must be between", "--data %s/y.npy --model empirical --x %s/x.npy --sigma -2", dir,
        dir);
    // 1 / sigma^2 overflows at 1e-200 (NaN rows from ref before the range check).
    BAD("--sigma must be between", "--data %s/y.npy --model empirical --x %s/x.npy --sigma 1e-200",
        dir, dir);
    BAD("expects a finite number", "--data %s/y.npy --model empirical --x %s/x.npy --sigma nan",
        dir, dir);
    BAD("expected float rows of 16 values",
        "--data %s/y.npy --model empirical --x %s/xbad.npy "
        "--sigma 1",
        dir, dir);
    BAD("missing.npy", "--data %s/y.npy --model empirical --x %s/missing.npy --sigma 1", dir, dir);
    BAD("nodata.npy", "--data %s/nodata.npy --model empirical --x %s/x.npy --sigma 1", dir, dir);
    BAD("nomodel", "--model-dir %s/nomodel --x %s/x.npy --sigma 1", dir, dir);
    BAD("exactly one of", "--x %s/x.npy --sigma 1", dir);
    BAD("--data needs --model empirical", "--data %s/y.npy --x %s/x.npy --sigma 1", dir, dir);
    BAD("unknown backend",
        "--data %s/y.npy --model empirical --x %s/x.npy --sigma 1 --backend "
        "gpu",
        dir, dir);
    BAD("--x and --out are required", "--data %s/y.npy --model empirical --sigma 1", dir);
#undef BAD
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_data_route_ref_and_cpu),
        cmocka_unit_test(test_model_dir_route),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
