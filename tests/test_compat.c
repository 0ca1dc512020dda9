// Requirement 6: on Gaussian models and on an empirical model of training rows drawn at
// random in float64, the ref backend reproduces k-diffusion's and diff-sampler's
// sampling loops. The judge is tools/compat/reference_samplers.py, a line-by-line numpy
// (float64) transcription of the reference code (torch is not available here) with the
// closed-form Gaussian or the empirical denoiser in place of the network.
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "ds_io.h"
#include "multistep_testutil.h"
#include "fatal.h"

enum { DIM = 16, ROWS = 5, POINTS = 12, DRAWS = 2 * POINTS, TRAIN_ROWS = 64 };

typedef struct {
    const char *impl, *ref, *ref_args; // the python side
    const char *solver;                // ours, with the options that select the behaviour
    int order, lower_order_final;
    const char *variant;
    int afs, dynamic_threshold, deis_riemann;
} compat_case;

// k-diffusion lists end in 0 (get_sigmas_karras appends it); diff-sampler lists end at
// sigma_min, and its denoise_to_zero is our trailing 0.
static const compat_case cases[] = {
    {"k-diffusion", "euler", "", "euler", 0, 0, NULL, 0, 0, 0},
    {"k-diffusion", "heun", "", "heun", 0, 0, NULL, 0, 0, 0},
    {"k-diffusion", "dpm_2", "", "dpm2", 0, 0, NULL, 0, 0, 0},
    {"k-diffusion", "lms", "order=4", "lms", 4, 0, NULL, 0, 0, 0},
    {"k-diffusion", "dpmpp_2m", "", "dpmpp2m", 2, 0, NULL, 0, 0, 0},
    {"diff-sampler", "euler", "", "euler", 0, 0, NULL, 0, 0, 0},
    {"diff-sampler", "heun", "denoise_to_zero=true", "heun", 0, 0, NULL, 0, 0, 0},
    {"diff-sampler", "dpm_2", "", "dpm2", 0, 0, NULL, 0, 0, 0},
    {"diff-sampler", "euler", "afs=true", "euler", 0, 0, NULL, 1, 0, 0},
    {"diff-sampler", "heun", "afs=true", "heun", 0, 0, NULL, 1, 0, 0},
    {"diff-sampler", "dpm_2", "afs=true denoise_to_zero=true", "dpm2", 0, 0, NULL, 1, 0, 0},
    {"diff-sampler", "dpm_pp", "max_order=3 afs=true", "dpmpp3m", 3, 1, NULL, 1, 1, 0},
    {"diff-sampler", "ipndm", "max_order=4", "ipndm", 4, 0, NULL, 0, 0, 0},
    {"diff-sampler", "ipndm", "max_order=3 afs=true denoise_to_zero=true", "ipndm", 3, 0, NULL, 1,
     0, 0},
    {"diff-sampler", "ipndm_v", "max_order=4", "ipndm_v", 4, 0, NULL, 0, 0, 0},
    {"diff-sampler", "ipndm_v", "max_order=4 afs=true", "ipndm_v", 4, 0, NULL, 1, 0, 0},
    {"diff-sampler", "deis", "max_order=4", "deis", 4, 0, NULL, 0, 0, 10000},
    {"diff-sampler", "deis", "max_order=3 denoise_to_zero=true", "deis", 3, 0, NULL, 0, 0, 10000},
    {"diff-sampler", "dpm_pp", "max_order=2", "dpmpp2m", 2, 1, NULL, 0, 1, 0},
    {"diff-sampler", "dpm_pp", "max_order=3", "dpmpp3m", 3, 1, NULL, 0, 1, 0},
    {"diff-sampler", "dpm_pp", "max_order=3 lower_order_final=false", "dpmpp3m", 3, 0, NULL, 0, 1,
     0},
    {"diff-sampler", "unipc", "max_order=3 variant=bh1", "unipc", 3, 1, "bh1", 0, 1, 0},
    {"diff-sampler", "unipc", "max_order=3 variant=bh2", "unipc", 3, 1, "bh2", 0, 1, 0},
    {"diff-sampler", "unipc", "max_order=2 variant=bh2 afs=true denoise_to_zero=true", "unipc", 2,
     1, "bh2", 1, 1, 0},
    {"diff-sampler", "unipc", "max_order=3 variant=bh1 lower_order_final=false", "unipc", 3, 0,
     "bh1", 0, 1, 0},
    // The stochastic samplers, fed the same injected step noise (their keys are parsed
    // into our options by opts_for). The churn cases have gamma > 0 on some steps only.
    {"k-diffusion", "euler", "s_churn=1.5 s_tmin=0.05 s_tmax=10 s_noise=1.003", "euler", 0, 0, NULL,
     0, 0, 0},
    {"k-diffusion", "heun", "s_churn=2 s_tmin=0.1 s_tmax=20 s_noise=1.007", "heun", 0, 0, NULL, 0,
     0, 0},
    {"k-diffusion", "euler_ancestral", "", "euler_ancestral", 0, 0, NULL, 0, 0, 0},
    {"k-diffusion", "euler_ancestral", "eta=0.6 s_noise=0.95", "euler_ancestral", 0, 0, NULL, 0, 0,
     0},
    {"k-diffusion", "dpmpp_sde", "", "dpmpp_sde", 0, 0, NULL, 0, 0, 0},
    {"k-diffusion", "dpmpp_sde", "eta=0.7 r=0.3 s_noise=1.02", "dpmpp_sde", 0, 0, NULL, 0, 0, 0},
    {"k-diffusion", "dpmpp_sde", "eta=0", "dpmpp_sde", 0, 0, NULL, 0, 0, 0},
    {"k-diffusion", "dpmpp_2m_sde", "", "dpmpp2m_sde", 0, 0, NULL, 0, 0, 0},
    {"k-diffusion", "dpmpp_2m_sde", "solver_type=heun eta=0.5", "dpmpp2m_sde", 0, 0, NULL, 0, 0, 0},
    {"k-diffusion", "dpmpp_3m_sde", "", "dpmpp3m_sde", 0, 0, NULL, 0, 0, 0},
    {"k-diffusion", "dpmpp_3m_sde", "eta=0.4 s_noise=1.01", "dpmpp3m_sde", 0, 0, NULL, 0, 0, 0},
};

static int have_numpy(void) {
    if (tu_system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0) return 1;
    printf("test_compat: skipped: /usr/bin/python3 with numpy is missing\n");
    return 0;
}

static void save(const char *dir, const char *name, const double *x, int ndim, int64_t d0,
                 int64_t d1) {
    char path[1024];
    const int64_t shape[2] = {d0, d1};
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    assert_int_equal(ds_npy_write_f64(path, x, ndim, shape, DS_F64), 0);
}

// Runs the transcription on every case listed in DIR/cases.txt (one python start).
static void run_references(const char *dir) {
    const char *src = getenv("DIFFSAMP_SOURCE_DIR");
    assert_non_null(src);
    assert_int_equal(tu_system("/usr/bin/python3 %s/tools/compat/reference_samplers.py %s "
                               "--cases %s/cases.txt > %s/nfe.txt",
                               src, dir, dir, dir),
                     0);
}

// The NFE, draws and result of case `id` from run_references.
static int64_t read_reference(const char *dir, int id, double *out, int64_t *ref_draws) {
    char path[1024];
    snprintf(path, sizeof path, "%s/nfe.txt", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int got_id;
    long long nfe = -1, found = -1, draws = -1;
    while (fscanf(f, "%d nfe %lld draws %lld", &got_id, &nfe, &draws) == 3)
        if (got_id == id) found = nfe, *ref_draws = draws;
    fclose(f);
    assert_true(found >= 0);
    ds_array a;
    snprintf(path, sizeof path, "%s/out_%d.npy", dir, id);
    assert_int_equal(ds_npy_read(path, &a), 0);
    assert_int_equal(a.dtype, DS_F64);
    assert_int_equal(ds_array_count(&a), ROWS * DIM);
    memcpy(out, a.data, sizeof(double) * ROWS * DIM);
    ds_array_free(&a);
    return found;
}

static void opts_for(const compat_case *k, ds_solver_opts *o) {
    ds_solver_opts_default(o);
    o->solver = k->solver;
    o->order = k->order;
    o->lower_order_final = k->lower_order_final;
    if (k->variant) o->variant = k->variant;
    o->afs = k->afs;
    o->dynamic_threshold = k->dynamic_threshold;
    o->deis_riemann = k->deis_riemann;
    if (strcmp(k->impl, "k-diffusion")) return;
    // The stochastic samplers' keyword arguments, by their k-diffusion names.
    char args[256];
    snprintf(args, sizeof args, "%s", k->ref_args);
    for (char *tok = strtok(args, " "); tok; tok = strtok(NULL, " ")) {
        char *eq = strchr(tok, '=');
        assert_non_null(eq);
        *eq = '\0';
        double v = atof(eq + 1);
        if (!strcmp(tok, "s_churn"))
            o->s_churn = v;
        else if (!strcmp(tok, "s_tmin"))
            o->s_tmin = v;
        else if (!strcmp(tok, "s_tmax"))
            o->s_tmax = v;
        else if (!strcmp(tok, "s_noise"))
            o->s_noise = v;
        else if (!strcmp(tok, "eta"))
            o->eta = v;
        else if (!strcmp(tok, "r"))
            o->sde_r = v;
        else if (!strcmp(tok, "solver_type"))
            o->variant = !strcmp(eq + 1, "heun") ? "heun" : "midpoint";
        else if (strcmp(tok, "order"))
            fail_msg("test_compat: unknown k-diffusion key %s", tok);
    }
}

// Compares every pair on one model; returns the number of pairs compared. On the wide
// and empirical models the thresholding acts: a pair whose reference thresholds is
// compared only if our solver applies dynamic_threshold (its output changes), otherwise
// reported.
static int compare_all(stu_problem *p, const char *name, int wide) {
    enum { NCASES = sizeof cases / sizeof cases[0] };
    const char *dir = tu_tmpdir();
    const ds_model *m = &p->m;
    double ref[ROWS * DIM], plain[ROWS * DIM];
    double sigmas[POINTS + 1];
    static double got[NCASES][ROWS * DIM], step_noise[DRAWS * ROWS * DIM];
    int64_t nfe[NCASES], draws[NCASES];
    // Fresh standard normals for the stochastic samplers' draws (not exact in float).
    tu_fill_normal(step_noise, DRAWS * ROWS * DIM, tu_seed() + 7 + (uint64_t)wide);
    const ds_step_noise steps = {step_noise, DRAWS, ROWS, DIM, 0};
    int compare[NCASES] = {0};
    int points;
    double *edm = stu_edm(POINTS - 1, &points);
    assert_int_equal(points, POINTS);
    memcpy(sigmas, edm, sizeof(double) * POINTS);
    free(edm);
    sigmas[POINTS] = 0;
    char rows_path[1024];
    snprintf(rows_path, sizeof rows_path, "%s/rows.npy", dir);
    remove(rows_path);
    if (m->kind == DS_MODEL_EMPIRICAL) {
        assert_int_equal(m->data.dtype, DS_F64); // the rows as drawn, in float64
        save(dir, "rows", m->data.values, 2, m->data.n, DIM);
    } else {
        save(dir, "mean", m->mean, 1, DIM, 0);
        save(dir, "eigvecs", m->eigvecs, 2, DIM, DIM);
        save(dir, "eigvals", m->eigvals, 1, DIM, 0);
    }
    save(dir, "noise", p->noise, 2, ROWS, DIM);
    save(dir, "sigmas", sigmas, 1, POINTS + 1, 0);
    char path[1024];
    snprintf(path, sizeof path, "%s/step_noise.npy", dir);
    const int64_t noise_shape[3] = {DRAWS, ROWS, DIM};
    assert_int_equal(ds_npy_write_f64(path, step_noise, 3, noise_shape, DS_F64), 0);
    snprintf(path, sizeof path, "%s/cases.txt", dir);
    FILE *list = fopen(path, "w");
    assert_non_null(list);
    for (int c = 0; c < NCASES; c++) {
        const compat_case *k = &cases[c];
        int to_zero = !strcmp(k->impl, "k-diffusion") || strstr(k->ref_args, "denoise_to_zero");
        int n = POINTS + to_zero;
        ds_solver_opts o;
        opts_for(k, &o);
        int64_t plain_nfe;
        if (mtu_solve_noisy(p, &o, sigmas, n, &steps, got[c], &nfe[c], &draws[c]) != 0) {
            // A solver still being written elsewhere is reported, not silently passed.
            assert_non_null(strstr(ds_error(), "not implemented"));
            printf("test_compat: skipped %s %s (%s): %s\n", k->impl, k->ref, k->ref_args,
                   ds_error());
            continue;
        }
        if (k->dynamic_threshold || k->afs) {
            // The options must change the result; a solver that ignores them (still to be
            // wired up elsewhere) is reported, not compared.
            o.dynamic_threshold = o.afs = 0;
            assert_int_equal(mtu_solve(p, &o, sigmas, n, plain, &plain_nfe), 0);
            int same = tu_rel_l2(plain, got[c], ROWS * DIM) == 0 && plain_nfe == nfe[c];
            // On the narrow model the thresholding alone is the identity.
            if (!wide && !k->afs) assert_true(same);
            if (same && (wide || k->afs)) {
                printf("test_compat: not compared on the %s model: solver %s ignores %s\n", name,
                       k->solver, k->afs ? "afs" : "dynamic_threshold");
                continue;
            }
        }
        // k-diffusion is given the list with its 0; diff-sampler the list to sigma_min.
        fprintf(list, "%d %d %s %s %s\n", c, strcmp(k->impl, "k-diffusion") ? POINTS : n, k->impl,
                k->ref, k->ref_args);
        compare[c] = 1;
    }
    fclose(list);
    run_references(dir);
    int ran = 0;
    for (int c = 0; c < NCASES; c++) {
        if (!compare[c]) continue;
        const compat_case *k = &cases[c];
        int64_t ref_draws;
        int64_t ref_nfe = read_reference(dir, c, ref, &ref_draws);
        double err = tu_rel_l2(got[c], ref, ROWS * DIM);
        printf("%-9s %-12s %-15s %-48s nfe %lld / %lld  draws %lld / %lld  rel err %.2e\n", name,
               k->impl, k->ref, k->ref_args, (long long)nfe[c], (long long)ref_nfe,
               (long long)draws[c], (long long)ref_draws, err);
        assert_int_equal(nfe[c], ref_nfe);
        assert_int_equal(draws[c], ref_draws);
        // Both sides are float64 and follow the same formulas; only the order of the
        // roundings differs: each of the <= 2 x 13 steps adds a few ulps (2^-52 = 2.2e-16)
        // relative to |x|, amplified by at most the step's coefficients (|coef| < 4 on
        // these schedules), so ~26 x 4 x 4 x 2.2e-16 = 1e-13 bounds it (measured <= 2e-14).
        // The empirical flow also amplifies a difference by the Jacobian of D,
        // Cov_w(y) / sigma^2, up to |y_a - y_b|^2 / (4 sigma^2) ~ 8 per step for a query
        // between two rows (|y_a - y_b| ~ sqrt(2 d) ~ 5.7 at sigma ~ 1): a property of
        // the problem, not of either code. Measured <= 6.2e-12 over 42 seeds (dpm_pp and
        // ipndm of order 3-4, whose multistep coefficients add to it); 1e-10 leaves a 16x
        // margin and still catches a float32 rounding of the rows (~3e-8).
        assert_true(err <= (m->kind == DS_MODEL_EMPIRICAL ? 1e-10 : 1e-12));
        ran++;
    }
    return ran;
}

static void test_reference_loops(void **state) {
    (void)state;
    if (!have_numpy()) {
        skip();
        return;
    }
    uint64_t seed = tu_seed();
    stu_problem wide, narrow;
    // Wide: eigenvalues up to 1.6, so the denoised values exceed 1 and diff-sampler's
    // dynamic thresholding changes them. Narrow: eigenvalues <= 0.01 and a mean within
    // +-0.3, so |D| < 1 stays (~7 standard deviations) and the thresholding is the
    // identity (checked on our side), which lets every solver be compared.
    stu_problem_init(&wide, seed, DIM, ROWS, 0.02, 1.6);
    stu_problem_init(&narrow, seed + 100, DIM, ROWS, 0.001, 0.01);
    for (int i = 0; i < DIM; i++)
        narrow.m.mean[i] = narrow.m.means[i] = 0.3 * tanh(narrow.m.means[i]);
    // Empirical: 64 training rows drawn at random in float64 (standard normal, so |D|
    // exceeds 1 and the thresholding acts, as on the wide model).
    stu_problem emp = {.rows = ROWS};
    double *train = tu_alloc(TRAIN_ROWS * DIM, sizeof(double));
    tu_fill_normal(train, TRAIN_ROWS * DIM, seed + 200);
    tu_empirical_model(&emp.m, train, TRAIN_ROWS, DIM);
    free(train);
    emp.b = ds_backend_ref_new();
    emp.bm = emp.b->bind(emp.b, &emp.m);
    emp.noise = tu_alloc(ROWS * DIM, sizeof(double));
    tu_fill_normal(emp.noise, ROWS * DIM, seed + 201);
    int ran = compare_all(&wide, "wide", 1) + compare_all(&narrow, "narrow", 0) +
              compare_all(&emp, "empirical", 1);
    printf("test_compat: %d of %zu pairs compared\n", ran, 3 * sizeof cases / sizeof cases[0]);
    assert_true(ran > 0);
    stu_problem_free(&wide);
    stu_problem_free(&narrow);
    stu_problem_free(&emp);
}

int main(void) {
    // Batches of 5 rows: threads only add overhead (and waits on a loaded machine).
    omp_set_num_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_loops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
