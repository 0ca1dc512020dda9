// Thread counts from the amount of work (host/core/threads.c): a small region runs on the
// calling thread, a large one on all threads, and the count grows with the work in
// between, never above omp_get_max_threads() (OMP_NUM_THREADS).
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "testutil.h"
#include "threads.h"

static void test_counts(void **state) {
    (void)state;
    int max = omp_get_max_threads();
    double u[16];
    tu_fill_uniform(u, 16, tu_seed(), 0, 20); // work from 1 to 2^20 operations
    for (int i = 0; i < 16; i++) assert_int_equal(ds_threads_for(exp2(u[i])), 1);
    assert_int_equal(ds_threads_for(0), 1);
    assert_int_equal(ds_threads_for(1e15), max);
    int last = 1;
    for (double w = 1; w < 1e12; w *= 1.5) {
        int t = ds_threads_for(w);
        assert_true(t >= last && t <= max);
        last = t;
    }
    assert_int_equal(last, max);
}

static const char *program;

// DIFFSAMP_OMP_SERIAL_WORK=0 puts every region on all threads (the benchmark's baseline).
static void test_all_threads(void **state) {
    (void)state;
    assert_int_equal(tu_system("DIFFSAMP_OMP_SERIAL_WORK=0 %s --child", program), 0);
}

int main(int argc, char **argv) {
    program = argv[0];
    if (argc > 1) // the child: the variable is read once, so a fresh process checks it
        return ds_threads_for(1) == omp_get_max_threads() ? 0 : 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_all_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
