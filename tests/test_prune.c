// Certified pruning of the cpu empirical denoiser (host/backends/cpu_prune.c), on fresh
// random clustered data: the certificate row by row (every skipped row's weight <= eps
// x top weight / N, the top row kept, the skipped mass <= the bound the denoiser
// reports), that it skips nearly every row at a small sigma and none at a large one (so
// the checks cannot pass vacuously), pruned sampling runs against the dense ref run, and
// the options' refusals. (The pruned denoiser against ref at every sigma, with the
// per-row tolerances, is a path of test_backend_ops.)
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_prune.h"
#include "ds_error.h"
#include "ds_sample.h"
#include "testutil.h"

enum { N = 800, D = 48, QUERIES = 12, SAMPLES = 6 };

// N rows c + 0.3 z around 8 random cluster centres c ~ N(0.5, 0.64): close neighbours in
// a cluster, so the softmax is broad at sigma ~ 1 and one-hot below ~0.05.
static void clustered_model(ds_model *m, uint64_t seed) {
    double *c = malloc(sizeof(double) * 8 * D), *y = malloc(sizeof(double) * N * D);
    assert_non_null(c), assert_non_null(y);
    tu_fill_normal(c, 8 * D, seed);
    tu_fill_normal(y, N * D, seed + 1);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++)
            y[i * D + j] = 0.5 + 0.8 * c[(i % 8) * D + j] + 0.3 * y[i * D + j];
    tu_empirical_model(m, y, N, D);
    free(c), free(y);
}

// The rows as the cpu empirical denoiser keeps them: centred, rounded to float.
typedef struct {
    float y[N * D];
    double half_sq[N];
    cpu_rows rows;
} float_rows;

static void make_rows(const ds_model *m, float_rows *f) {
    double y_norm = 0;
    for (int i = 0; i < N; i++) {
        double s = 0;
        for (int j = 0; j < D; j++) {
            f->y[i * D + j] = (float)(ds_data_value(&m->data, i, j) - m->mean[j]);
            s += (double)f->y[i * D + j] * f->y[i * D + j];
        }
        f->half_sq[i] = s / 2;
        y_norm = fmax(y_norm, sqrt(s));
    }
    f->rows = (cpu_rows){N, D, f->y, f->half_sq, m->mean, y_norm};
}

// Query q of a batch at sigma: a training row plus sigma times fresh noise, in float.
static void make_query(const ds_model *m, double sigma, uint64_t seed, float *x) {
    double z[D], pick;
    tu_fill_normal(z, D, seed);
    tu_fill_uniform(&pick, 1, seed + 1, 0, N);
    for (int j = 0; j < D; j++)
        x[j] = (float)(ds_data_value(&m->data, (int)pick, j) + sigma * z[j]);
}

// Row by row against the float64 softmax over the same float rows: each skipped row's
// w_i / w_top <= eps / N, the top row kept, and the skipped mass <= the mass bound that
// cpu_prune_denoise reports for this query alone. Returns the rows skipped, in
// *pruned whether the query was pruned.
static int64_t check_query(cpu_prune *p, ds_prune_stats *st, const ds_model *m, const float *x,
                           double sigma, double eps, int *pruned) {
    uint8_t keep[N];
    *pruned = cpu_prune_kept(p, x, sigma, keep);
    assert_true(*pruned >= 0);
    double kept, lost; // sums of w_i / w_top
    int64_t skipped = tu_check_prune_keep(m, x, sigma, eps, keep, &kept, &lost);
    // The same query through the denoiser: pruned exactly when the certificate says so,
    // and its reported mass bound covers the true skipped mass.
    float out[D];
    uint8_t done = 0;
    *st = (ds_prune_stats){.eps = eps};
    if (cpu_prune_denoise(p, x, 1, &sigma, 1, out, NULL, &done)) fail_msg("%s", ds_error());
    assert_int_equal(done, *pruned);
    if (*pruned) {
        double mass = lost / (kept + lost);
        assert_int_equal(st->pairs_skipped, skipped);
        if (!(mass <= st->mass_max && st->mass_max <= eps))
            fail_msg("sigma %g: skipped mass %.3g, reported bound %.3g (eps %g)", sigma, mass,
                     st->mass_max, eps);
    }
    return skipped;
}

static void test_certificate_row_by_row(void **state) {
    (void)state;
    ds_model m;
    uint64_t seed = tu_seed();
    clustered_model(&m, seed + 1);
    static float_rows f;
    make_rows(&m, &f);
    // The largest eps allowed (skipped rows carry measurable mass) and the default.
    const double eps_list[] = {1e-3, 1e-12};
    const double sigmas[] = {0.02, 0.05, 0.1, 0.3, 1, 3, 20};
    for (int e = 0; e < 2; e++) {
        ds_prune_stats st;
        cpu_prune *p = cpu_prune_new(&f.rows, eps_list[e], &st);
        if (!p) fail_msg("%s", ds_error());
        for (int s = 0; s < 7; s++) {
            int64_t skipped = 0, pruned = 0;
            for (int q = 0; q < QUERIES; q++) {
                float x[D];
                int was_pruned;
                make_query(&m, sigmas[s], seed + 100 + 10 * (uint64_t)(s * QUERIES + q), x);
                skipped += check_query(p, &st, &m, x, sigmas[s], eps_list[e], &was_pruned);
                pruned += was_pruned;
            }
            printf("eps %g sigma %-5g: %lld of %d queries pruned, %.1f%% of the rows skipped\n",
                   eps_list[e], sigmas[s], (long long)pruned, QUERIES,
                   100.0 * (double)skipped / (QUERIES * N));
            // Not vacuous: at sigma 0.02 the threshold 2 sigma^2 ln(N / eps) <= 0.03 is far
            // below the projected distance to a cluster neighbour (~0.18 x chi^2_6), so
            // every query keeps a handful of rows; at sigma 20 the softmax is flat.
            if (sigmas[s] == 0.02) {
                assert_int_equal(pruned, QUERIES);
                assert_true(skipped >= (int64_t)(0.95 * QUERIES * N));
            }
            if (sigmas[s] == 20) assert_int_equal(pruned, 0);
        }
        cpu_prune_free(p);
    }
    ds_model_free(&m);
}

static int keep_samples(void *user, int64_t first, int64_t rows, const double *x) {
    memcpy((double *)user + first * D, x, sizeof(double) * (size_t)(rows * D));
    return 0;
}

static void sample(const char *backend, const ds_model *m, int prune, int final_zero, double *x,
                   ds_sample_result *r) {
    ds_backend *b = ds_backend_new(backend);
    assert_non_null(b);
    ds_sample_config c;
    ds_sample_config_default(&c);
    c.n = SAMPLES, c.batch = 4, c.seed = tu_seed() + 3;
    c.schedule.final_zero = final_zero;
    c.no_landing = 1; // every evaluation down to sigma_min: where pruning skips the most
    c.prune = prune;
    if (ds_sample_run(b, m, NULL, &c, keep_samples, x, r)) fail_msg("%s", ds_error());
    ds_backend_free(b);
}

// Heun, 18 steps, with pruning on cpu against the dense float64 ref run, per sample:
// the cpu backend's float rounding (2e-6 relative after 18 steps, as in test_landing)
// plus pruning's change, at most change_max relative per evaluation, carried by the
// solver with coefficients summing to <= 2 in magnitude (landing.c): 4 change_max.
static void test_pruned_sampling_vs_dense_ref(void **state) {
    (void)state;
    ds_model m;
    clustered_model(&m, tu_seed() + 5);
    for (int final_zero = 0; final_zero < 2; final_zero++) {
        double dense[SAMPLES * D], pruned[SAMPLES * D];
        ds_sample_result rd, rp;
        sample("ref", &m, 0, final_zero, dense, &rd);
        sample("cpu", &m, 1, final_zero, pruned, &rp);
        assert_int_equal(rd.pruning, 0);
        assert_int_equal(rp.pruning, 1);
        const ds_prune_stats *p = &rp.prune;
        printf("final_zero %d: %lld of %lld pairs skipped, %lld of %lld evaluations pruned, "
               "mass <= %.2g, change <= %.2g, flops %.3g of %.3g\n",
               final_zero, (long long)p->pairs_skipped, (long long)p->pairs,
               (long long)p->queries_pruned, (long long)p->queries, p->mass_max, p->change_max,
               p->flops, p->flops_dense);
        // The schedule's last evaluations are at sigma <= 0.05: pruned, nearly all skipped.
        assert_true(p->queries_pruned >= 2 * SAMPLES);
        assert_true(p->pairs_skipped > p->pairs / 10);
        assert_true(p->flops < p->flops_dense);
        assert_true(p->mass_max <= 1e-12 && p->change_max < 1e-9);
        assert_int_equal(p->queries, SAMPLES * rp.nfe);
        for (int s = 0; s < SAMPLES; s++) {
            double err = tu_rel_l2(pruned + s * D, dense + s * D, D);
            if (!(err <= 2e-6 + 4 * p->change_max))
                fail_msg("final_zero %d sample %d: relative error %.3g", final_zero, s, err);
        }
        ds_sample_result_free(&rd), ds_sample_result_free(&rp);
    }
    ds_model_free(&m);
}

// --prune where the backend cannot (ref, the dense judge) is refused; a prune eps outside
// (0, 1e-3] is refused with a message naming it; other models ignore pruning; off is off;
// on cpu the default prunes.
static void test_options(void **state) {
    (void)state;
    ds_model m, g;
    clustered_model(&m, tu_seed() + 9);
    ds_fit_opts fo;
    ds_fit_opts_default(&fo);
    if (ds_model_fit(&m.data, DS_MODEL_GAUSSIAN, &fo, &g)) fail_msg("%s", ds_error());
    ds_backend *ref = ds_backend_new("ref"), *cpu = ds_backend_new("cpu");
    ds_sample_config c;
    ds_sample_result r;
    ds_sample_config_default(&c);
    c.n = 2, c.schedule.steps = 4, c.prune = 1;
    assert_int_not_equal(ds_sample_run(ref, &m, NULL, &c, NULL, NULL, &r), 0);
    assert_non_null(strstr(ds_error(), "--prune: backend ref"));
    ds_sample_result_free(&r);
    const double bad[] = {0, -1e-9, 2e-3, NAN};
    for (int k = 0; k < 4; k++) {
        c.prune_eps = bad[k];
        assert_int_not_equal(ds_sample_run(cpu, &m, NULL, &c, NULL, NULL, &r), 0);
        assert_non_null(strstr(ds_error(), "prune eps"));
        assert_null(strchr(ds_error(), '\n'));
        ds_sample_result_free(&r);
    }
    c.prune_eps = 1e-12;
    const int settings[] = {1, -1, 0};
    for (int k = 0; k < 3; k++) {
        c.prune = settings[k];
        assert_int_equal(ds_sample_run(cpu, &g, NULL, &c, NULL, NULL, &r), 0);
        assert_int_equal(r.pruning, 0); // the Gaussian: nothing to prune
        ds_sample_result_free(&r);
        assert_int_equal(ds_sample_run(cpu, &m, NULL, &c, NULL, NULL, &r), 0);
        assert_int_equal(r.pruning, settings[k] >= 0);
        ds_sample_result_free(&r);
    }
    ds_backend_free(ref), ds_backend_free(cpu);
    ds_model_free(&m), ds_model_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_certificate_row_by_row),
        cmocka_unit_test(test_pruned_sampling_vs_dense_ref),
        cmocka_unit_test(test_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
