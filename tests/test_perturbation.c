// Perturbations along a run (ds_perturbation_run) and the "which image" flips (ds_flips).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ds_analysis.h"
#include "testutil.h"

// The flip rule on memorisation results made by hand.
static void test_flip_rule(void **state) {
    (void)state;
    int64_t nb[4] = {0, 1, 2, 3}, np[4] = {0, 2, 2, 5};
    double rb[4] = {0.1, 0.1, 0.1, 0.1}, rp[4] = {0.1, 0.1, 0.5, 0.9};
    ds_memorization base = {4, nb, NULL, NULL, rb, 0}, pert = {4, np, NULL, NULL, rp, 0};
    int flip[4], changed[4];
    ds_flips(&base, &pert, flip, changed);
    const int want_changed[4] = {0, 1, 0, 1}, want_flip[4] = {0, 1, 0, 0};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(changed[i], want_changed[i]);
        assert_int_equal(flip[i], want_flip[i]);
    }
}

enum { N = 24, D = 8 };

// Flips through ds_memorization_compute on random training rows: a sample moved onto
// another training row flips, one left on its row does not, and one moved far from every
// row (100 times the rows' scale: d1 / d2 > 0.9) is not memorised, so it never flips.
static void test_flips_on_training_rows(void **state) {
    (void)state;
    uint64_t seed = tu_seed();
    double rows[N * D], noise[4 * D], base[4 * D], pert[4 * D];
    tu_fill_normal(rows, N * D, seed);
    tu_fill_normal(noise, 4 * D, seed + 1);
    ds_model m;
    tu_empirical_model(&m, rows, N, D);
    // base: rows 0..3 plus 1e-3 noise (random rows of 8 normals lie ~4 apart, so d1/d2 ~
    // 1e-3: memorised). pert: 0 stays, 1 -> row 7, 2 -> far away, 3 -> row 11.
    const int target[4] = {0, 7, -1, 11};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < D; j++) {
            base[i * D + j] = rows[i * D + j] + 1e-3 * noise[i * D + j];
            pert[i * D + j] = target[i] >= 0 ? rows[target[i] * D + j] + 1e-3 * noise[i * D + j]
                                             : 100 * noise[i * D + j];
        }
    ds_memorization mb, mp;
    assert_int_equal(ds_memorization_compute(&m.data, base, 4, &mb), 0);
    assert_int_equal(ds_memorization_compute(&m.data, pert, 4, &mp), 0);
    int flip[4], changed[4];
    ds_flips(&mb, &mp, flip, changed);
    assert_true(flip[0] == 0 && changed[0] == 0);
    assert_true(flip[1] == 1 && changed[1] == 1 && mp.nearest[1] == 7);
    assert_true(flip[2] == 0 && mp.ratio[2] >= DS_MEMORIZED_RATIO);
    assert_true(flip[3] == 1 && mp.nearest[3] == 11);
    ds_memorization_free(&mb);
    ds_memorization_free(&mp);
    ds_model_free(&m);
}

static void small_config(ds_sample_config *c, const char *solver, uint64_t seed) {
    ds_sample_config_default(c);
    c->solver.solver = solver;
    c->schedule.steps = 8;
    c->n = 6;
    c->batch = 4; // two batches: restarts go through the batch loop too
    c->seed = seed;
    c->no_landing = 1; // the restart then repeats the run's arithmetic exactly
}

// On the empirical model with Euler (a one-step solver) the restart from x_k retraces the
// run: the same steps on the same state, to float64 rounding of x_k / sigma_k * sigma_k
// (1e-16 relative, grown by at most the steps' Lipschitz factor; 1e-9 leaves room).
// change is |perturbed - restart| / |restart|, recomputed.
static void test_restart_retraces(void **state) {
    (void)state;
    uint64_t seed = tu_seed();
    double rows[N * D];
    tu_fill_normal(rows, N * D, seed);
    ds_model m;
    tu_empirical_model(&m, rows, N, D);
    ds_sample_config c;
    small_config(&c, "euler", seed);
    ds_backend *b = ds_backend_new("ref");
    ds_perturbation p;
    assert_int_equal(ds_perturbation_run(b, &m, &c, 0.05, &p), 0);
    assert_int_equal(p.steps, 8);
    for (int k = 0; k < p.steps; k++) {
        double *r = p.restart + (size_t)k * c.n * D;
        assert_true(tu_rel_l2(r, p.base, c.n * D) < 1e-9);
        double err[6];
        ds_rel_error_rows(p.perturbed + (size_t)k * c.n * D, r, c.n, D, err);
        for (int i = 0; i < c.n; i++) assert_true(err[i] == p.change[k * c.n + i]);
    }
    ds_perturbation_free(&p);
    // Refused: a stochastic sampler, a teleport, a size that is not > 0.
    ds_sample_config bad = c;
    bad.solver.solver = "euler_ancestral";
    assert_int_equal(ds_perturbation_run(b, &m, &bad, 0.05, &p), -1);
    bad = c;
    bad.teleport.fraction = 0.25;
    assert_int_equal(ds_perturbation_run(b, &m, &bad, 0.05, &p), -1);
    assert_int_equal(ds_perturbation_run(b, &m, &c, 0, &p), -1);
    ds_backend_free(b);
    ds_model_free(&m);
}

// On a Gaussian model every solver step is linear in x (the denoiser is affine), so the
// final sample is an affine map of x_k: the change from a perturbation of size s is
// exactly proportional to s. Twice the size, twice the change, to float64 rounding
// (the map's condition times 1e-16; 1e-9 relative leaves room).
static void test_gaussian_linear(void **state) {
    (void)state;
    uint64_t seed = tu_seed();
    double rows[200 * D];
    tu_fill_normal(rows, 200 * D, seed);
    ds_data data = {.n = 200, .d = D, .dtype = DS_F64, .values = rows};
    ds_fit_opts fo;
    ds_fit_opts_default(&fo);
    ds_model g;
    assert_int_equal(ds_model_fit(&data, DS_MODEL_GAUSSIAN, &fo, &g), 0);
    ds_sample_config c;
    small_config(&c, "heun", seed);
    ds_backend *b = ds_backend_new("ref");
    ds_perturbation p1, p2;
    assert_int_equal(ds_perturbation_run(b, &g, &c, 1e-3, &p1), 0);
    assert_int_equal(ds_perturbation_run(b, &g, &c, 2e-3, &p2), 0);
    for (int e = 0; e < p1.steps * c.n; e++)
        assert_true(fabs(p2.change[e] - 2 * p1.change[e]) <= 1e-9 * p2.change[e]);
    ds_perturbation_free(&p1);
    ds_perturbation_free(&p2);
    ds_backend_free(b);
    ds_model_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flip_rule),
        cmocka_unit_test(test_flips_on_training_rows),
        cmocka_unit_test(test_restart_retraces),
        cmocka_unit_test(test_gaussian_linear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
