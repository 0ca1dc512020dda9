// Memory planning: sizes parsed, the planned batch the largest that fits, refusal with
// the amount needed.
#include <stdio.h>
#include <string.h>

#include "bytes.h"
#include "ds_error.h"
#include "mem_plan.h"
#include "testutil.h"

static void test_parse_bytes(void **state) {
    (void)state;
    uint64_t v;
    assert_int_equal(ds_parse_bytes("123", &v), 0);
    assert_true(v == 123);
    assert_int_equal(ds_parse_bytes("64K", &v), 0);
    assert_true(v == 65536);
    assert_int_equal(ds_parse_bytes("512M", &v), 0);
    assert_true(v == 512ull << 20);
    assert_int_equal(ds_parse_bytes("1.5G", &v), 0);
    assert_true(v == 3ull << 29);
    assert_int_equal(ds_parse_bytes("2GiB", &v), 0);
    assert_true(v == 2ull << 30);
    assert_int_equal(ds_parse_bytes("1t", &v), 0);
    assert_true(v == 1ull << 40);
    const char *bad[] = {"", "G", "-1G", "12X", "1.5GG", "nan", "1e30G"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ds_parse_bytes(bad[i], &v), -1);
        assert_non_null(strstr(ds_error(), "bad memory size"));
    }
}

// Files take whole blocks: the disk pre-check of sample counts these, not bytes.
static void test_disk_bytes(void **state) {
    (void)state;
    assert_int_equal(ds_disk_bytes(0, 4096), 0);
    assert_int_equal(ds_disk_bytes(1, 4096), 4096);
    assert_int_equal(ds_disk_bytes(4096, 4096), 4096);
    assert_int_equal(ds_disk_bytes(4097, 4096), 8192);
    assert_int_equal(ds_disk_bytes(1000, 0), 1000);
    uint64_t state_ = tu_seed() | 1;
    for (int i = 0; i < 1000; i++) {
        state_ = state_ * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t bytes = state_ >> 20, block = 512u << (state_ % 5);
        uint64_t disk = ds_disk_bytes(bytes, block);
        assert_true(disk % block == 0 && disk >= bytes && disk - bytes < block);
    }
}

static void test_plan_is_largest_fitting_batch(void **state) {
    (void)state;
    double u[5 * 50];
    tu_fill_uniform(u, 5 * 50, tu_seed(), 0, 1);
    for (int t = 0; t < 50; t++) {
        const double *w = u + 5 * t;
        ds_model m;
        memset(&m, 0, sizeof m);
        m.kind = t % 3 == 0 ? DS_MODEL_EMPIRICAL : t % 3 == 1 ? DS_MODEL_GMM : DS_MODEL_GAUSSIAN;
        m.d = 1 + (int64_t)(w[0] * 4000);
        m.data.n = 1 + (int64_t)(w[1] * 100000);
        m.k = m.kind == DS_MODEL_GMM ? 1 + (int64_t)(w[2] * 20) : 1;
        m.r = 1 + (int64_t)(w[2] * (double)(m.d - 1));
        ds_mem_request req = {.batch = 1 + (int64_t)(w[3] * 5000),
                              .elem_bytes = t % 2 ? 4 : 8,
                              .batch_buffers = 6,
                              .limit = (uint64_t)(w[4] * 4e9),
                              .limit_what = "--max-memory"};
        ds_mem_plan p;
        int rc = ds_mem_plan_make(&m, &req, &p);
        uint64_t one_row = p.model_bytes + p.per_row_bytes;
        if (one_row > req.limit) {
            assert_int_equal(rc, -1);
            char need[32];
            ds_format_bytes(one_row, need, sizeof need);
            assert_non_null(strstr(ds_error(), need));
            continue;
        }
        assert_int_equal(rc, 0);
        assert_true(p.batch >= 1 && p.batch <= req.batch);
        assert_true(p.total_bytes <= req.limit);
        // Maximal: one more row would not fit (unless the request was met).
        if (p.batch < req.batch) assert_true(p.total_bytes + p.per_row_bytes > req.limit);
        // The empirical model holds its N x d training rows.
        if (m.kind == DS_MODEL_EMPIRICAL)
            assert_true(p.model_bytes >= (uint64_t)(m.data.n * m.d * req.elem_bytes));
    }
}

static void test_no_limit_keeps_batch(void **state) {
    (void)state;
    ds_model m;
    memset(&m, 0, sizeof m);
    m.kind = DS_MODEL_EMPIRICAL, m.d = 784, m.data.n = 60000;
    ds_mem_request req = {.batch = 4096, .elem_bytes = 4, .batch_buffers = 6};
    ds_mem_plan p;
    assert_int_equal(ds_mem_plan_make(&m, &req, &p), 0);
    assert_int_equal(p.batch, 4096);
    // 60000 x 785 + 784 floats, and per row 6 x 784 + 60000 floats.
    assert_true(p.model_bytes == 4ull * (60000 * 785 + 784));
    assert_true(p.per_row_bytes == 4ull * (6 * 784 + 60000));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_bytes),
        cmocka_unit_test(test_disk_bytes),
        cmocka_unit_test(test_plan_is_largest_fitting_batch),
        cmocka_unit_test(test_no_limit_keeps_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
