// Callback models (the caller's own denoiser) through the callback backend: a Gaussian
// denoiser written as a plain C function against the built-in Gaussian model on ref, for
// every solver and with teleportation; the cancel hook; errors of the callback; the
// "list" schedule.
#include "ds_sample.h"
#include "solver_testutil.h"

enum { D = 16, N = 5 };

// The Gaussian denoiser mu + Sigma (Sigma + s^2 I)^-1 (x - mu), computed independently of
// the ref backend: Sigma (Sigma + s^2 I)^-1 = U diag(lam / (lam + s^2)) U^T assembled
// as a full d x d matrix in long double.
typedef struct {
    const ds_model *gauss;
    int calls, fail_at, cancel_at;
} gauss_fn_state;

static int gauss_fn(void *user, const double *x, const double *sigma, int64_t rows, int64_t d,
                    double *out) {
    gauss_fn_state *st = user;
    const ds_model *g = st->gauss;
    if (++st->calls == st->fail_at) return ds_fail("test denoiser: failing on purpose");
    for (int64_t i = 0; i < rows; i++) {
        long double s2 = (long double)sigma[i] * sigma[i];
        for (int64_t a = 0; a < d; a++) {
            long double acc = g->means[a];
            for (int64_t b = 0; b < d; b++) {
                long double w = 0;
                for (int64_t j = 0; j < d; j++)
                    w += (long double)g->eigvecs[a * d + j] * g->eigvecs[b * d + j] *
                         (g->eigvals[j] / (g->eigvals[j] + s2));
                acc += w * (x[i * d + b] - g->means[b]);
            }
            out[i * d + a] = (double)acc;
        }
    }
    return 0;
}

static int keep(void *user, int64_t first_row, int64_t rows, const double *x) {
    memcpy((double *)user + first_row * D, x, sizeof(double) * (size_t)(rows * D));
    return 0;
}

static ds_sample_config config(const char *solver, uint64_t seed) {
    ds_sample_config c;
    ds_sample_config_default(&c);
    c.solver.solver = solver;
    c.schedule.steps = 12;
    c.n = N, c.batch = 2, c.seed = seed;
    return c;
}

// Every solver, without and with a teleport (the jump uses the built-in Gaussian, the
// solve after it the callback). Both runs make the same operations on the same inputs
// but for the denoiser, whose two forms differ by rounding: each evaluation by ~d eps
// relative (2e-15 for d = 16, the long double sum rounded once), and the solvers (stable
// on the contracting Gaussian flow) carry that forward growing at most with the number
// of evaluations: 23 for the fixed-step ones (5e-14), 163 for adaptive at its default
// tolerance (3e-13; its step decisions see the same rounding-level differences). Tested
// at 1e-12, the figure.
static void test_callback_equals_gaussian(void **state) {
    (void)state;
    uint64_t seed = tu_seed();
    stu_problem p;
    stu_problem_init(&p, seed, D, 1, 1e-2, 4);
    gauss_fn_state st = {.gauss = &p.m};
    ds_model cb;
    if (ds_model_callback(D, gauss_fn, &st, &cb)) fail_msg("%s", ds_error());
    ds_backend *wrapped = ds_backend_callback_new(ds_backend_ref_new());
    assert_non_null(wrapped);
    assert_string_equal(wrapped->name, "ref");
    const char *solvers[] = {"euler", "heun",  "dpm2",    "dpmpp2m", "dpmpp3m", "lms",
                             "unipc", "ipndm", "ipndm_v", "deis",    "adaptive"};
    for (size_t k = 0; k < sizeof solvers / sizeof solvers[0]; k++)
        for (int tele = 0; tele < 2; tele++) {
            ds_sample_config c = config(solvers[k], seed);
            if (tele) c.teleport.sigma = 5.0;
            double want[N * D], got[N * D];
            ds_sample_result r1, r2;
            if (ds_sample_run(p.b, &p.m, &p.m, &c, keep, want, &r1)) fail_msg("%s", ds_error());
            if (ds_sample_run(wrapped, &cb, &p.m, &c, keep, got, &r2)) fail_msg("%s", ds_error());
            double err = tu_rel_l2(got, want, N * D);
            printf("  %-8s teleport %d: rel. error %.3g, NFE %lld\n", solvers[k], tele, err,
                   (long long)r2.nfe);
            assert_true(err < 1e-12);
            assert_int_equal(r1.nfe, r2.nfe);
            ds_sample_result_free(&r1);
            ds_sample_result_free(&r2);
        }
    ds_backend_free(wrapped);
    ds_model_free(&cb);
    stu_problem_free(&p);
}

static int cancel_after(void *user) {
    gauss_fn_state *st = user;
    return st->calls >= st->cancel_at;
}

// The cancel hook stops a run before the next evaluation; a failing callback stops it
// with the callback's message; a callback model on a plain backend, on the Gaussian
// flow, or saved is refused.
// A native denoiser (ds_model_callback_native): records the batch views it gets and
// evaluates gauss_fn on them (float32 batches through a double copy, as the host path's
// download and upload convert).
typedef struct {
    gauss_fn_state g;
    int calls;
    ds_batch_view x, out;
} native_state;

static int native_fn(void *user, const ds_batch_view *x, const double *sigma, ds_batch_view *out) {
    native_state *st = user;
    st->calls++, st->x = *x, st->out = *out;
    int64_t count = x->rows * x->cols;
    double xd[N * D] = {0}, od[N * D];
    if (count > N * D) return ds_fail("test native denoiser: %lld values", (long long)count);
    for (int64_t e = 0; e < count; e++)
        xd[e] = x->f64 ? ((const double *)x->data)[e] : ((const float *)x->data)[e];
    int rc = gauss_fn(&st->g, xd, sigma, x->rows, x->cols, od);
    for (int64_t e = 0; e < count; e++)
        if (out->f64)
            ((double *)out->data)[e] = od[e];
        else
            ((float *)out->data)[e] = (float)od[e];
    return rc;
}

static int native_as_host(void *user, const double *x, const double *sigma, int64_t rows, int64_t d,
                          double *out) {
    return gauss_fn(&((native_state *)user)->g, x, sigma, rows, d, out);
}

// On ref (float64) and cpu (float32) the native denoiser gets the batches themselves (the
// same addresses, the backend's dtype, host memory) and its output equals the host-double
// path's bit for bit (both convert float32 to double and back the same way); a backend
// whose batches it does not accept calls the host path.
static void test_native_batches(void **state) {
    (void)state;
    uint64_t seed = tu_seed();
    stu_problem p;
    stu_problem_init(&p, seed, D, 1, 1e-2, 4);
    const char *names[] = {"ref", "cpu"};
    for (int k = 0; k < 2; k++)
        for (int accept_it = 0; accept_it < 2; accept_it++) {
            native_state st = {.g = {.gauss = &p.m}};
            ds_model cb;
            if (ds_model_callback(D, native_as_host, &st, &cb)) fail_msg("%s", ds_error());
            unsigned own = k == 0 ? DS_ACCEPT_HOST_F64 : DS_ACCEPT_HOST_F32;
            unsigned accepts = accept_it ? own : (DS_ACCEPT_HOST_F64 | DS_ACCEPT_HOST_F32) & ~own;
            if (ds_model_callback_native(&cb, native_fn, accepts)) fail_msg("%s", ds_error());
            ds_backend *b = ds_backend_callback_new(ds_backend_new(names[k]));
            assert_non_null(b);
            ds_bound_model *bm = b->bind(b, &cb);
            assert_non_null(bm);
            double x[N * D], sig[N], got[N * D], want[N * D];
            tu_fill_normal(x, N * D, seed + 1);
            for (int i = 0; i < N; i++) sig[i] = 0.1 + i;
            ds_batch *xb = b->batch_new(b, N, D), *ob = b->batch_new(b, N, D);
            assert_int_equal(b->upload(b, xb, x), 0);
            if (b->denoise(b, bm, xb, sig, N, ob, NULL)) fail_msg("%s", ds_error());
            assert_int_equal(b->download(b, ob, got), 0);
            // the host path on the same batch: download, gauss_fn, upload
            double xd[N * D], od[N * D];
            assert_int_equal(b->download(b, xb, xd), 0);
            assert_int_equal(gauss_fn(&st.g, xd, sig, N, D, od), 0);
            assert_int_equal(b->upload(b, ob, od), 0);
            assert_int_equal(b->download(b, ob, want), 0);
            assert_memory_equal(got, want, sizeof got);
            assert_int_equal(st.calls, accept_it);
            if (accept_it) {
                assert_ptr_equal(st.x.data, xb->data);
                assert_ptr_equal(st.out.data, ob->data);
                assert_int_equal(st.x.f64, k == 0);
                assert_int_equal(st.x.device, DS_DEVICE_HOST);
                assert_true(st.x.rows == N && st.x.cols == D && st.out.rows == N);
            }
            b->batch_free(b, xb);
            b->batch_free(b, ob);
            b->unbind(b, bm);
            ds_backend_free(b);
            ds_model_free(&cb);
        }
    ds_model cb;
    if (ds_model_callback(D, native_as_host, NULL, &cb)) fail_msg("%s", ds_error());
    assert_int_not_equal(ds_model_callback_native(&cb, native_fn, 0), 0);
    assert_non_null(strstr(ds_error(), "accepted batches"));
    assert_int_not_equal(ds_model_callback_native(&cb, NULL, DS_ACCEPT_HOST_F64), 0);
    assert_int_not_equal(ds_model_callback_native(&p.m, native_fn, DS_ACCEPT_HOST_F64), 0);
    ds_model_free(&cb);
    stu_problem_free(&p);
}

static void test_cancel_and_errors(void **state) {
    (void)state;
    uint64_t seed = tu_seed();
    stu_problem p;
    stu_problem_init(&p, seed, D, 1, 1e-2, 4);
    gauss_fn_state st = {.gauss = &p.m, .cancel_at = 3};
    ds_model cb;
    if (ds_model_callback(D, gauss_fn, &st, &cb)) fail_msg("%s", ds_error());
    ds_backend *wrapped = ds_backend_callback_new(ds_backend_ref_new());
    ds_sample_config c = config("heun", seed);
    c.cancel = cancel_after, c.cancel_user = &st;
    double x[N * D];
    ds_sample_result r;
    assert_int_equal(ds_sample_run(wrapped, &cb, NULL, &c, keep, x, &r), -1);
    assert_string_equal(ds_error(), "interrupted");
    assert_int_equal(st.calls, 3);
    ds_sample_result_free(&r);

    st.calls = 0, st.fail_at = 2;
    c.cancel = NULL;
    assert_int_equal(ds_sample_run(wrapped, &cb, NULL, &c, keep, x, &r), -1);
    assert_string_equal(ds_error(), "test denoiser: failing on purpose");
    ds_sample_result_free(&r);

    assert_null(p.b->bind(p.b, &cb));
    assert_non_null(strstr(ds_error(), "callback backend"));
    ds_bound_model *bm = wrapped->bind(wrapped, &cb);
    ds_batch *v = wrapped->batch_new(wrapped, 2, D);
    assert_int_equal(wrapped->gaussian_flow(wrapped, bm, v, 1.0, 0.5, v), -1);
    wrapped->batch_free(wrapped, v);
    wrapped->unbind(wrapped, bm);
    assert_int_equal(ds_model_save(&cb, tu_tmpdir()), -1);
    assert_non_null(strstr(ds_error(), "cannot be saved"));
    ds_model_free(&cb);
    assert_int_equal(ds_model_callback(0, gauss_fn, &st, &cb), -1);
    ds_backend_free(wrapped);
    stu_problem_free(&p);
}

// A "list" schedule is the caller's sigmas as given, and is checked like a file's.
static void test_list_schedule(void **state) {
    (void)state;
    double given[4] = {10.0, 1.5, 0.25, 0.0};
    tu_fill_uniform(given + 1, 1, tu_seed(), 1.0, 9.0);
    ds_schedule_opts o;
    ds_schedule_opts_default(&o);
    o.kind = "list", o.list = given, o.n_list = 4;
    double *s;
    int n;
    if (ds_schedule_build(&o, NULL, NULL, &s, &n)) fail_msg("%s", ds_error());
    assert_int_equal(n, 4);
    assert_memory_equal(s, given, sizeof given);
    free(s);
    given[2] = 20.0;
    assert_int_equal(ds_schedule_build(&o, NULL, NULL, &s, &n), -1);
    assert_non_null(strstr(ds_error(), "schedule list"));
    o.list = NULL;
    assert_int_equal(ds_schedule_build(&o, NULL, NULL, &s, &n), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_callback_equals_gaussian),
        cmocka_unit_test(test_native_batches),
        cmocka_unit_test(test_cancel_and_errors),
        cmocka_unit_test(test_list_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
