// .npy round trips.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_error.h"
#include "ds_io.h"
#include "testutil.h"

static void roundtrip(ds_dtype dtype, int ndim, const int64_t *shape) {
    char path[600];
    snprintf(path, sizeof path, "%s/a.npy", tu_tmpdir());
    int64_t count = 1;
    for (int i = 0; i < ndim; i++) count *= shape[i];
    double *x = malloc(sizeof(double) * (size_t)(count ? count : 1));
    tu_fill_normal(x, count, tu_seed() + (uint64_t)count);
    assert_int_equal(ds_npy_write_f64(path, x, ndim, shape, dtype), 0);
    ds_array a;
    assert_int_equal(ds_npy_read(path, &a), 0);
    assert_int_equal(a.dtype, dtype);
    assert_int_equal(a.ndim, ndim);
    for (int i = 0; i < ndim; i++) assert_int_equal(a.shape[i], shape[i]);
    for (int64_t i = 0; i < count; i++) {
        double v = dtype == DS_F64 ? ((double *)a.data)[i] : ((float *)a.data)[i];
        double want = dtype == DS_F64 ? x[i] : (double)(float)x[i];
        assert_true(v == want);
    }
    ds_array_free(&a);
    free(x);
}

static void test_roundtrip_shapes(void **state) {
    (void)state;
    const int64_t s1[] = {17}, s2[] = {5, 7}, s3[] = {3, 4, 5}, s4[] = {2, 3, 8, 8}, s0[] = {0, 4};
    for (int t = 0; t < 2; t++) {
        ds_dtype dt = t ? DS_F64 : DS_F32;
        roundtrip(dt, 1, s1);
        roundtrip(dt, 2, s2);
        roundtrip(dt, 3, s3);
        roundtrip(dt, 4, s4);
        roundtrip(dt, 2, s0);
    }
}

static void test_missing_file(void **state) {
    (void)state;
    ds_array a;
    assert_int_equal(ds_npy_read("/nonexistent/x.npy", &a), -1);
    assert_non_null(strstr(ds_error(), "/nonexistent/x.npy"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_shapes),
        cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
