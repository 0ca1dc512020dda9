// The stochastic samplers in whole runs (ds_sample_run): noise that depends on (seed,
// row, draw) only, injected step noise that reproduces the Philox draws, the float
// backend against ref, the sampled distribution of a Gaussian, and the refusals.
#include <omp.h>
#include <stdio.h>

#include "ds_philox.h"
#include "ds_sample.h"
#include "solver_testutil.h"
#include "fatal.h"

enum { DIM = 6, ROWS = 11 };

typedef struct {
    double *x; // n x d
    int64_t d;
} collect;

static int keep_rows(void *user, int64_t first_row, int64_t rows, const double *x) {
    collect *c = user;
    memcpy(c->x + first_row * c->d, x, sizeof(double) * (size_t)(rows * c->d));
    return 0;
}

// The stochastic configurations checked: each sampler, churn with gamma = 0 on some steps.
static void stochastic_opts(int which, ds_solver_opts *o) {
    ds_solver_opts_default(o);
    switch (which) {
    case 0:
        o->solver = "euler", o->s_churn = 3, o->s_tmin = 0.05, o->s_tmax = 20;
        break;
    case 1:
        o->solver = "heun", o->s_churn = 5, o->s_noise = 1.007;
        break;
    case 2:
        o->solver = "euler_ancestral", o->eta = 0.8;
        break;
    case 3:
        o->solver = "dpmpp_sde";
        break;
    case 4:
        o->solver = "dpmpp2m_sde", o->variant = "heun";
        break;
    default:
        o->solver = "dpmpp3m_sde", o->eta = 0.6;
        break;
    }
}
enum { N_CONFIGS = 6 };

// A run of n rows; step_noise (draws x n x d, or NULL) replaces the Philox draws.
static int run(ds_backend *b, const ds_model *m, const ds_solver_opts *o, int64_t n, int64_t batch,
               int steps, const double *step_noise, int64_t draws, double *out) {
    ds_sample_config c;
    ds_sample_config_default(&c);
    c.solver = *o;
    c.schedule.steps = steps;
    c.n = n, c.batch = batch, c.seed = tu_seed() ^ 0x5eed;
    c.step_noise = step_noise, c.step_noise_draws = draws;
    collect k = {out, m->d};
    ds_sample_result r;
    int rc = ds_sample_run(b, m, NULL, &c, keep_rows, &k, &r);
    ds_sample_result_free(&r);
    return rc;
}

// Batch size does not change a row's noise: runs in batches of 11 and of 3 rows agree
// bit for bit on ref; and the step noise injected as the Philox draws themselves
// (draw j of row i under ds_philox_draw_key(seed, j)) reproduces the run bit for bit.
static void test_noise_per_row_and_injected(void **state) {
    (void)state;
    stu_problem p;
    stu_problem_init(&p, tu_seed(), DIM, 1, 0.05, 2.0);
    double a[ROWS * DIM], b3[ROWS * DIM], inj[ROWS * DIM];
    for (int w = 0; w < N_CONFIGS; w++) {
        ds_solver_opts o;
        stochastic_opts(w, &o);
        assert_int_equal(run(p.b, &p.m, &o, ROWS, ROWS, 8, NULL, 0, a), 0);
        assert_int_equal(run(p.b, &p.m, &o, ROWS, 3, 8, NULL, 0, b3), 0);
        assert_memory_equal(a, b3, sizeof a);
        // The schedule of the run: EDM's 8 steps with a final zero.
        ds_schedule_opts so;
        ds_schedule_opts_default(&so);
        so.steps = 8;
        double *s;
        int n;
        assert_int_equal(ds_schedule_build(&so, NULL, NULL, &s, &n), 0);
        int64_t draws;
        assert_int_equal(ds_solver_count_draws(&o, s, n, &draws), 0);
        free(s);
        assert_true(draws >= 7);
        uint64_t seed = tu_seed() ^ 0x5eed;
        double *noise = tu_alloc((size_t)(draws * ROWS * DIM), sizeof(double));
        for (int64_t j = 0; j < draws; j++)
            for (int64_t i = 0; i < ROWS * DIM; i++)
                noise[j * ROWS * DIM + i] =
                    ds_philox_normal(ds_philox_draw_key(seed, j), i / DIM, i % DIM);
        assert_int_equal(run(p.b, &p.m, &o, ROWS, 4, 8, noise, draws, inj), 0);
        assert_memory_equal(a, inj, sizeof a);
        // Different noise changes the output (the draws are used).
        for (int64_t i = 0; i < draws * ROWS * DIM; i++) noise[i] = -noise[i];
        assert_int_equal(run(p.b, &p.m, &o, ROWS, 4, 8, noise, draws, inj), 0);
        assert_true(tu_rel_l2(inj, a, ROWS * DIM) > 1e-3);
        free(noise);
    }
    stu_problem_free(&p);
}

// The float backend draws the same noise: cpu runs agree with ref to float rounding.
// Each of the <= 2 x 8 evaluations and lincombs rounds to float (2^-24 = 6e-8 relative to
// |x|); the steps contract (|coefficients| <= 1 on x) and the noise terms are exact
// draws rounded once, so 16 x 4 x 6e-8 = 4e-6 bounds the relative error; 2e-5 is the
// tolerance.
static void test_cpu_matches_ref(void **state) {
    (void)state;
    stu_problem p;
    stu_problem_init(&p, tu_seed() + 1, DIM, 1, 0.05, 2.0);
    ds_backend *cpu = ds_backend_cpu_new();
    assert_non_null(cpu);
    double want[ROWS * DIM], got[ROWS * DIM];
    for (int w = 0; w < N_CONFIGS; w++) {
        ds_solver_opts o;
        stochastic_opts(w, &o);
        assert_int_equal(run(p.b, &p.m, &o, ROWS, 5, 8, NULL, 0, want), 0);
        assert_int_equal(run(cpu, &p.m, &o, ROWS, 5, 8, NULL, 0, got), 0);
        double err = tu_rel_l2(got, want, ROWS * DIM);
        printf("  %-16s cpu vs ref rel err %.2e\n", o.solver, err);
        assert_true(err <= 2e-5);
    }
    ds_backend_free(cpu);
    stu_problem_free(&p);
}

// The samplers sample the distribution: on a Gaussian N(mu, U diag(lam) U^T) with 256 EDM
// steps, 10000 samples have per-direction means and variances within 6 standard errors
// (mean: sqrt(lam / n); variance: lam sqrt(2 / n) = 1.4% of lam) plus the discretisation
// bias of the variance, which is first order in the step for the ancestral samplers: 14%
// of lam at 64 steps and 5.1% at 256 for dpmpp_sde, 4% for euler_ancestral, under 1.2%
// for heun, dpmpp2m_sde and dpmpp3m_sde (measured with 20000 samples); allowed 7%. An ODE
// solver samples a Gaussian exactly too, so this checks the noise's scale, not its use
// (test_noise_per_row_and_injected and test_compat check that).
static void test_samples_the_gaussian(void **state) {
    (void)state;
    enum { D = 2, N = 10000 };
    stu_problem p;
    stu_problem_init(&p, tu_seed() + 2, D, 1, 0.3, 1.5);
    ds_backend *cpu = ds_backend_cpu_new();
    double *x = tu_alloc(N * D, sizeof(double));
    for (int w = 0; w < N_CONFIGS; w++) {
        ds_solver_opts o;
        stochastic_opts(w, &o);
        assert_int_equal(run(cpu, &p.m, &o, N, 4096, 256, NULL, 0, x), 0);
        for (int k = 0; k < D; k++) {
            const double lam = p.m.eigvals[k];
            double sum = 0, sq = 0;
            for (int i = 0; i < N; i++) {
                double z = 0;
                for (int j = 0; j < D; j++)
                    z += (x[i * D + j] - p.m.mean[j]) * p.m.eigvecs[j * D + k];
                sum += z, sq += z * z;
            }
            double mean = sum / N, var = sq / N - mean * mean;
            printf("  %-16s direction %d: mean %+.4f (sd %.4f), var / lam %.4f\n", o.solver, k,
                   mean, sqrt(lam / N), var / lam);
            assert_true(fabs(mean) <= 6 * sqrt(lam / N) + 0.07 * sqrt(lam));
            assert_true(fabs(var / lam - 1) <= 6 * sqrt(2.0 / N) + 0.07);
        }
    }
    free(x);
    ds_backend_free(cpu);
    stu_problem_free(&p);
}

// Bad options are refused by the solver (and so by the CLI's pre-flight), one line each.
static void test_refusals(void **state) {
    (void)state;
    double sigmas[4] = {10, 1, 0.1, 0};
    int64_t nfe;
    struct {
        const char *solver;
        double churn, tmin, tmax, eta, r;
        const char *expect;
    } bad[] = {
        {"euler", -1, 0, INFINITY, 1, 0.5, "s_churn"},
        {"heun", 1, 2, 1, 1, 0.5, "s_tmin <= s_tmax"},
        {"euler_ancestral", 0, 0, INFINITY, -0.5, 0.5, "eta"},
        {"dpmpp_sde", 0, 0, INFINITY, 1, 1.5, "r must lie"},
        {"heun", 0, 0, INFINITY, 0.5, 0.5, "has no eta"},
        {"dpmpp2m", 1, 0, INFINITY, 1, 0.5, "has no churn"},
        {"dpmpp2m_sde", 0, 0, INFINITY, 1, 0.3, "has no r"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ds_solver_opts o;
        ds_solver_opts_default(&o);
        o.solver = bad[i].solver, o.s_churn = bad[i].churn, o.s_tmin = bad[i].tmin;
        o.s_tmax = bad[i].tmax, o.eta = bad[i].eta, o.sde_r = bad[i].r;
        assert_int_equal(ds_solver_count_nfe(&o, sigmas, 4, &nfe), -1);
        printf("  refused: %s\n", ds_error());
        assert_non_null(strstr(ds_error(), bad[i].expect));
        assert_null(strchr(ds_error(), '\n'));
    }
    ds_solver_opts o;
    ds_solver_opts_default(&o);
    o.solver = "dpmpp2m_sde", o.variant = "trapezoid";
    assert_int_equal(ds_solver_count_nfe(&o, sigmas, 4, &nfe), -1);
    assert_non_null(strstr(ds_error(), "midpoint or heun"));
}

int main(void) {
    omp_set_num_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_noise_per_row_and_injected),
        cmocka_unit_test(test_cpu_matches_ref),
        cmocka_unit_test(test_samples_the_gaussian),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
