// Teleportation and trajectories through ds_sample_run on a Gaussian data set: DESIGN.md's
// EDM figures, teleport-then-solve against solve-without-teleport, the landing rules,
// and the recorded trajectory against the ref backend.
#include "ds_sample.h"
#include "solver_testutil.h"

#include <omp.h>

static ds_sample_config config(const char *solver) {
    ds_sample_config c;
    ds_sample_config_default(&c);
    c.solver.solver = solver;
    c.n = 5, c.batch = 2, c.seed = tu_seed();
    return c;
}

static int keep(void *user, int64_t first_row, int64_t rows, const double *x) {
    memcpy((double *)user + first_row * 16, x, sizeof(double) * (size_t)(rows * 16));
    return 0;
}

static void run(stu_problem *p, const ds_sample_config *c, double *x, ds_sample_result *r) {
    if (ds_sample_run(p->b, &p->m, &p->m, c, keep, x, r)) fail_msg("%s", ds_error());
}

// EDM, 18 steps, Heun: skipping 2 / 4 / 6 steps lands at sigma 40.8 / 19.4 / 8.4 and costs
// 31 / 27 / 23 NFE instead of 35.
static void test_design_figures(void **state) {
    (void)state;
    stu_problem p;
    stu_problem_init(&p, tu_seed(), 16, 1, 1e-3, 4);
    const double land[3] = {40.8, 19.4, 8.4};
    const int64_t nfe[3] = {31, 27, 23};
    double x[5 * 16];
    for (int k = 0; k < 3; k++) {
        ds_sample_config c = config("heun");
        c.teleport.fraction = (2.0 * (k + 1)) / 18;
        ds_sample_result r;
        run(&p, &c, x, &r);
        printf("  skip %d steps: sigma %.4f, NFE %lld of %lld\n", 2 * (k + 1), r.sigma_start,
               (long long)r.nfe, (long long)r.nfe_full);
        assert_true(fabs(r.sigma_start - land[k]) < 0.05);
        assert_int_equal(r.nfe, nfe[k]);
        assert_int_equal(r.nfe_full, 35);
        ds_sample_result_free(&r);
    }
    stu_problem_free(&p);
}

// On a Gaussian model the jump is exact, so teleporting changes the result only by the
// solver's own error on the skipped part: below the full run's error against the closed
// form (Heun, 200 steps), and below 1e-8 for the adaptive solver at tolerance 1e-10.
static void test_teleport_equals_solve(void **state) {
    (void)state;
    stu_problem p;
    stu_problem_init(&p, tu_seed(), 16, 1, 1e-3, 4);
    const char *solvers[2] = {"heun", "adaptive"};
    for (int k = 0; k < 2; k++) {
        ds_sample_config c = config(solvers[k]);
        c.schedule.steps = 200, c.schedule.final_zero = 0;
        c.solver.rtol = c.solver.atol = 1e-10;
        double full[5 * 16], tele[5 * 16], exact[5 * 16];
        ds_sample_result r;
        run(&p, &c, full, &r);
        ds_sample_result_free(&r);
        c.teleport.sigma = 5.0;
        run(&p, &c, tele, &r);
        // The exact flow of the same noise.
        ds_batch *x = p.b->batch_new(p.b, 5, 16);
        assert_int_equal(p.b->randn(p.b, x, c.seed, 0), 0);
        const ds_batch *in[1] = {x};
        double s0 = 80;
        assert_int_equal(p.b->lincomb(p.b, x, 1, &s0, in), 0);
        p.b->gaussian_flow(p.b, p.bm, x, 80, 0.002, x);
        assert_int_equal(p.b->download(p.b, x, exact), 0);
        p.b->batch_free(p.b, x);
        double diff = tu_rel_l2(tele, full, 5 * 16), err = tu_rel_l2(full, exact, 5 * 16);
        printf("  %s: |teleport - full| %.3e, |full - exact| %.3e, NFE %lld of %lld\n", solvers[k],
               diff, err, (long long)r.nfe, (long long)r.nfe_full);
        assert_true(diff <= (k ? 1e-8 : err));
        if (!k) assert_true(r.nfe < r.nfe_full);
        ds_sample_result_free(&r);
    }
    stu_problem_free(&p);
}

static void test_landing_rules(void **state) {
    (void)state;
    const double s[6] = {80, 40, 20, 10, 1, 0};
    ds_teleport_opts t = {0};
    double skip;
    int first;
    assert_int_equal(ds_teleport_plan(s, 6, &t, &skip, &first), 0);
    assert_true(skip == 80 && first == 1);
    t.sigma = 15; // off the grid: jump to 15, continue at 10
    assert_int_equal(ds_teleport_plan(s, 6, &t, &skip, &first), 0);
    assert_true(skip == 15 && first == 3);
    t.sigma = 20; // on the grid: that point
    assert_int_equal(ds_teleport_plan(s, 6, &t, &skip, &first), 0);
    assert_true(skip == 20 && first == 3);
    double *out;
    int n_out;
    assert_int_equal(ds_teleport_schedule(s, 6, &t, &out, &n_out), 0);
    assert_int_equal(n_out, 4);
    assert_true(out[0] == 20 && out[1] == 10 && out[3] == 0);
    free(out);
    const double outside[3] = {80, 100, -1}; // the start, above it, negative
    for (int i = 0; i < 3; i++) {
        t.sigma = outside[i];
        assert_int_equal(ds_teleport_plan(s, 6, &t, &skip, &first), -1);
    }
    t.sigma = 1; // the end of a list that stops at 1
    assert_int_equal(ds_teleport_plan(s, 5, &t, &skip, &first), -1);
    t.sigma = 0, t.fraction = 0.4; // 2 of 5 steps
    assert_int_equal(ds_teleport_plan(s, 6, &t, &skip, &first), 0);
    assert_true(skip == 20 && first == 3);
    t.fraction = 0.95; // all 5 steps
    assert_int_equal(ds_teleport_plan(s, 6, &t, &skip, &first), -1);
    t.fraction = 0.4, t.sigma = 15; // both
    assert_int_equal(ds_teleport_plan(s, 6, &t, &skip, &first), -1);
}

// The recorded trajectory: x_0 is the (teleported) start, the last x the samples,
// denoised[i] = D(x_i; sigma_i) by the ref backend, and rows independent of the batch.
static void test_trajectory(void **state) {
    (void)state;
    stu_problem p;
    stu_problem_init(&p, tu_seed(), 16, 1, 1e-3, 4);
    ds_sample_config c = config("dpmpp2m");
    c.schedule.steps = 6;
    c.teleport.fraction = 1.0 / 6;
    c.record_trajectory = 1;
    double x[5 * 16], x1[5 * 16];
    ds_sample_result r, r1;
    run(&p, &c, x, &r);
    c.batch = 1;
    run(&p, &c, x1, &r1);
    const ds_trajectory *t = &r.trajectory;
    assert_int_equal(t->points, 6); // 80 -> skip one step -> 5 steps remain
    assert_true(t->sigmas[0] == r.sigma_start && t->sigmas[5] == 0);
    assert_true(memcmp(x, x1, sizeof x) == 0);
    assert_true(memcmp(t->x, r1.trajectory.x, sizeof(double) * 6 * 5 * 16) == 0);
    assert_true(memcmp(t->x + 5 * 5 * 16, x, sizeof x) == 0);
    ds_batch *in = p.b->batch_new(p.b, 5, 16), *out = p.b->batch_new(p.b, 5, 16);
    double want[5 * 16];
    for (int i = 0; i < 5; i++) {
        assert_int_equal(p.b->upload(p.b, in, t->x + i * 5 * 16), 0);
        p.b->denoise(p.b, p.bm, in, &t->sigmas[i], 1, out, NULL);
        assert_int_equal(p.b->download(p.b, out, want), 0);
        assert_true(tu_rel_l2(t->denoised + i * 5 * 16, want, 5 * 16) < 1e-15);
    }
    char prefix[4096];
    snprintf(prefix, sizeof prefix, "%s/traj", tu_tmpdir());
    assert_int_equal(ds_trajectory_write(t, prefix, 1), 0);
    const char *names[3] = {"x", "denoised", "sigmas"};
    const int64_t lead[3] = {6, 5, 6};
    for (int k = 0; k < 3; k++) {
        char path[4200];
        snprintf(path, sizeof path, "%s_%s.npy", prefix, names[k]);
        ds_array a;
        assert_int_equal(ds_npy_read(path, &a), 0);
        assert_int_equal(a.shape[0], lead[k]);
        assert_int_equal(a.ndim, k == 2 ? 1 : 3);
        ds_array_free(&a);
    }
    p.b->batch_free(p.b, in);
    p.b->batch_free(p.b, out);
    ds_sample_result_free(&r);
    ds_sample_result_free(&r1);
    stu_problem_free(&p);
}

int main(void) {
    // The problems are tiny: one thread saves the start-up of a parallel region per call.
    omp_set_num_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_design_figures),
        cmocka_unit_test(test_teleport_equals_solve),
        cmocka_unit_test(test_landing_rules),
        cmocka_unit_test(test_trajectory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
