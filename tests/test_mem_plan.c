// Memory planning: sizes parsed, the planned batch the largest that fits, refusal with
// the amount needed.
#include <stdio.h>
#include <string.h>

#include "bytes.h"
#include "ds_error.h"
#include "ds_backend.h"
#include "ds_sample.h"
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

// The bytes of a run of `rows` rows as the planner must count them: the backend's memory
// entry plus `batches` solver batches of rows x d values.
static uint64_t run_bytes(ds_backend *b, const ds_model *m, int batches, int64_t rows) {
    ds_backend_memory mem;
    b->memory(b, m, rows, &mem);
    return mem.model_bytes + mem.batch_bytes +
           (uint64_t)batches * (uint64_t)rows * (uint64_t)m->d * (b->f64 ? 8u : 4u);
}

static void test_plan_is_largest_fitting_batch(void **state) {
    (void)state;
    double u[5 * 50];
    tu_fill_uniform(u, 5 * 50, tu_seed(), 0, 1);
    ds_backend *backends[2] = {ds_backend_new("ref"), ds_backend_new("cpu")};
    for (int t = 0; t < 50; t++) {
        const double *w = u + 5 * t;
        ds_backend *b = backends[t % 2];
        ds_model m;
        memset(&m, 0, sizeof m);
        m.kind = t % 3 == 0 ? DS_MODEL_EMPIRICAL : t % 3 == 1 ? DS_MODEL_GMM : DS_MODEL_GAUSSIAN;
        m.d = 1 + (int64_t)(w[0] * 4000);
        m.data.n = 1 + (int64_t)(w[1] * 100000);
        m.k = m.kind == DS_MODEL_GMM ? 1 + (int64_t)(w[2] * 20) : 1;
        m.r = 1 + (int64_t)(w[2] * (double)(m.d - 1));
        ds_mem_request req = {.batch = 1 + (int64_t)(w[3] * 5000),
                              .batches = 6,
                              .limit = (uint64_t)(w[4] * 4e9),
                              .limit_what = "--max-memory"};
        ds_mem_plan p;
        int rc = ds_mem_plan_make(b, &m, &req, &p);
        // The rows streamed from the data set (cpu's empirical model) when their copy does
        // not fit: the smaller of the two needs decides.
        ds_model streamed = m;
        streamed.stream_rows = 1;
        uint64_t one_row = run_bytes(b, &m, req.batches, 1);
        uint64_t one_streamed = run_bytes(b, &streamed, req.batches, 1);
        if (one_streamed < one_row && one_row > req.limit) one_row = one_streamed;
        if (one_row > req.limit) {
            assert_int_equal(rc, -1);
            char need[32];
            ds_format_bytes(one_row, need, sizeof need);
            assert_non_null(strstr(ds_error(), need));
            continue;
        }
        assert_int_equal(rc, 0);
        // Streamed only where the copy did not fit one row, and only on cpu.
        assert_int_equal(p.stream_rows, run_bytes(b, &m, req.batches, 1) > req.limit);
        if (p.stream_rows) assert_true(m.kind == DS_MODEL_EMPIRICAL && !b->f64);
        const ds_model *planned = p.stream_rows ? &streamed : &m;
        assert_true(p.batch >= 1 && p.batch <= req.batch);
        assert_true(p.total_bytes == run_bytes(b, planned, req.batches, p.batch));
        assert_true(p.total_bytes <= req.limit);
        // Maximal: one more row would not fit (unless the request was met).
        if (p.batch < req.batch)
            assert_true(run_bytes(b, planned, req.batches, p.batch + 1) > req.limit);
        // The empirical model holds its N x d training rows, unless streamed.
        if (m.kind == DS_MODEL_EMPIRICAL && !p.stream_rows)
            assert_true(p.model_bytes >= (uint64_t)(m.data.n * m.d) * (b->f64 ? 8u : 4u));
    }
    for (int i = 0; i < 2; i++) ds_backend_free(backends[i]);
}

// An empirical model of Fashion-MNIST's shape: n rows of 784 values.
static ds_model empirical_model(int64_t n) {
    ds_model m;
    memset(&m, 0, sizeof m);
    m.kind = DS_MODEL_EMPIRICAL, m.d = 784, m.data.n = n;
    return m;
}

// The cpu empirical denoiser streams the training rows in chunks: its workspace is
// O(B x chunk), the same for 60,000 rows as for 600,000 (up to 58 threads, each with
// its chunks), and stops growing at its row block; not N logits per batch row.
static void test_cpu_workspace_is_chunked(void **state) {
    (void)state;
    ds_model m = empirical_model(60000), ten = empirical_model(600000);
    ds_backend *b = ds_backend_new("cpu");
    ds_backend_memory small, big, more_rows;
    b->memory(b, &m, 1024, &small);
    b->memory(b, &m, 4096, &big);
    b->memory(b, &ten, 1024, &more_rows);
    // float rows and |y|^2 / 2; the pruning index: 32 float projections and a norm per
    // row, 784 x 32 double directions
    assert_true(small.model_bytes ==
                60000ull * (784 * 4 + 8) + 60000ull * (32 * 4 + 8) + 784ull * 32 * 8);
    uint64_t basis = 784ull * 32 * 8; // the same for any N
    assert_true(more_rows.model_bytes - basis == 10 * (small.model_bytes - basis));
    assert_true(more_rows.batch_bytes == small.batch_bytes);
    assert_true(big.batch_bytes == small.batch_bytes);
    assert_true(small.available > 0);
    ds_backend_free(b);
}

// A limit the whole batch fits under keeps the batch asked for.
static void test_fitting_limit_keeps_batch(void **state) {
    (void)state;
    ds_model m = empirical_model(60000);
    ds_backend *b = ds_backend_new("ref");
    ds_mem_request req = {.batch = 4096, .batches = 6, .limit = 1ull << 50, .limit_what = "x"};
    ds_mem_plan p;
    assert_int_equal(ds_mem_plan_make(b, &m, &req, &p), 0);
    assert_int_equal(p.batch, 4096);
    assert_true(p.total_bytes == run_bytes(b, &m, 6, 4096));
    ds_backend_free(b);
}

// The solvers' batches, counted by running them: Euler keeps x and D; Heun x, D, the
// predicted x and its D.
static void test_solver_batches_counted(void **state) {
    (void)state;
    double s[4] = {80, 5, 0.5, 0};
    ds_solver_opts o;
    ds_solver_opts_default(&o);
    int64_t nfe;
    int batches;
    o.solver = "euler";
    assert_int_equal(ds_solver_count(&o, s, 4, &nfe, &batches), 0);
    assert_int_equal(batches, 2);
    o.solver = "heun";
    assert_int_equal(ds_solver_count(&o, s, 4, &nfe, &batches), 0);
    assert_int_equal(batches, 4);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_bytes),
        cmocka_unit_test(test_disk_bytes),
        cmocka_unit_test(test_plan_is_largest_fitting_batch),
        cmocka_unit_test(test_cpu_workspace_is_chunked),
        cmocka_unit_test(test_fitting_limit_keeps_batch),
        cmocka_unit_test(test_solver_batches_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
