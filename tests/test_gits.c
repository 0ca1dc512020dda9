// GITS: the dynamic programme against brute force, the cost matrix against its
// definition, and the schedule's effect on a Gaussian model.
#include <omp.h>
#include <stdio.h>

#include "ds_schedule.h"
#include "gits.h"
#include "multistep_testutil.h"
#include "fatal.h"

// The DP objective of a path: cost[p0][p1] + coeff (cost[p1][p2] + coeff (...)).
static double path_cost(const double *cost, int points, const int *path, int steps, double coeff) {
    double v = 0;
    for (int s = steps - 1; s >= 0; s--) v = cost[path[s] * points + path[s + 1]] + coeff * v;
    return v;
}

// Best objective over all paths from `from` to the last point in `left` steps.
static double brute_force(const double *cost, int points, int from, int left, double coeff,
                          int *path, int depth, int steps) {
    path[depth] = from;
    if (left == 0)
        return from == points - 1 ? path_cost(cost, points, path, steps, coeff) : INFINITY;
    double best = INFINITY;
    for (int next = from + 1; next < points; next++) {
        double v = brute_force(cost, points, next, left - 1, coeff, path, depth + 1, steps);
        if (v < best) best = v;
    }
    return best;
}

static void test_dp_matches_brute_force(void **state) {
    (void)state;
    enum { POINTS = 10 };
    double cost[POINTS * POINTS];
    int path[POINTS], scratch[POINTS];
    uint64_t seed = tu_seed();
    for (int trial = 0; trial < 20; trial++) {
        // Signed costs, as the paper's deviation metric produces.
        tu_fill_uniform(cost, POINTS * POINTS, seed + trial, -0.2, 1.0);
        double coeff = trial % 2 ? 1.15 : 0.9;
        for (int steps = 1; steps < POINTS; steps++) {
            assert_int_equal(gits_dp(cost, POINTS, steps, coeff, path), 0);
            assert_int_equal(path[0], 0);
            assert_int_equal(path[steps], POINTS - 1);
            for (int s = 0; s < steps; s++) assert_true(path[s] < path[s + 1]);
            double best = brute_force(cost, POINTS, 0, steps, coeff, scratch, 0, steps);
            // Same sums in another order: equal to rounding.
            assert_true(fabs(path_cost(cost, POINTS, path, steps, coeff) - best) <=
                        1e-12 * (1 + fabs(best)));
        }
    }
    assert_int_equal(gits_dp(cost, POINTS, POINTS, 1.15, path), -1);
    assert_int_equal(gits_dp(cost, POINTS, 0, 1.15, path), -1);
}

// With an Euler teacher, the one-step prediction to the next grid point is the teacher's
// own next point (cost 0 up to rounding in both metrics), and the l2 cost of the jump
// from the first to the last point is the mean distance of one Euler step from the
// teacher's end, computed here independently.
static void test_cost_matrix_definition(void **state) {
    (void)state;
    enum { DIM = 6, ROWS = 70 }; // 70 rows: two chunks of the teacher runs
    uint64_t seed = tu_seed();
    stu_problem p;
    stu_problem_init(&p, seed, DIM, ROWS, 0.05, 1.5);
    ds_backend *b = p.b;
    int points;
    double *grid = stu_edm(8, &points), cost[9 * 9], dev_last = 0;
    ds_solver_opts euler;
    ds_solver_opts_default(&euler);
    euler.solver = "euler";
    ds_solver_ctx ctx = {.b = b, .model = p.bm};
    for (int metric = 0; metric <= 1; metric++) {
        ctx.nfe = 0;
        assert_int_equal(gits_cost_matrix(&ctx, &euler, grid, points, DIM, ROWS, seed,
                                          (gits_metric)metric, cost),
                         0);
        assert_int_equal(ctx.nfe, (points - 1) * 2); // two chunks of 8 steps
        for (int i = 0; i + 1 < points; i++) assert_true(fabs(cost[i * points + i + 1]) < 1e-10);
        for (int i = 0; i + 2 < points; i++)
            if (metric == GITS_METRIC_L2) assert_true(cost[i * points + i + 2] > 1e-6);
        if (metric == GITS_METRIC_DEV) dev_last = cost[points - 1];
    }
    // l2 cost of the single jump 0 -> last, recomputed from the same (Philox) noise.
    ds_batch *x = b->batch_new(b, ROWS, DIM), *d = b->batch_new(b, ROWS, DIM);
    double x0[ROWS * DIM], end[ROWS * DIM], jump[ROWS * DIM], den[ROWS * DIM];
    assert_int_equal(b->randn(b, x, seed, 0), 0);
    assert_int_equal(b->download(b, x, p.noise), 0);
    for (int e = 0; e < ROWS * DIM; e++) x0[e] = grid[0] * p.noise[e];
    assert_int_equal(b->upload(b, x, x0), 0);
    assert_int_equal(b->denoise(b, p.bm, x, &grid[0], 1, d, NULL), 0);
    assert_int_equal(b->download(b, d, den), 0);
    for (int e = 0; e < ROWS * DIM; e++)
        jump[e] = x0[e] + (grid[points - 1] - grid[0]) * (x0[e] - den[e]) / grid[0];
    int64_t nfe;
    assert_int_equal(mtu_solve(&p, &euler, grid, points, end, &nfe), 0);
    // l2: the distance to the teacher's end; dev: the distance from the line through the
    // teacher's ends, |a - b|^2 - (a - b).u^2 with a the jump, b the end, u the unit line.
    double mean = 0, mean_dev = 0;
    for (int r = 0; r < ROWS; r++) {
        const double *a = jump + r * DIM, *e = end + r * DIM, *x = x0 + r * DIM;
        double s = 0, line2 = 0, along = 0;
        for (int k = 0; k < DIM; k++) {
            s += (a[k] - e[k]) * (a[k] - e[k]);
            line2 += (e[k] - x[k]) * (e[k] - x[k]);
            along += (a[k] - e[k]) * (e[k] - x[k]);
        }
        mean += sqrt(s) / ROWS;
        mean_dev += sqrt(s - along * along / line2) / ROWS;
    }
    // Same arithmetic up to the order of the sums (measured <= 5e-15 relative): 1e-12.
    assert_true(fabs(cost[points - 1] - mean) <= 1e-12 * mean);
    assert_true(fabs(dev_last - mean_dev) <= 1e-12 * mean_dev);
    b->batch_free(b, x);
    b->batch_free(b, d);
    free(grid);
    stu_problem_free(&p);
}

// The point of GITS: on a Gaussian model, the schedule picked with the l2 one-step cost
// (the paper's defaults otherwise: ipndm teacher on a 60-step EDM grid, 256 warm-up
// rows, coefficient 1.15) gives Euler a smaller error at sigma_min than the EDM schedule
// with the same NFE. Measured over 20 models: GITS/EDM error ratio 0.61 to 0.79 for 4 to
// 10 steps; asserted < 0.9.
static void test_schedule_beats_edm_for_euler(void **state) {
    (void)state;
    enum { DIM = 16, ROWS = 200 };
    uint64_t seed = tu_seed();
    stu_problem p; // its noise rows are fresh, not the warm-up ones
    stu_problem_init(&p, seed, DIM, ROWS, 0.01, 2.0);
    int points;
    double *grid = stu_edm(60, &points);
    double *cost = tu_alloc((size_t)(points * points), sizeof(double));
    ds_solver_opts teacher, euler;
    ds_solver_opts_default(&teacher);
    teacher.solver = "ipndm";
    ds_solver_opts_default(&euler);
    euler.solver = "euler";
    ds_solver_ctx ctx = {.b = p.b, .model = p.bm};
    assert_int_equal(
        gits_cost_matrix(&ctx, &teacher, grid, points, DIM, 256, seed, GITS_METRIC_L2, cost), 0);
    for (int steps = 4; steps <= 10; steps += 2) {
        int path[64], n_edm;
        double gits[64], *edm = stu_edm(steps, &n_edm);
        assert_int_equal(gits_dp(cost, points, steps, 1.15, path), 0);
        for (int s = 0; s <= steps; s++) gits[s] = grid[path[s]];
        int64_t nfe_gits, nfe_edm;
        double e_gits = stu_solve_error(&p, &euler, gits, steps + 1, &nfe_gits);
        double e_edm = stu_solve_error(&p, &euler, edm, n_edm, &nfe_edm);
        printf("euler, %d steps: error gits %.3e, edm %.3e (ratio %.2f)\n", steps, e_gits, e_edm,
               e_gits / e_edm);
        assert_int_equal(nfe_gits, nfe_edm);
        assert_true(e_gits >= 0 && e_gits < 0.9 * e_edm);
        free(edm);
    }
    free(grid);
    free(cost);
    stu_problem_free(&p);
}

// ds_schedule_build with kind gits: both end conventions, points of the teacher grid,
// and the bad inputs.
static void test_schedule_build(void **state) {
    (void)state;
    enum { DIM = 5 };
    stu_problem p;
    stu_problem_init(&p, tu_seed(), DIM, 1, 0.05, 1.5);
    ds_solver_ctx ctx = {.b = p.b, .model = p.bm};
    ds_solver_opts solver;
    ds_solver_opts_default(&solver);
    ds_schedule_opts o;
    ds_schedule_opts_default(&o);
    o.kind = "gits";
    o.steps = 6;
    o.gits.warmup = 32;
    o.gits.teacher_steps = 20;
    o.gits.dim = DIM;
    int points;
    double *grid = stu_edm(20, &points);
    for (int zero = 0; zero <= 1; zero++) {
        o.final_zero = zero;
        double *s = NULL;
        int n = 0;
        assert_int_equal(ds_schedule_build(&o, &ctx, &solver, &s, &n), 0);
        // N steps: N + 1 points to sigma_min, or N points then 0.
        assert_int_equal(n, 7);
        assert_true(s[0] == o.sigma_max);
        assert_true(zero ? s[n - 1] == 0 && fabs(s[n - 2] / o.sigma_min - 1) < 1e-12
                         : fabs(s[n - 1] / o.sigma_min - 1) < 1e-12);
        for (int i = 0; i < n - zero; i++) { // every positive sigma is a teacher grid point
            int found = 0;
            for (int j = 0; j < 21; j++) found |= fabs(s[i] / grid[j] - 1) < 1e-12;
            assert_true(found);
        }
        free(s);
    }
    double *s = NULL;
    int n = 0;
    o.gits.teacher_steps = 4;
    assert_int_equal(ds_schedule_build(&o, &ctx, &solver, &s, &n), -1);
    assert_non_null(strstr(ds_error(), "teacher"));
    o.gits.teacher_steps = 20, o.gits.metric = "l1";
    assert_int_equal(ds_schedule_build(&o, &ctx, &solver, &s, &n), -1);
    assert_non_null(strstr(ds_error(), "metric"));
    o.gits.metric = "l2", o.gits.dim = 0;
    assert_int_equal(ds_schedule_build(&o, &ctx, &solver, &s, &n), -1);
    assert_non_null(strstr(ds_error(), "dimension"));
    free(grid);
    stu_problem_free(&p);
}

int main(void) {
    omp_set_num_threads(1); // tiny batches: threads only add overhead
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dp_matches_brute_force),
        cmocka_unit_test(test_cost_matrix_definition),
        cmocka_unit_test(test_schedule_beats_edm_for_euler),
        cmocka_unit_test(test_schedule_build),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
