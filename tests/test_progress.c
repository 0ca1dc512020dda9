// Progress lines: rates and ETA from given times, rate limiting, terminal redraw, quiet.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "progress.h"
#include "testutil.h"

static int count_char(const char *s, char c) {
    int n = 0;
    for (; *s; s++) n += *s == c;
    return n;
}

static void test_rates_and_eta(void **state) {
    (void)state;
    uint64_t seed = tu_seed();
    double u[4];
    tu_fill_uniform(u, 4, seed, 0, 1);
    int64_t batch = 1 + (int64_t)(u[0] * 100), batches = 10 + (int64_t)(u[1] * 10);
    int64_t nfe = 1 + (int64_t)(u[2] * 50);
    double step = 0.5 + 3 * u[3]; // seconds per batch
    FILE *f = tmpfile();
    ds_progress p;
    ds_progress_start(&p, f, "sample", batch * batches, batches, 0);
    ds_progress_skip(&p, 2 * batch, 2); // resumed: counted as done, not in the rates
    ds_progress_batch_at(&p, batch, nfe, p.t_start + step);
    ds_progress_batch_at(&p, batch, nfe, p.t_start + 2 * step);
    char line[256], want[256];
    ds_progress_format(&p, p.t_start + 2 * step, line, sizeof line);
    // 2 batches computed in 2 steps; (batches - 4) batches left at the same rate.
    // Each of the nfe calls of a batch denoises its batch rows.
    snprintf(want, sizeof want,
             "batch 4/%lld, %lld/%lld samples, %.1f samples/s, %.1f denoised rows/s",
             (long long)batches, (long long)(4 * batch), (long long)(batch * batches),
             (double)batch / step, (double)(batch * nfe) / step);
    assert_non_null(strstr(line, want));
    long eta = (long)((double)(batches - 4) * step + 0.5);
    if (eta < 60) {
        snprintf(want, sizeof want, "ETA %lds", eta);
        assert_non_null(strstr(line, want));
    }
    fclose(f);
}

static void test_plain_lines_rate_limited(void **state) {
    (void)state;
    FILE *f = tmpfile();
    ds_progress p;
    ds_progress_start(&p, f, "sample", 100, 100, 0);
    p.tty = 0, p.interval = 2.0;
    // 100 batches 0.25 s apart: a line every 2 s (8 batches), none for the last batch,
    // and one final line.
    for (int i = 1; i <= 100; i++) ds_progress_batch_at(&p, 1, 3, p.t_start + 0.25 * i);
    ds_progress_finish_at(&p, p.t_start + 25.0);
    char *s = tu_slurp(f);
    assert_int_equal(count_char(s, '\n'), 12 + 1);
    assert_null(strchr(s, '\r'));
    assert_non_null(strstr(s, "batch 100/100, 100/100 samples"));
    free(s);
    fclose(f);
}

static void test_terminal_redraw(void **state) {
    (void)state;
    FILE *f = tmpfile();
    ds_progress p;
    ds_progress_start(&p, f, "sample", 30, 3, 0);
    p.tty = 1, p.interval = 0.1;
    for (int i = 1; i <= 3; i++) ds_progress_batch_at(&p, 10, 5, p.t_start + i);
    ds_progress_finish_at(&p, p.t_start + 3);
    char *s = tu_slurp(f);
    // Two redraws and the final line, each starting with \r and clearing to the end.
    assert_int_equal(count_char(s, '\r'), 3);
    assert_int_equal(count_char(s, '\n'), 1);
    assert_non_null(strstr(s, "\033[K"));
    assert_int_equal(s[strlen(s) - 1], '\n');
    free(s);
    fclose(f);
}

static void test_quiet(void **state) {
    (void)state;
    FILE *f = tmpfile();
    ds_progress p;
    ds_progress_start(&p, f, "sample", 10, 10, 1);
    for (int i = 1; i <= 10; i++) ds_progress_batch_at(&p, 1, 1, p.t_start + 10.0 * i);
    ds_progress_finish_at(&p, p.t_start + 100);
    fflush(f);
    assert_int_equal(ftell(f), 0);
    fclose(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rates_and_eta),
        cmocka_unit_test(test_plain_lines_rate_limited),
        cmocka_unit_test(test_terminal_redraw),
        cmocka_unit_test(test_quiet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
