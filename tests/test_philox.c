// Philox4x32-10 against the known-answer vectors of Random123, and the normals' moments.
#include <math.h>

#include "ds_philox.h"
#include "testutil.h"

static void check_kat(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1,
                      const uint32_t want[4]) {
    ds_philox_u4 ctr = {{c0, c1, c2, c3}};
    ds_philox_u4 got = ds_philox4x32_10(ctr, k0, k1);
    for (int i = 0; i < 4; i++) assert_int_equal(got.v[i], want[i]);
}

static void test_known_answers(void **state) {
    (void)state;
    const uint32_t zero[4] = {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8};
    const uint32_t ones[4] = {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd};
    const uint32_t pi[4] = {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1};
    check_kat(0, 0, 0, 0, 0, 0, zero);
    check_kat(~0u, ~0u, ~0u, ~0u, ~0u, ~0u, ones);
    check_kat(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, pi);
}

static void test_normal_moments(void **state) {
    (void)state;
    uint64_t seed = tu_seed();
    const int rows = 400, cols = 1000;
    double sum = 0, sq = 0, quart = 0;
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            double z = ds_philox_normal(seed, i, j);
            sum += z, sq += z * z, quart += z * z * z * z;
        }
    double n = (double)rows * cols, mean = sum / n, var = sq / n - mean * mean;
    // Standard errors at n = 4e5: mean 1.6e-3, variance 2.2e-3, fourth moment 1.5e-2.
    assert_true(fabs(mean) < 8e-3);
    assert_true(fabs(var - 1) < 1.2e-2);
    assert_true(fabs(quart / n - 3) < 8e-2);
}

static void test_rows_independent_of_position(void **state) {
    (void)state;
    // The noise of row 7 is the same whether it is drawn alone or inside a batch.
    double a = ds_philox_normal(42, 7, 13), b = ds_philox_normal(42, 7, 13);
    assert_true(a == b);
    assert_true(ds_philox_normal(42, 7, 13) != ds_philox_normal(43, 7, 13));
    assert_true(ds_philox_normal(42, 7, 13) != ds_philox_normal(42, 8, 13));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_normal_moments),
        cmocka_unit_test(test_rows_independent_of_position),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
