// Schedules: the closed forms, both end conventions, EDM's figures, the VP time map, and
// reading / writing / rejecting explicit lists.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_error.h"
#include "ds_schedule.h"
#include "testutil.h"

static double *build(ds_schedule_opts *o, int *n) {
    double *s;
    if (ds_schedule_build(o, NULL, NULL, &s, n)) fail_msg("%s", ds_error());
    return s;
}

// Random ranges and step counts; each formula recomputed here independently.
static void test_closed_forms(void **state) {
    (void)state;
    double r[3];
    tu_fill_uniform(r, 3, tu_seed(), 0, 1);
    ds_schedule_opts o;
    ds_schedule_opts_default(&o);
    o.sigma_min = 0.001 + 0.01 * r[0], o.sigma_max = 10 + 100 * r[1], o.rho = 3 + 5 * r[2];
    o.steps = 7;
    for (int zero = 0; zero < 2; zero++) {
        o.final_zero = zero;
        int m = zero ? 7 : 8, n;
        o.kind = "edm";
        double *s = build(&o, &n);
        assert_int_equal(n, 8); // 7 sigmas and 0, or 8 sigmas
        for (int i = 0; i < m; i++) {
            double a = pow(o.sigma_max, 1 / o.rho), b = pow(o.sigma_min, 1 / o.rho);
            double want = pow(a + (double)i / (m - 1) * (b - a), o.rho);
            assert_true(fabs(s[i] - want) <= 1e-13 * want);
        }
        if (zero) assert_true(s[n - 1] == 0);
        free(s);
        o.kind = "logsnr";
        s = build(&o, &n);
        double ratio = s[1] / s[0];
        for (int i = 1; i < m; i++) assert_true(fabs(s[i] / s[i - 1] - ratio) < 1e-12);
        assert_true(s[0] == o.sigma_max && s[m - 1] == o.sigma_min);
        free(s);
        // VP: t(sigma) = (sqrt(beta_min^2 + 2 beta_d log(sigma^2 + 1)) - beta_min) / beta_d is
        // uniform from 1 down to 1e-3.
        o.kind = "vp";
        s = build(&o, &n);
        double eps = 1e-3, lmax = log1p(o.sigma_max * o.sigma_max);
        double lmin = log1p(o.sigma_min * o.sigma_min);
        double bd = 2 * (lmin / eps - lmax) / (eps - 1), bm = lmax - 0.5 * bd;
        for (int i = 0; i < m; i++) {
            double t = (sqrt(bm * bm + 2 * bd * log1p(s[i] * s[i])) - bm) / bd;
            assert_true(fabs(t - (1 + (double)i / (m - 1) * (eps - 1))) < 1e-9);
        }
        free(s);
    }
}

// EDM, 18 steps: sigma_2, sigma_4, sigma_6 = 40.8, 19.4, 8.4 (DESIGN.md), 18 + 1 sigmas.
static void test_edm_figures(void **state) {
    (void)state;
    ds_schedule_opts o;
    ds_schedule_opts_default(&o);
    int n;
    double *s = build(&o, &n);
    assert_int_equal(n, 19);
    assert_true(s[0] == 80 && s[17] == 0.002 && s[18] == 0);
    assert_true(fabs(s[2] - 40.8) < 0.05 && fabs(s[4] - 19.4) < 0.05 && fabs(s[6] - 8.4) < 0.05);
    free(s);
    o.steps = 1;
    s = build(&o, &n);
    assert_int_equal(n, 2);
    assert_true(s[0] == 80 && s[1] == 0);
    free(s);
    o.final_zero = 0;
    s = build(&o, &n);
    assert_int_equal(n, 2);
    assert_true(s[0] == 80 && s[1] == 0.002);
    free(s);
}

static void test_bad_options(void **state) {
    (void)state;
    ds_schedule_opts o;
    double *s;
    int n;
    ds_schedule_opts_default(&o);
    o.steps = 0;
    assert_int_equal(ds_schedule_build(&o, NULL, NULL, &s, &n), -1);
    assert_non_null(strstr(ds_error(), "--steps"));
    ds_schedule_opts_default(&o);
    o.sigma_min = 100;
    assert_int_equal(ds_schedule_build(&o, NULL, NULL, &s, &n), -1);
    ds_schedule_opts_default(&o);
    o.kind = "cosine";
    assert_int_equal(ds_schedule_build(&o, NULL, NULL, &s, &n), -1);
    assert_non_null(strstr(ds_error(), "cosine"));
    assert_false(ds_schedule_known("cosine"));
    ds_schedule_opts_default(&o);
    o.kind = "gits";
    assert_int_equal(ds_schedule_build(&o, NULL, NULL, &s, &n), -1); // needs a model
}

static const char *write_text(const char *name, const char *text) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", tu_tmpdir(), name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_file(void **state) {
    (void)state;
    double *s;
    int n;
    const char *p = write_text("ok.txt", "# sigmas\n80\n  10.5 \n\n1\n0.002\n0\n");
    assert_int_equal(ds_schedule_read(p, &s, &n), 0);
    assert_int_equal(n, 5);
    assert_true(s[0] == 80 && s[1] == 10.5 && s[4] == 0);
    free(s);
    const char *bad[] = {"80\n80\n1\n",  "80\n10\n20\n", "80\n-1\n", "80\n0\n1\n",
                         "80\nten\n1\n", "80\n",         "",         "80\n1e400\n",
                         "80\n10 5\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = write_text("bad.txt", bad[i]);
        assert_int_equal(ds_schedule_read(p, &s, &n), -1);
        assert_non_null(strstr(ds_error(), "bad.txt"));
    }
    assert_int_equal(ds_schedule_read("/nonexistent/sigmas.txt", &s, &n), -1);
}

// Lines of any length are read whole: "80" after 510 spaces is one number (fgets with
// a 512-byte buffer split it into 8 and 0); a 600-character comment is one line, so an
// error after it names the right line; inline comments are accepted.
static void test_file_long_lines(void **state) {
    (void)state;
    char text[2048];
    int at = snprintf(text, sizeof text, "100\n%510s80\n#", "");
    memset(text + at, 'c', 600);
    at += 600;
    snprintf(text + at, sizeof text - (size_t)at, "\n1.25 # inline comment\n0\n");
    double *s;
    int n;
    const char *p = write_text("long.txt", text);
    assert_int_equal(ds_schedule_read(p, &s, &n), 0);
    assert_int_equal(n, 4);
    assert_true(s[0] == 100 && s[1] == 80 && s[2] == 1.25 && s[3] == 0);
    free(s);
    at = snprintf(text, sizeof text, "80\n#");
    memset(text + at, 'c', 600);
    snprintf(text + at + 600, sizeof text - (size_t)at - 600, "\nten\n0\n");
    p = write_text("long_bad.txt", text);
    assert_int_equal(ds_schedule_read(p, &s, &n), -1);
    assert_non_null(strstr(ds_error(), "long_bad.txt:3:"));
    // A NUL byte does not end a line early: "10\0 junk" is no number.
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite("80\n10\0 junk\n0\n", 1, 14, f), 14);
    fclose(f);
    assert_int_equal(ds_schedule_read(p, &s, &n), -1);
    assert_non_null(strstr(ds_error(), "long_bad.txt:2:"));
}

// A built schedule written out reads back bit for bit (17 significant digits).
static void test_write_read(void **state) {
    (void)state;
    ds_schedule_opts o;
    ds_schedule_opts_default(&o);
    o.kind = "vp";
    o.steps = 25;
    int n, m;
    double *s = build(&o, &n), *back;
    char path[4096];
    snprintf(path, sizeof path, "%s/vp.txt", tu_tmpdir());
    assert_int_equal(ds_schedule_write(path, s, n), 0);
    o.kind = "file", o.path = path;
    back = build(&o, &m);
    assert_int_equal(m, n);
    for (int i = 0; i < n; i++) assert_true(back[i] == s[i]);
    free(s);
    free(back);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_closed_forms), cmocka_unit_test(test_edm_figures),
        cmocka_unit_test(test_bad_options),  cmocka_unit_test(test_file),
        cmocka_unit_test(test_write_read),   cmocka_unit_test(test_file_long_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
