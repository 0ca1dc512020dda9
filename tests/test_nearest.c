// nearest (baseline): D(x; sigma) is the training row nearest to x at every sigma, on ref
// and cpu, judged against a brute-force search (tu_nearest_row), on random queries and
// on queries between two training rows (where the choice is close).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ds_backend.h"
#include "ds_error.h"
#include "testutil.h"

// Rows whose two smallest squared distances differ by more than 1e-4 relative (well
// above float32 rounding of the query, 2^-24 relative in each term) must give exactly
// the nearest row on both backends (the cpu backend's rows are float32 copies).
static void test_nearest_row_on_ref_and_cpu(void **state) {
    (void)state;
    const int64_t n = 500, d = 40, rows = 24;
    double *y = malloc(sizeof(double) * n * d), x[960], out[960];
    tu_fill_uniform(y, n * d, tu_seed(), -1, 1);
    ds_model m;
    tu_empirical_model(&m, y, n, d);
    m.kind = DS_MODEL_NEAREST;
    tu_fill_uniform(x, rows * d, tu_seed() + 1, -1, 1);
    for (int64_t i = 0; i < rows / 2; i++) // between rows i and i + 1, nearer to one
        for (int64_t j = 0; j < d; j++)
            x[i * d + j] =
                0.47 * ds_data_value(&m.data, i, j) + 0.53 * ds_data_value(&m.data, i + 1, j);
    const char *backends[2] = {"ref", "cpu"};
    for (int b = 0; b < 2; b++)
        for (double sigma = 1e-3; sigma < 1e3; sigma *= 100) {
            tu_denoise(backends[b], &m, x, rows, sigma, out);
            int checked = 0;
            for (int64_t i = 0; i < rows; i++) {
                double best, second;
                int64_t k = tu_nearest_row(&m.data, x + i * d, &best, &second);
                if (second - best <= 1e-4 * best) continue;
                checked++;
                for (int64_t j = 0; j < d; j++) { // the row itself (on cpu, as float32)
                    double want = ds_data_value(&m.data, k, j);
                    assert_true(out[i * d + j] == (b ? (double)(float)want : want));
                }
            }
            printf("%s sigma %g: %d of %lld rows checked\n", backends[b], sigma, checked,
                   (long long)rows);
            assert_true(checked >= rows / 2);
        }
    ds_model_free(&m);
    free(y);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nearest_row_on_ref_and_cpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
