// Certified landing (host/solvers/landing.c) through ds_sample_run: landed runs against
// the dense float64 run on fresh random training sets, for one-step and multistep
// solvers, a last step to 0 and a stop at sigma_min; landing triggers and saves NFE;
// other models ignore it; bad eps is refused.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ds_error.h"
#include "ds_sample.h"
#include "testutil.h"

static void test_ref_one_step_solvers(void **state) {
    (void)state;
    tu_check_landing("ref", "euler", 1, 1e-12);
    tu_check_landing("ref", "heun", 1, 1e-12);
    tu_check_landing("ref", "heun", 0, 1e-12);
    tu_check_landing("ref", "dpm2", 0, 1e-12);
}

static void test_ref_multistep_solvers(void **state) {
    (void)state;
    tu_check_landing("ref", "dpmpp3m", 0, 1e-12);
    tu_check_landing("ref", "ipndm", 1, 1e-12);
    tu_check_landing("ref", "lms", 0, 1e-12);
}

static void test_cpu_against_dense_ref(void **state) {
    (void)state;
    tu_check_landing("cpu", "heun", 1, 2e-6);
    tu_check_landing("cpu", "dpmpp2m", 0, 2e-6);
}

// A Gaussian model has no training rows to land on: landing is ignored; a bad eps is
// refused with a message naming it.
static void test_other_models_and_bad_eps(void **state) {
    (void)state;
    ds_model m, g;
    tu_landing_model(&m, tu_seed() + 21);
    ds_data data = m.data;
    ds_fit_opts fo;
    ds_fit_opts_default(&fo);
    if (ds_model_fit(&data, DS_MODEL_GAUSSIAN, &fo, &g)) fail_msg("%s", ds_error());
    ds_backend *b = ds_backend_new("ref");
    double x[LAND_SAMPLES * LAND_D];
    ds_sample_result r;
    tu_landing_run(b, &g, "heun", 1, 1, x, &r);
    assert_int_equal(r.landing, 0);
    assert_int_equal(r.landed, 0);
    assert_true(r.nfe_mean == (double)r.nfe);
    ds_sample_result_free(&r);
    const double bad[] = {0, -1e-9, 2e-3, NAN};
    for (int k = 0; k < 4; k++) {
        ds_sample_config c;
        ds_sample_config_default(&c);
        c.n = 2, c.landing_eps = bad[k];
        assert_int_not_equal(ds_sample_run(b, &m, NULL, &c, NULL, NULL, &r), 0);
        assert_non_null(strstr(ds_error(), "landing eps"));
        ds_sample_result_free(&r);
    }
    ds_backend_free(b);
    ds_model_free(&g);
    ds_model_free(&m);
}

// A landed row is given its training row from the host copy of the data: a model
// without it cannot land, and that is an error naming why (never a dense run that
// reports landing).
static void test_landing_needs_host_rows(void **state) {
    (void)state;
    ds_model m;
    tu_landing_model(&m, tu_seed() + 31);
    ds_backend *b = ds_backend_new("ref");
    void *values = m.data.values;
    m.data.values = NULL;
    ds_landing l;
    assert_int_not_equal(ds_landing_init(&l, b, &m, 4, 1e-8), 0);
    assert_non_null(strstr(ds_error(), "training rows are not on the host"));
    m.data.values = values;
    ds_backend_free(b);
    ds_model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_one_step_solvers),
        cmocka_unit_test(test_ref_multistep_solvers),
        cmocka_unit_test(test_cpu_against_dense_ref),
        cmocka_unit_test(test_other_models_and_bad_eps),
        cmocka_unit_test(test_landing_needs_host_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
