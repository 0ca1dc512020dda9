// The library never exits the process: an allocation it cannot make (too large, or
// overflowing size_t) and a misuse of an entry point return an error with a one-line
// message to the caller, which can go on.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ds_backend.h"
#include "ds_error.h"
#include "ds_solver.h"
#include "testutil.h"

// Under AddressSanitizer an impossible calloc returns NULL (as glibc's does) instead of
// ending the test with a report.
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
    return "allocator_may_return_null=1";
}

static void expect_one_line(const char *what) {
    const char *msg = ds_error();
    printf("  %s\n", msg);
    assert_null(strchr(msg, '\n'));
    if (!strstr(msg, what)) fail_msg("message does not say '%s': %s", what, msg);
}

static void test_try_alloc(void **state) {
    (void)state;
    assert_null(ds_try_alloc(SIZE_MAX / 2, 4, "a table"));
    expect_one_line("a table: size");
    expect_one_line("overflows");
    // 2^62 bytes: more than any address space has, yet no overflow of size_t.
    assert_null(ds_try_alloc((size_t)1 << 42, (size_t)1 << 20, "the rows"));
    expect_one_line("the rows: out of memory allocating");
    void *p = ds_try_alloc(0, 0, "nothing"); // a zero-sized request is a valid pointer
    assert_non_null(p);
    free(p);
}

// A batch no host can hold: batch_new returns NULL on every host backend, and the
// backend stays usable.
static void test_batch_too_large(void **state) {
    (void)state;
    const char *names[2] = {"ref", "cpu"};
    for (int k = 0; k < 2; k++) {
        ds_backend *b = ds_backend_new(names[k]);
        assert_non_null(b);
        assert_null(b->batch_new(b, (int64_t)1 << 32, (int64_t)1 << 28));
        expect_one_line("a batch: out of memory allocating");
        ds_batch *small = b->batch_new(b, 3, 4);
        assert_non_null(small);
        b->batch_free(b, small);
        ds_backend_free(b);
    }
}

// Certified landing set up for 4 rows refuses a batch of 5 (it used to exit).
static void test_landing_batch_too_large(void **state) {
    (void)state;
    double rows[6] = {0.1, -0.2, 0.3, 0.4, -0.5, 0.6};
    ds_model m;
    tu_empirical_model(&m, rows, 3, 2);
    ds_backend *b = ds_backend_new("ref");
    assert_non_null(b);
    ds_landing l;
    assert_int_equal(ds_landing_init(&l, b, &m, 4, 1e-6), 0);
    assert_int_equal(ds_landing_reset(&l, 5), -1);
    expect_one_line("landing: a batch of 5 rows > 4");
    assert_int_equal(ds_landing_reset(&l, 4), 0);
    ds_landing_free(&l);
    ds_backend_free(b);
    ds_model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_try_alloc),
        cmocka_unit_test(test_batch_too_large),
        cmocka_unit_test(test_landing_batch_too_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
