// Backend conformance (in the manner of ggml's test-backend-ops): every primitive of
// every backend in the table below (batches, copy, lincomb, randn, denoise of each model
// kind, the local ones included, the Gaussian flow, refusals, a whole Heun run) judged against the
// float64 ref backend on the same generated models and inputs with the same per-case tolerances. A
// new backend gets the whole suite by adding one row to `backends`.
//
// DIFFSAMP_TEST_BACKEND=name picks one row (ctest: test_backend_ops runs cpu,
// test_backend_ops_cuda runs cuda and skips visibly without a device, the emulator
// build runs cuda on the CPU emulator); unset, every row runs. DIFFSAMP_TEST_FILTER
// (* wildcards) runs only the matching tests. Every output batch and diagnostics array
// starts as NaN (and DIFFSAMP_CUDA_POISON=1 fills every cuda workspace with NaN), so an
// element a backend leaves unwritten fails.
//
// Tolerances (u = 2^-24, the float32 rounding unit; every backend but ref is float32).
// - Inputs are fresh doubles, not float-exact: a float backend rounds each (u relative)
//   and rounds the centred queries and rows again (u), so |dx_k| <= 2u |x_k| and
//   |dy_k| <= u |y_k| in the centred coordinates.
// - Empirical denoiser, logits l_j = t_j / sigma^2, t_j = x.y_j - |y_j|^2/2. Products
//   whose logit may lie within 12 of the row maximum are recomputed in double by every
//   float backend (cpu, cuda GEMM path; the cuda fused path sums all in double), so their
//   error is that of the rounded inputs: dt_j = dx.y_j + (x - y_j).dy_j, and by
//   Cauchy-Schwarz |dt_j| <= B = 2u |x| (|x| + 2 y_max) (y_max = max_j |y_j|). The
//   logit errors of the rows that carry weight then spread by at most
//   Delta = 2 B / sigma^2, and to first order
//     top weight:  |dw_top| = w_top |sum_j w_j (dl_top - dl_j)| <= w_top (1 - w_top) Delta,
//     entropy:     |dH| = |sum_j w_j (log w_j + H) dl_j| <= (Delta / 2) 2 H = Delta H,
//     output row:  |dD| = |sum_j dw_j (y_j - D)| <= Delta s, s^2 = sum_j w_j |y_j - D|^2
//   (w, H, s in float64 from the test's own softmax, posterior()). The float logits of
//   the other rows (weight < e^-12 each), the float rows, weights, accumulator and
//   output rounding add a few u relative to |D| per row, measured <= 1.1e-6 on random
//   models and <= 5e-7 on Fashion-MNIST (cpu and the cuda emulator alike): 5e-6 |D|,
//   and 1e-6 absolute on the weight and entropy. One-hot rows (w_top = 1, H = s = 0)
//   are thus held to 1e-6 whatever sigma; rows balanced between training rows at small
//   sigma are amplified by the rounding of the inputs for every float32 backend, and the
//   bound says by how much. Over a batch of queries near the data or at training rows
//   the relative L2 error must also stay below 5e-6, or below the bound the rows' own
//   bounds give the batch where rows balance (compare_denoise).
//   On Fashion-MNIST (d = 784, |x| ~ 10, y_max ~ 15) B ~ 5e-5: at sigma = 0.01 a row
//   with w_top = 0.98 may move its top weight by up to 0.02 x 1.0; the 1e-5 that the
//   earlier cuda test allowed there was below the rounding of its inputs.
// - Gaussian denoiser and flow: a linear map through two float products over d terms,
//   each with a rounding error ~ u sqrt(d) relative (random signs), on inputs rounded by
//   u: relative L2 error <= 4u sqrt(d) (1.7e-6 at d = 50; measured <= 2e-7).
// - Mixture: the component posterior rho_c = softmax(log densities) gets the float
//   error of the quadratic forms, ~ u d at sigma = 80 where rho mixes, moving the output
//   by d rho |mu_a - mu_b| / |D| ~ u d: <= 4u sqrt(d) + 2u d (6e-6 at d = 40; measured
//   <= 1.1e-6).
// - lincomb: inputs rounded (u each), the sum in double, the result rounded (u):
//   |got - want| <= 2u (sum_k |c_k v_k| + |want|) per element.
// - randn: the same double Box-Muller rounded to float. The host backends call glibc:
//   equal. CUDA's double log / sin / cos are within 2 double ulp of glibc's, so a value
//   may land on the other side of a float rounding boundary (probability ~2^-28): within
//   1 float ulp (randn_ulps in the table).
// - The patch models els and pspc, nearest and variance, on float-exact queries and rows
//   (the query's own rounding is the input's, judged above for the empirical model): the
//   float backends form distances, weights and sums in double from the same float
//   values, losing ~1e-16 of a patch's |.|^2 / (2 sigma^2) in the logits (1e-9 at sigma
//   0.002); the float32 output rounds by u: relative L2 error <= 2.5e-7 (measured
//   <= 3e-8). nearest returns a training row, exactly. The masked models pca_locality and
//   ls form their products by SGEMM and refine those near each maximum in double, but
//   not when many rows of a chunk qualify: each row is held to the bound that the SGEMM
//   error and its pixels' softmax spread give (tu_local_cpu_row_tol, testutil.h).
//   smoothed is the empirical denoiser at the perturbed queries x + a eps_c, which a
//   float backend rounds (fresh doubles again): each row is held to the mean over its
//   queries of the empirical per-row bound above.
// - linear_features (d <= 2): the float backends evaluate the same double code as ref on
//   float-exact queries (a float32 value converts to double exactly), so only the output
//   rounds: relative L2 error <= u (2^-24). A backend without the kind's path refuses it
//   at bind with one line (cuda today).
// - Heun (6 steps, 12 NFE, sigma 80 -> 0.5), step by step from the same state: each
//   NFE adds <= ~1e-6 relative, with step coefficients <= 2: relative L2 error <= 1e-5
//   per step (a whole run is not held to a bound: the ODE can amplify any difference).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_models.h"
#include "ds_backend.h"
#include "ds_error.h"
#include "ds_philox.h"
#include "ds_solver.h"
#include "testutil.h"
#ifdef DIFFSAMP_HAVE_CUDA
#include "../cuda/ds_cuda_debug.h"
#include "../kernels/ds_kernels.h"
#endif

#define U 0x1p-24
#define TOL_EMPIRICAL 5e-6

// ---- the backends under test ----

// Settings ("NAME=VALUE ...", "" for the defaults) under which a backend's code paths
// run, for models of dimension up to max_d (0: any): each denoiser test runs under every
// entry of its list (a NULL settings ends it).
typedef struct {
    const char *settings;
    int64_t max_d;
} path;
typedef const path path_list[8];

typedef struct {
    const char *name;         // as ds_backend_new knows it
    int needs_cuda;           // skipped (visibly) without a CUDA device
    int randn_ulps;           // float ulps randn may differ from ref (see above)
    path_list empirical_path; // settings selecting each empirical denoiser path
    path_list mixture_path;   // and each Gaussian / mixture path
    path_list patch_path;     // and each els / pspc path
    // Test aid: the raw Philox uniforms behind randn, computed by the backend (or NULL).
    int (*philox_raw)(uint64_t seed, int64_t first_row, int64_t rows, int64_t cols, uint32_t *out);
    // A setting under which bind must fail (a path forced where it cannot run), or NULL.
    const char *bind_refused;
    // Test aid: the training rows the pruned evaluation of one query computes (NULL: a
    // backend without pruning).
    int (*prune_kept)(ds_bound_model *bm, const float *x, double sigma, uint8_t *keep);
} backend_row;

static const backend_row backends[] = {
    {"cpu",
     0,
     0,
     {{"", 0},
      {"DIFFSAMP_CPU_CHUNK=300", 0},
      {"DIFFSAMP_CPU_CHUNK=7", 0},
      {"DIFFSAMP_TEST_PRUNE=1e-12", 0},
      {NULL, 0}},
     {{"", 0}, {NULL, 0}},
     {{"", 0}, {NULL, 0}},
     NULL,
     NULL,
     cpu_bound_prune_kept},
#ifdef DIFFSAMP_HAVE_CUDA
    // The automatic path choice, each path forced, and each with training pieces of 700
    // rows and query blocks of 13 rows (the online merge across chunks, the blocked
    // loop over the batch); mixtures in query blocks of 5 rows.
    {"cuda",
     1,
     1,
     {{"", 0},
      {"DIFFSAMP_CUDA_FUSED=0", 0},
      {"DIFFSAMP_CUDA_FUSED=1", DS_FUSED_MAX_D},
      {"DIFFSAMP_CUDA_FUSED=0 DIFFSAMP_CUDA_CHUNK=700 DIFFSAMP_CUDA_ROWS=13", 0},
      {"DIFFSAMP_CUDA_FUSED=1 DIFFSAMP_CUDA_CHUNK=700 DIFFSAMP_CUDA_ROWS=13", DS_FUSED_MAX_D},
      {"DIFFSAMP_TEST_PRUNE=1e-12", 0},
      {"DIFFSAMP_TEST_PRUNE=1e-12 DIFFSAMP_CUDA_CHUNK=700 DIFFSAMP_CUDA_ROWS=13 "
       "DIFFSAMP_CUDA_PRUNE_CHUNK=300",
       0},
      {NULL, 0}},
     {{"", 0}, {"DIFFSAMP_CUDA_ROWS=5", 0}, {NULL, 0}},
     {{"", 0}, {"DIFFSAMP_CUDA_ROWS=3", 0}, {NULL, 0}}, // pspc: launches of 3 query rows
     ds_cuda_philox_uniforms,
     "DIFFSAMP_CUDA_FUSED=1",
     ds_cuda_prune_kept},
#else
    {"cuda",
     1,
     1,
     {{"", 0}, {NULL, 0}},
     {{"", 0}, {NULL, 0}},
     {{"", 0}, {NULL, 0}},
     NULL,
     NULL,
     NULL},
#endif
};
#define N_BACKENDS ((int)(sizeof backends / sizeof backends[0]))

// Whether row r runs in this test: picked by DIFFSAMP_TEST_BACKEND and, for cuda, a
// device present (else a visible skip).
static int selected(const backend_row *r, const char *test) {
    const char *want = getenv("DIFFSAMP_TEST_BACKEND");
    if (want && *want && strcmp(want, r->name) != 0) return 0;
    if (r->needs_cuda && !tu_have_cuda_or_say_skip(test)) return 0;
    return 1;
}

#define FOR_EACH_BACKEND(r)                                                                        \
    for (const backend_row *r = backends; r < backends + N_BACKENDS; r++)                          \
        if (selected(r, __func__) && (ran_any = 1))

#define END_BACKENDS()                                                                             \
    do {                                                                                           \
        if (!ran_any) skip();                                                                      \
    } while (0)

// Applies "NAME=VALUE ..." (set = 1) or removes those names (set = 0).
static void apply_settings(const char *settings, int set) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", settings ? settings : "");
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        assert_non_null(eq);
        *eq = 0;
        if (set)
            setenv(tok, eq + 1, 1);
        else
            unsetenv(tok);
    }
}

static ds_backend *backend(const char *name) {
    ds_backend *b = ds_backend_new(name);
    if (!b) fail_msg("backend %s: %s", name, ds_error());
    return b;
}

static double *new_doubles(int64_t n) {
    double *x = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    assert_non_null(x);
    return x;
}

static void assert_all_finite(const double *x, int64_t n, const char *what) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            fail_msg("%s: element %lld not written (%g)", what, (long long)i, x[i]);
}

static ds_batch *batch_from(ds_backend *b, const double *x, int64_t rows, int64_t cols) {
    ds_batch *v = b->batch_new(b, rows, cols);
    assert_int_equal(b->upload(b, v, x), 0);
    return v;
}

static ds_batch *poisoned_batch(ds_backend *b, int64_t rows, int64_t cols) {
    double *nan = new_doubles(rows * cols);
    for (int64_t i = 0; i < rows * cols; i++) nan[i] = NAN;
    ds_batch *v = batch_from(b, nan, rows, cols);
    free(nan);
    return v;
}

// ---- the generator of models and inputs ----

static uint64_t seed_for(uint64_t salt) {
    return tu_seed() * 0x9E3779B97F4A7C15ull + salt;
}

static double *random_normal(int64_t n, uint64_t salt) {
    double *x = new_doubles(n);
    tu_fill_normal(x, n, seed_for(salt));
    return x;
}

typedef struct {
    ds_model_kind kind;
    int64_t n, d;  // empirical: n training rows; every kind: dimension d
    int64_t k, r;  // mixtures: k components of rank r (k = 1: Gaussian)
    double spread; // empirical: jitter of rows around their cluster centre
} model_spec;

// Empirical: n rows 0.5 + 0.8 c + spread z around 8 random cluster centres c (a non-zero
// mean, so centring matters; close neighbours, so the softmax spreads at moderate
// sigma). Mixtures: random means ~ N(0, I), orthonormal bases, log-uniform spectra in
// [1e-3, 4] (descending), residual in [1e-3, 0.1] when r < d, weights in [0.2, 1.2].
static void gen_model(ds_model *m, const model_spec *s, uint64_t salt) {
    int64_t d = s->d;
    if (s->kind == DS_MODEL_EMPIRICAL) {
        double *c = random_normal(8 * d, salt), *x = random_normal(s->n * d, salt + 1);
        for (int64_t i = 0; i < s->n; i++)
            for (int64_t j = 0; j < d; j++)
                x[i * d + j] = 0.5 + 0.8 * c[(i % 8) * d + j] + s->spread * x[i * d + j];
        tu_empirical_model(m, x, s->n, d);
        free(c), free(x);
        return;
    }
    int64_t k = s->k, r = s->r;
    memset(m, 0, sizeof *m);
    m->kind = k == 1 ? DS_MODEL_GAUSSIAN : DS_MODEL_GMM;
    m->d = d, m->k = k, m->r = r;
    m->weights = new_doubles(k);
    m->means = random_normal(k * d, salt);
    m->eigvals = new_doubles(k * r);
    m->eigvecs = new_doubles(k * d * r);
    m->residual = new_doubles(k);
    m->mean = new_doubles(d);
    double u[2], total = 0;
    for (int64_t c = 0; c < k; c++) {
        uint64_t cs = seed_for(salt + 10 + 3 * (uint64_t)c);
        tu_orthonormal_columns(m->eigvecs + c * d * r, d, r, cs);
        tu_fill_uniform(m->eigvals + c * r, r, cs + 1, log(1e-3), log(4.0));
        for (int64_t j = 0; j < r; j++) m->eigvals[c * r + j] = exp(m->eigvals[c * r + j]);
        for (int64_t a = 1; a < r; a++) // insertion sort, descending
            for (int64_t b = a; b > 0 && m->eigvals[c * r + b] > m->eigvals[c * r + b - 1]; b--) {
                double t = m->eigvals[c * r + b];
                m->eigvals[c * r + b] = m->eigvals[c * r + b - 1];
                m->eigvals[c * r + b - 1] = t;
            }
        tu_fill_uniform(u, 2, cs + 2, 0, 1);
        m->weights[c] = 0.2 + u[0];
        m->residual[c] = r < d ? 1e-3 + 0.1 * u[1] : 0.0;
        total += m->weights[c];
    }
    for (int64_t c = 0; c < k; c++) m->weights[c] /= total;
    for (int64_t c = 0; c < k; c++)
        for (int64_t j = 0; j < d; j++) m->mean[j] += m->weights[c] * m->means[c * d + j];
}

// Where queries are drawn (before the noise sigma n is added): near the data (fresh
// points, a training row + 0.3 z; mixtures: a component mean + z), at training rows, or
// between two training rows (midpoints, where several rows share the weight).
typedef enum { NEAR_DATA, AT_ROWS, BETWEEN_ROWS } query_kind;
static const char *const query_names[] = {"near data", "at rows", "between rows"};

static double *gen_queries(const ds_model *m, int64_t rows, query_kind kind, const double *sigma,
                           int64_t n_sigma, uint64_t salt) {
    int64_t d = m->d, count = m->kind == DS_MODEL_EMPIRICAL ? m->data.n : m->k;
    double *x = random_normal(rows * d, salt), *z = random_normal(rows * d, salt + 1);
    double *pick = new_doubles(2 * rows);
    tu_fill_uniform(pick, 2 * rows, seed_for(salt + 2), 0, (double)count);
    for (int64_t i = 0; i < rows; i++) {
        int64_t a = (int64_t)pick[i], b = kind == BETWEEN_ROWS ? (int64_t)pick[rows + i] : a;
        double s = sigma[n_sigma == 1 ? 0 : i];
        for (int64_t j = 0; j < d; j++) {
            double p;
            if (m->kind != DS_MODEL_EMPIRICAL)
                p = m->means[a * d + j] + z[i * d + j];
            else if (kind == NEAR_DATA)
                p = ds_data_value(&m->data, a, j) + 0.3 * z[i * d + j];
            else
                p = 0.5 * (ds_data_value(&m->data, a, j) + ds_data_value(&m->data, b, j));
            x[i * d + j] = p + s * x[i * d + j];
        }
    }
    free(z), free(pick);
    return x;
}

// n_sigma per-row sigmas, log-uniform in [lo, hi].
static double *log_uniform(int64_t n, double lo, double hi, uint64_t salt) {
    double *s = new_doubles(n);
    tu_fill_uniform(s, n, seed_for(salt), log(lo), log(hi));
    for (int64_t i = 0; i < n; i++) s[i] = exp(s[i]);
    return s;
}

static const double sigmas[] = {0.002, 0.01, 0.1, 0.5, 1, 2, 5, 20, 80};
#define N_SIGMAS ((int)(sizeof sigmas / sizeof sigmas[0]))

// ---- the empirical softmax in float64, for the tolerances ----

// For query x (d) at sigma: w_top, H and s of the posterior over the training rows, and
// the bound Delta on the spread of the float backends' logit errors (see the top).
typedef struct {
    double w_top, entropy, spread, delta;
} posterior;

static posterior posterior_of(const ds_model *m, const double *x, double sigma, double y_max,
                              double *logits) {
    int64_t n = m->data.n, d = m->d;
    double best = -INFINITY, xc2 = 0;
    for (int64_t j = 0; j < d; j++) xc2 += (x[j] - m->mean[j]) * (x[j] - m->mean[j]);
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t j = 0; j < d; j++) {
            double t = x[j] - ds_data_value(&m->data, i, j);
            s += t * t;
        }
        logits[i] = -0.5 * s / (sigma * sigma);
        best = fmax(best, logits[i]);
    }
    double z = 0, zl = 0;
    for (int64_t i = 0; i < n; i++) {
        double w = exp(logits[i] - best);
        z += w, zl += w * (logits[i] - best);
        logits[i] = w;
    }
    double dm[4096], spread2 = 0;
    assert_true(d <= 4096);
    for (int64_t j = 0; j < d; j++) dm[j] = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) dm[j] += logits[i] / z * ds_data_value(&m->data, i, j);
    for (int64_t i = 0; i < n; i++) {
        if (logits[i] / z < 1e-300) continue;
        double s = 0;
        for (int64_t j = 0; j < d; j++)
            s += (ds_data_value(&m->data, i, j) - dm[j]) * (ds_data_value(&m->data, i, j) - dm[j]);
        spread2 += logits[i] / z * s;
    }
    double bound = 2 * U * sqrt(xc2) * (sqrt(xc2) + 2 * y_max);
    posterior p = {1 / z, log(z) - zl / z, sqrt(spread2), 2 * bound / (sigma * sigma)};
    return p;
}

static double centred_row_max(const ds_model *m) {
    double best = 0;
    for (int64_t i = 0; i < m->data.n; i++) {
        double s = 0;
        for (int64_t j = 0; j < m->d; j++) {
            double t = ds_data_value(&m->data, i, j) - m->mean[j];
            s += t * t;
        }
        best = fmax(best, s);
    }
    return sqrt(best);
}

// ---- a backend and ref bound to the same model ----

typedef struct {
    ds_backend *be, *ref;
    ds_bound_model *bm, *ref_bm;
    const ds_model *m;
    const char *label; // "cpu [DIFFSAMP_CPU_CHUNK=7]"
    // DIFFSAMP_TEST_PRUNE=eps (a setting of this test only): the backend's certified
    // pruning with that eps (its prune entry), and its counts (kept by bind_pair, as the
    // bound model writes them while it lives).
    double prune_eps;
    const ds_prune_stats *prune;
} pair;

static pair bind_pair(const backend_row *r, const char *path, const ds_model *m) {
    static char label[160];
    static ds_prune_stats prune_stats;
    apply_settings(path, 1);
    snprintf(label, sizeof label, "%s%s%s%s", r->name, *path ? " [" : "", path, *path ? "]" : "");
    pair p = {.be = backend(r->name), .ref = backend("ref"), .m = m, .label = label};
    p.bm = p.be->bind(p.be, m);
    if (!p.bm) fail_msg("%s bind: %s", label, ds_error());
    const char *prune = getenv("DIFFSAMP_TEST_PRUNE");
    if (prune && m->kind == DS_MODEL_EMPIRICAL) {
        p.prune_eps = atof(prune);
        assert_non_null(p.be->prune);
        if (p.be->prune(p.be, p.bm, p.prune_eps, &prune_stats))
            fail_msg("%s: %s", label, ds_error());
        p.prune = &prune_stats;
    }
    p.ref_bm = p.ref->bind(p.ref, m);
    assert_non_null(p.ref_bm);
    return p;
}

static void unbind_pair(pair *p, const char *path) {
    p->be->unbind(p->be, p->bm);
    p->ref->unbind(p->ref, p->ref_bm);
    ds_backend_free(p->be);
    ds_backend_free(p->ref);
    apply_settings(path, 0);
}

static ds_diag poisoned_diag(int64_t rows) {
    ds_diag g = {calloc((size_t)rows, sizeof(int64_t)), new_doubles(rows), new_doubles(rows)};
    assert_non_null(g.top_index);
    for (int64_t i = 0; i < rows; i++) g.top_index[i] = -1, g.top_weight[i] = g.entropy[i] = NAN;
    return g;
}

static void free_diag(ds_diag *g) {
    free(g->top_index), free(g->top_weight), free(g->entropy);
}

// Denoises x on one backend into a poisoned batch (or in place) and downloads it.
static void denoise_on(ds_backend *b, ds_bound_model *bm, const double *x, int64_t rows, int64_t d,
                       const double *sigma, int64_t n_sigma, int in_place, double *out,
                       ds_diag *diag) {
    ds_batch *bx = batch_from(b, x, rows, d), *bo = in_place ? bx : poisoned_batch(b, rows, d);
    if (b->denoise(b, bm, bx, sigma, n_sigma, bo, diag))
        fail_msg("%s denoise: %s", b->name, ds_error());
    assert_int_equal(b->download(b, bo, out), 0);
    if (!in_place) b->batch_free(b, bo);
    b->batch_free(b, bx);
    assert_all_finite(out, rows * d, b->name);
}

// The backend's and ref's outputs for the same queries; the relative L2 error is returned,
// and for empirical models every row and its diagnostics are held to the per-row bounds.
// *tol, the caller's batch tolerance, is raised for empirical models to the batch bound
// those rows' bounds imply, sqrt(sum tol_row^2 / sum |D_row|^2): a query balanced between
// two training rows at small sigma amplifies its inputs' rounding (q.delta q.spread), and
// a batch of such queries may exceed a fixed 5e-6 (seed 32914838694: 6.7e-6 at d = 33,
// sigma 0.002, with every row within its bound).
static double compare_denoise(pair *p, const double *x, int64_t rows, const double *sigma,
                              int64_t n_sigma, int in_place, double *tol) {
    const ds_model *m = p->m;
    int64_t d = m->d;
    int empirical = m->kind == DS_MODEL_EMPIRICAL;
    double *a = new_doubles(rows * d), *r = new_doubles(rows * d);
    ds_diag da = poisoned_diag(rows), dr = poisoned_diag(rows);
    denoise_on(p->be, p->bm, x, rows, d, sigma, n_sigma, in_place, a, empirical ? &da : NULL);
    denoise_on(p->ref, p->ref_bm, x, rows, d, sigma, n_sigma, 0, r, empirical ? &dr : NULL);
    double err = tu_rel_l2(a, r, rows * d);
    if (empirical) {
        double y_max = centred_row_max(m), *w = new_doubles(m->data.n), tol_sq = 0, norm_sq = 0;
        for (int64_t i = 0; i < rows; i++) {
            posterior q = posterior_of(m, x + i * d, sigma[n_sigma == 1 ? 0 : i], y_max, w);
            double row_err = 0, row_norm = 0;
            for (int64_t j = 0; j < d; j++) {
                row_err += (a[i * d + j] - r[i * d + j]) * (a[i * d + j] - r[i * d + j]);
                row_norm += r[i * d + j] * r[i * d + j];
            }
            // Pruning adds at most 2 m R, m <= eps the skipped mass (cpu_prune.c).
            double tol_row =
                q.delta * q.spread + TOL_EMPIRICAL * sqrt(row_norm) + 2 * p->prune_eps * y_max;
            tol_sq += tol_row * tol_row, norm_sq += row_norm;
            double tol_w = q.w_top * (1 - q.w_top) * q.delta + 1e-6;
            double tol_h = q.delta * q.entropy + 1e-6;
            if (!(sqrt(row_err) <= tol_row))
                fail_msg("%s row %lld: |D - ref| = %.3g > %.3g", p->label, (long long)i,
                         sqrt(row_err), tol_row);
            if (da.top_index[i] < 0 || da.top_index[i] >= m->data.n)
                fail_msg("%s row %lld: top index %lld not a training row", p->label, (long long)i,
                         (long long)da.top_index[i]);
            // A clear winner (the runner-up >= 0.4 logits behind, far above Delta there).
            if (dr.top_weight[i] > 0.6 && q.delta < 0.1)
                assert_int_equal(da.top_index[i], dr.top_index[i]);
            // Written as !(err <= tol) so that an unwritten (NaN) entry fails.
            if (!(fabs(da.top_weight[i] - dr.top_weight[i]) <= tol_w) ||
                !(fabs(da.entropy[i] - dr.entropy[i]) <= tol_h))
                fail_msg("%s row %lld: top weight %.9g vs %.9g (tol %.2g), entropy %.9g vs %.9g "
                         "(tol %.2g)",
                         p->label, (long long)i, da.top_weight[i], dr.top_weight[i], tol_w,
                         da.entropy[i], dr.entropy[i], tol_h);
        }
        free(w);
        if (norm_sq > 0) *tol = fmax(*tol, sqrt(tol_sq / norm_sq));
    }
    free(a), free(r);
    free_diag(&da), free_diag(&dr);
    return err;
}

// Every sigma of the list (one per call) and log-uniform per-row sigmas (in place), at
// each kind of query; the batch error must stay below tol where the softmax does not
// balance rows (empirical queries between rows are held to the per-row bounds only).
static void check_denoiser(pair *p, int64_t rows, double tol, uint64_t salt) {
    const ds_model *m = p->m;
    int kinds = m->kind == DS_MODEL_EMPIRICAL ? 3 : 1;
    for (int kind = 0; kind < kinds; kind++) {
        for (int s = 0; s < N_SIGMAS; s++) {
            double *x = gen_queries(m, rows, kind, &sigmas[s], 1, salt + 10 * (uint64_t)s + kind);
            double batch_tol = tol;
            double err = compare_denoise(p, x, rows, &sigmas[s], 1, 0, &batch_tol);
            printf("%s %s d=%lld %s sigma %-6g rel L2 error %.2e (tol %.1e)\n", p->label,
                   ds_model_kind_name(m->kind), (long long)m->d, query_names[kind], sigmas[s], err,
                   batch_tol);
            if (kind != BETWEEN_ROWS) assert_true(err < batch_tol);
            free(x);
        }
        double *sigma = log_uniform(rows, 0.002, 80, salt + 200 + (uint64_t)kind);
        double *x = gen_queries(m, rows, kind, sigma, rows, salt + 300 + (uint64_t)kind);
        double batch_tol = tol;
        double err = compare_denoise(p, x, rows, sigma, rows, 1, &batch_tol);
        printf("%s %s %s per-row sigma, in place: rel L2 error %.2e (tol %.1e)\n", p->label,
               ds_model_kind_name(m->kind), query_names[kind], err, batch_tol);
        if (kind != BETWEEN_ROWS) assert_true(err < batch_tol);
        free(x), free(sigma);
    }
}

static double tol_gaussian(int64_t d) {
    return 4 * U * sqrt((double)d);
}

static double tol_mixture(int64_t d) {
    return 4 * U * sqrt((double)d) + 2 * U * (double)d;
}

// ---- the tests ----

static void test_empirical_denoiser(void **state) {
    (void)state;
    int ran_any = 0;
    // d > 128 (the cuda GEMM path), d <= 128 (both paths), an odd d; tight and loose
    // clusters.
    const model_spec specs[] = {{DS_MODEL_EMPIRICAL, 1000, 96, 0, 0, 0.3},
                                {DS_MODEL_EMPIRICAL, 1500, 200, 0, 0, 0.3},
                                {DS_MODEL_EMPIRICAL, 1200, 33, 0, 0, 0.05}};
    FOR_EACH_BACKEND(r) {
        for (int s = 0; s < 3; s++) {
            ds_model m;
            gen_model(&m, &specs[s], 1 + (uint64_t)s);
            // Every path on the first model, the default one on the others.
            for (const path *k = r->empirical_path;
                 k->settings && (k == r->empirical_path || s == 0); k++) {
                if (k->max_d && m.d > k->max_d) continue;
                pair p = bind_pair(r, k->settings, &m);
                check_denoiser(&p, 24, TOL_EMPIRICAL, 1000 + 1000 * (uint64_t)s);
                // A pruned path that pruned nothing would be the dense path again.
                if (p.prune_eps > 0)
                    if (!(p.prune->queries_pruned > 0 && p.prune->pairs_skipped > 0))
                        fail_msg("%s: %lld of %lld queries pruned", p.label,
                                 (long long)p.prune->queries_pruned, (long long)p.prune->queries);
                unbind_pair(&p, k->settings);
            }
            ds_model_free(&m);
        }
    }
    END_BACKENDS();
}

// Twins: n / 2 clustered rows of dimension d whose coordinate 0 has 10 times the spread
// (so that it leads the principal directions the bound projects on), each with a twin
// 0.09 to 0.14 away along it. A query at a row at sigma 0.02 then has its twin's
// distance in the projection as in full, at the margin of the threshold U + T: a wrong
// threshold skips a twin whose weight is above eps / N.
static void twins_model(ds_model *m, int64_t n, int64_t d, uint64_t salt) {
    double *c = random_normal(8 * d, salt), *x = random_normal(n * d, salt + 1);
    double *gap = new_doubles(n);
    tu_fill_uniform(gap, n, seed_for(salt + 2), 0.09, 0.14);
    for (int64_t i = 0; i < n; i += 2)
        for (int64_t j = 0; j < d; j++) {
            double scale = j == 0 ? 10 : 1;
            x[i * d + j] = scale * (0.5 + 0.8 * c[(i / 2 % 8) * d + j] + 0.3 * x[i * d + j]);
            if (i + 1 < n) x[(i + 1) * d + j] = x[i * d + j] + (j == 0 ? gap[i] : 0);
        }
    tu_empirical_model(m, x, n, d);
    free(c), free(x), free(gap);
}

static void check_prune_certificate(const backend_row *r, const ds_model *model, double eps,
                                    const char *settings) {
    enum { QUERIES = 12 };
    const double sig[] = {0.02, 0.05, 0.1, 0.3, 1, 3, 20};
    const ds_model m = *model;
    uint8_t *keep = malloc((size_t)m.data.n);
    float *xf = malloc(sizeof(float) * (size_t)m.d);
    assert_non_null(keep), assert_non_null(xf);
    apply_settings(settings, 1);
    ds_backend *b = backend(r->name);
    ds_bound_model *bm = b->bind(b, &m);
    ds_prune_stats st;
    assert_non_null(bm);
    // An eps outside (0, 1e-3] is refused with one line, and pruning stays off.
    assert_int_equal(b->prune(b, bm, 2e-3, &st), -1);
    assert_non_null(strstr(ds_error(), "prune eps 0.002 is outside (0, 1e-3]"));
    for (int j = 0; j < m.d; j++) xf[j] = (float)m.mean[j];
    assert_int_equal(r->prune_kept(bm, xf, 1.0, keep), -1);
    if (b->prune(b, bm, eps, &st)) fail_msg("%s", ds_error());
    for (int s = 0; s < 7; s++) {
        int64_t skipped = 0, pruned = 0;
        double *x = gen_queries(&m, QUERIES, AT_ROWS, &sig[s], 1, 500 + (uint64_t)s);
        for (int q = 0; q < QUERIES; q++) {
            double kept, lost;
            for (int j = 0; j < m.d; j++) xf[j] = (float)x[q * m.d + j];
            int was = r->prune_kept(bm, xf, sig[s], keep);
            if (was < 0) fail_msg("%s", ds_error());
            skipped += tu_check_prune_keep(&m, xf, sig[s], eps, keep, &kept, &lost);
            pruned += was;
        }
        printf("%s [%s] d=%lld eps %g sigma %-5g: %lld of %d queries pruned, %.1f%% of the rows "
               "left out\n",
               r->name, settings, (long long)m.d, eps, sig[s], (long long)pruned, QUERIES,
               100.0 * (double)skipped / (double)(QUERIES * m.data.n));
        if (sig[s] == 0.02) assert_true(2 * pruned >= QUERIES && 4 * skipped >= QUERIES * m.data.n);
        if (sig[s] == 20) assert_int_equal(pruned, 0);
        free(x);
    }
    b->unbind(b, bm);
    ds_backend_free(b);
    apply_settings(settings, 0);
    free(keep), free(xf);
}

// Certified pruning row by row (tu_check_prune_keep) through each backend's test aid:
// every skipped row's w_i / w_top <= eps / N and the top row kept, at the largest eps
// allowed and the default, on cuda also over several index chunks, on clustered rows
// (d = 48) and on twins (twins_model), whose weights sit at the threshold's margin (a
// threshold U + 0.3 T fails there). Not vacuous: at sigma 0.02 most queries are pruned
// and most rows skipped, at sigma 20 none is.
static void test_prune_certificate(void **state) {
    (void)state;
    int ran_any = 0;
    const model_spec spec = {DS_MODEL_EMPIRICAL, 800, 48, 0, 0, 0.3};
    ds_model models[2];
    gen_model(&models[0], &spec, 41);
    twins_model(&models[1], 800, 16, 43);
    FOR_EACH_BACKEND(r) {
        assert_non_null(r->prune_kept); // every backend registered here prunes
        int cuda = !strcmp(r->name, "cuda");
        for (int s = 0; s < 2; s++)
            for (int e = 0; e < 2; e++) {
                check_prune_certificate(r, &models[s], e ? 1e-12 : 1e-3, "");
                if (cuda)
                    check_prune_certificate(r, &models[s], e ? 1e-12 : 1e-3,
                                            "DIFFSAMP_CUDA_PRUNE_CHUNK=300");
            }
    }
    ds_model_free(&models[0]);
    ds_model_free(&models[1]);
    END_BACKENDS();
}

// Below sigma_min = 0.002 the SGEMM error bound over sigma^2 exceeds the float range of
// exp: the output must still be ref's (the nearest row, finite), not a NaN.
static void test_empirical_tiny_sigma(void **state) {
    (void)state;
    int ran_any = 0;
    const model_spec spec = {DS_MODEL_EMPIRICAL, 300, 16, 0, 0, 0.3};
    const double tiny[] = {1e-4, 1e-6, 1e-9};
    FOR_EACH_BACKEND(r) {
        ds_model m;
        gen_model(&m, &spec, 5);
        pair p = bind_pair(r, "", &m);
        for (int s = 0; s < 3; s++) {
            double *x = gen_queries(&m, 32, NEAR_DATA, &tiny[s], 1, 51 + (uint64_t)s);
            double tol = TOL_EMPIRICAL;
            double err = compare_denoise(&p, x, 32, &tiny[s], 1, 0, &tol);
            printf("%s empirical sigma %g rel L2 error %.2e (tol %.1e)\n", p.label, tiny[s], err,
                   tol);
            assert_true(err < tol);
            free(x);
        }
        unbind_pair(&p, "");
        ds_model_free(&m);
    }
    END_BACKENDS();
}

// At sigma = 0.002 the denoiser returns the nearest training row: the backend's top row
// must be the true nearest row (float64 distances) for >= 99.9% of the queries whose two
// nearest squared distances differ by > 1e-3 relative (a logit gap >= 1e-3 |x - y|^2 /
// (2 sigma^2), far above Delta).
static void check_nearest(pair *p, const double *x, int64_t rows) {
    const ds_model *m = p->m;
    int64_t d = m->d, clear = 0, agree = 0;
    double *out = new_doubles(rows * d), sigma = 0.002;
    int64_t *top = calloc((size_t)rows, sizeof(int64_t));
    ds_diag diag = {top, NULL, NULL};
    denoise_on(p->be, p->bm, x, rows, d, &sigma, 1, 0, out, &diag);
    for (int64_t i = 0; i < rows; i++) {
        double best, second;
        int64_t arg = tu_nearest_row(&m->data, x + i * d, &best, &second);
        if ((second - best) <= 1e-3 * best) continue;
        clear++;
        agree += top[i] == arg;
    }
    printf("%s d=%lld sigma 0.002: nearest row on %lld of %lld clear queries\n", p->label,
           (long long)d, (long long)agree, (long long)clear);
    assert_true(clear > rows / 2);
    assert_true((double)agree >= 0.999 * (double)clear);
    free(out), free(top);
}

static void test_empirical_nearest_row(void **state) {
    (void)state;
    int ran_any = 0;
    const model_spec specs[] = {{DS_MODEL_EMPIRICAL, 3000, 64, 0, 0, 0.3},
                                {DS_MODEL_EMPIRICAL, 2000, 300, 0, 0, 0.3}};
    const double zero = 0;
    FOR_EACH_BACKEND(r) {
        for (int s = 0; s < 2; s++) {
            ds_model m;
            gen_model(&m, &specs[s], 30 + (uint64_t)s);
            double *x = gen_queries(&m, s ? 300 : 600, NEAR_DATA, &zero, 1, 31 + (uint64_t)s);
            // Every path on the first model, the default one on the second.
            for (const path *k = r->empirical_path;
                 k->settings && (k == r->empirical_path || s == 0); k++) {
                if (k->max_d && m.d > k->max_d) continue;
                pair p = bind_pair(r, k->settings, &m);
                check_nearest(&p, x, s ? 300 : 600);
                unbind_pair(&p, k->settings);
            }
            free(x);
            ds_model_free(&m);
        }
    }
    END_BACKENDS();
}

// Batches longer than a backend's row block (cpu: 1,024 rows) are cut into blocks:
// every block, its per-row sigmas and its diagnostics must land on the right rows.
static void test_batches_over_a_row_block(void **state) {
    (void)state;
    int ran_any = 0;
    const model_spec specs[] = {{DS_MODEL_EMPIRICAL, 150, 12, 0, 0, 0.3},
                                {DS_MODEL_GMM, 0, 12, 2, 5, 0}};
    const int64_t b = 1030;
    FOR_EACH_BACKEND(r) {
        for (int s = 0; s < 2; s++) {
            ds_model m;
            gen_model(&m, &specs[s], 50 + (uint64_t)s);
            pair p = bind_pair(r, "", &m);
            double *sigma = log_uniform(b, 0.05, 3.0, 52);
            double *x = gen_queries(&m, b, NEAR_DATA, sigma, b, 53);
            double tol = s ? tol_mixture(m.d) : TOL_EMPIRICAL;
            double err = compare_denoise(&p, x, b, sigma, b, 0, &tol);
            printf("%s %s %lld rows, per-row sigma: rel L2 error %.2e (tol %.1e)\n", p.label,
                   ds_model_kind_name(m.kind), (long long)b, err, tol);
            assert_true(err < tol);
            free(x), free(sigma);
            unbind_pair(&p, "");
            ds_model_free(&m);
        }
    }
    END_BACKENDS();
}

// Fashion-MNIST: 2,000 training rows and 32 test images plus noise at each sigma (d =
// 784, |y|^2 up to ~800: the shape where float32 products are least exact), and the
// nearest rows at sigma 0.002.
static void test_fashion_mnist_subset(void **state) {
    (void)state;
    const char *test_path = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
    if (!tu_file_exists(DS_DEFAULT_DATA) || !tu_file_exists(test_path)) {
        printf("test_fashion_mnist_subset: skipped: %s not found\n", DS_DEFAULT_DATA);
        skip();
    }
    int ran_any = 0;
    ds_model m;
    ds_data queries;
    memset(&m, 0, sizeof m);
    assert_int_equal(tu_load_subset(DS_DEFAULT_DATA, 2000, seed_for(40), &m.data), 0);
    assert_int_equal(tu_load_subset(test_path, 32, seed_for(41), &queries), 0);
    m.kind = DS_MODEL_EMPIRICAL;
    m.d = m.data.d;
    m.mean = new_doubles(m.d);
    for (int64_t i = 0; i < m.data.n; i++)
        for (int64_t j = 0; j < m.d; j++)
            m.mean[j] += ds_data_value(&m.data, i, j) / (double)m.data.n;
    int64_t rows = queries.n, d = m.d;
    double *x = new_doubles(rows * d), *noise = random_normal(rows * d, 42);
    double *q = new_doubles(rows * d);
    ds_data_rows_f64(&queries, 0, rows, q);
    FOR_EACH_BACKEND(r) {
        pair p = bind_pair(r, "", &m);
        for (int s = 0; s < N_SIGMAS; s++) {
            for (int64_t e = 0; e < rows * d; e++) x[e] = q[e] + sigmas[s] * noise[e];
            double tol = TOL_EMPIRICAL;
            double err = compare_denoise(&p, x, rows, &sigmas[s], 1, 0, &tol);
            printf("%s fashion-mnist sigma %-6g rel L2 error %.2e (tol %.1e)\n", p.label, sigmas[s],
                   err, tol);
            assert_true(err < tol);
        }
        for (int64_t e = 0; e < rows * d; e++) x[e] = q[e] + 0.002 * noise[e];
        check_nearest(&p, x, rows);
        unbind_pair(&p, "");
    }
    free(x), free(noise), free(q);
    ds_data_free(&queries);
    ds_model_free(&m);
    END_BACKENDS();
}

static void check_mixtures(const model_spec *specs, int n_specs, uint64_t salt) {
    int ran_any = 0;
    const char *test = "test_mixture_denoisers";
    for (const backend_row *r = backends; r < backends + N_BACKENDS; r++) {
        if (!selected(r, test)) continue;
        ran_any = 1;
        for (int s = 0; s < n_specs; s++) {
            ds_model m;
            gen_model(&m, &specs[s], salt + (uint64_t)s);
            double tol = m.k == 1 ? tol_gaussian(m.d) : tol_mixture(m.d);
            for (const path *k = r->mixture_path; k->settings; k++) {
                pair p = bind_pair(r, k->settings, &m);
                check_denoiser(&p, 37, tol, salt + 100 * (uint64_t)s);
                unbind_pair(&p, k->settings);
            }
            ds_model_free(&m);
        }
    }
    if (!ran_any) skip();
}

// Gaussians of full and truncated rank, mixtures of full and truncated rank.
static void test_mixture_denoisers(void **state) {
    (void)state;
    const model_spec specs[] = {
        {DS_MODEL_GAUSSIAN, 0, 48, 1, 48, 0}, {DS_MODEL_GAUSSIAN, 0, 70, 1, 9, 0},
        {DS_MODEL_GMM, 0, 40, 3, 16, 0},      {DS_MODEL_GMM, 0, 40, 4, 40, 0},
        {DS_MODEL_GMM, 0, 65, 7, 12, 0},
    };
    check_mixtures(specs, 5, 4000);
}

// More components (66,000) than a CUDA grid's y dimension holds (8 rows: one block per
// row and component is slow under a memory checker).
static void test_many_components(void **state) {
    (void)state;
    int ran_any = 0;
    const model_spec spec = {DS_MODEL_GMM, 0, 3, 66000, 2, 0};
    FOR_EACH_BACKEND(r) {
        ds_model m;
        gen_model(&m, &spec, 45);
        pair p = bind_pair(r, "", &m);
        double *x = gen_queries(&m, 8, NEAR_DATA, &sigmas[4], 1, 46);
        double tol = tol_mixture(3);
        double err = compare_denoise(&p, x, 8, &sigmas[4], 1, 0, &tol);
        printf("%s gmm k=66000: rel L2 error %.2e (tol %.1e)\n", p.label, err, tol);
        assert_true(err < tol);
        free(x);
        unbind_pair(&p, "");
        ds_model_free(&m);
    }
    END_BACKENDS();
}

// The exact Gaussian flow for teleport jumps, a jump upwards and one to ~0, written in
// place (out aliases x) on the backend, into a poisoned batch on ref.
static void test_gaussian_flow(void **state) {
    (void)state;
    int ran_any = 0;
    const double jumps[][2] = {{80, 40.8}, {80, 8.4}, {80, 0.002}, {5, 0.002}, {0.5, 20}, {2, 1}};
    const model_spec specs[] = {{DS_MODEL_GAUSSIAN, 0, 50, 1, 50, 0},
                                {DS_MODEL_GAUSSIAN, 0, 50, 1, 11, 0}};
    FOR_EACH_BACKEND(r) {
        for (int s = 0; s < 2; s++) {
            ds_model m;
            gen_model(&m, &specs[s], 60 + (uint64_t)s);
            int64_t rows = 29, d = m.d;
            for (const path *k = r->mixture_path; k->settings; k++) {
                pair p = bind_pair(r, k->settings, &m);
                double *a = new_doubles(rows * d), *want = new_doubles(rows * d);
                for (int t = 0; t < 6; t++) {
                    double *x = gen_queries(&m, rows, NEAR_DATA, &jumps[t][0], 1, 70 + (uint64_t)t);
                    ds_batch *bx = batch_from(p.be, x, rows, d),
                             *rx = batch_from(p.ref, x, rows, d);
                    ds_batch *rout = poisoned_batch(p.ref, rows, d);
                    assert_int_equal(
                        p.be->gaussian_flow(p.be, p.bm, bx, jumps[t][0], jumps[t][1], bx), 0);
                    assert_int_equal(
                        p.ref->gaussian_flow(p.ref, p.ref_bm, rx, jumps[t][0], jumps[t][1], rout),
                        0);
                    assert_int_equal(p.be->download(p.be, bx, a), 0);
                    assert_int_equal(p.ref->download(p.ref, rout, want), 0);
                    assert_all_finite(a, rows * d, "flow");
                    double err = tu_rel_l2(a, want, rows * d);
                    printf("%s flow rank %lld %g -> %g: rel L2 error %.2e (tol %.1e)\n", p.label,
                           (long long)m.r, jumps[t][0], jumps[t][1], err, tol_gaussian(d));
                    assert_true(err < tol_gaussian(d));
                    p.be->batch_free(p.be, bx);
                    p.ref->batch_free(p.ref, rx);
                    p.ref->batch_free(p.ref, rout);
                    free(x);
                }
                free(a), free(want);
                unbind_pair(&p, k->settings);
            }
            ds_model_free(&m);
        }
    }
    END_BACKENDS();
}

// n = 1 .. DS_LINCOMB_MAX inputs, into a fresh (poisoned) output and in place over the
// first, a middle and the last input; per-element bound (see the top).
static void test_lincomb(void **state) {
    (void)state;
    int ran_any = 0;
    const int64_t rows = 33, cols = 301, count = rows * cols;
    double *v = random_normal(DS_LINCOMB_MAX * count, 80), coef[DS_LINCOMB_MAX];
    double *got = new_doubles(count), *want = new_doubles(count);
    FOR_EACH_BACKEND(r) {
        ds_backend *c = backend(r->name), *ref = backend("ref");
        for (int n = 1; n <= DS_LINCOMB_MAX; n++) {
            tu_fill_uniform(coef, n, seed_for(81 + (uint64_t)n), -2, 2);
            for (int alias = 0; alias < 4; alias++) {
                int target = alias == 1 ? 0 : alias == 2 ? n / 2 : n - 1;
                ds_batch *cv[DS_LINCOMB_MAX], *rv[DS_LINCOMB_MAX];
                for (int i = 0; i < n; i++) {
                    cv[i] = batch_from(c, v + i * count, rows, cols);
                    rv[i] = batch_from(ref, v + i * count, rows, cols);
                }
                ds_batch *cout = alias ? cv[target] : poisoned_batch(c, rows, cols);
                ds_batch *rout = ref->batch_new(ref, rows, cols);
                assert_int_equal(c->lincomb(c, cout, n, coef, (const ds_batch *const *)cv), 0);
                assert_int_equal(ref->lincomb(ref, rout, n, coef, (const ds_batch *const *)rv), 0);
                assert_int_equal(c->download(c, cout, got), 0);
                assert_int_equal(ref->download(ref, rout, want), 0);
                assert_all_finite(got, count, "lincomb");
                for (int64_t e = 0; e < count; e++) {
                    double mag = fabs(want[e]);
                    for (int i = 0; i < n; i++) mag += fabs(coef[i] * v[i * count + e]);
                    if (!(fabs(got[e] - want[e]) <= 2 * U * mag))
                        fail_msg("%s lincomb n=%d alias=%d element %lld: %.9g vs %.9g", r->name, n,
                                 alias, (long long)e, got[e], want[e]);
                }
                if (!alias) c->batch_free(c, cout);
                ref->batch_free(ref, rout);
                for (int i = 0; i < n; i++) c->batch_free(c, cv[i]), ref->batch_free(ref, rv[i]);
            }
        }
        printf("%s lincomb n = 1 .. %d, fresh and in place: within 2u per element\n", r->name,
               DS_LINCOMB_MAX);
        ds_backend_free(c);
        ds_backend_free(ref);
    }
    free(v), free(got), free(want);
    END_BACKENDS();
}

// copy: bit for bit (the values are float-exact after an upload); batch shapes.
static void test_copy(void **state) {
    (void)state;
    int ran_any = 0;
    const int64_t rows = 19, cols = 53;
    double *x = random_normal(rows * cols, 90), *y = new_doubles(rows * cols);
    double *up = new_doubles(rows * cols);
    FOR_EACH_BACKEND(r) {
        ds_backend *c = backend(r->name);
        ds_batch *src = batch_from(c, x, rows, cols), *dst = poisoned_batch(c, rows, cols);
        assert_true(src->rows == rows && src->cols == cols);
        assert_int_equal(c->download(c, src, up), 0);
        for (int64_t e = 0; e < rows * cols; e++)
            assert_true(c->f64 ? up[e] == x[e] : up[e] == (double)(float)x[e]);
        assert_int_equal(c->copy(c, dst, src), 0);
        assert_int_equal(c->download(c, dst, y), 0);
        assert_memory_equal(up, y, sizeof(double) * (size_t)(rows * cols));
        c->batch_free(c, src), c->batch_free(c, dst);
        ds_backend_free(c);
    }
    free(x), free(y), free(up);
    END_BACKENDS();
}

// move_rows against plain indexing (gather, scatter, identity lists): exact copies.
static void test_move_rows(void **state) {
    (void)state;
    int ran_any = 0;
    FOR_EACH_BACKEND(r) {
        ds_backend *c = backend(r->name);
        tu_check_move_rows(c, tu_seed() + 95);
        ds_backend_free(c);
    }
    END_BACKENDS();
}

// Certified landing (compaction with move_rows, on cuda on the device) against the
// dense ref run: the bound of host/solvers/landing.c plus each backend's rounding
// (float32: 2e-6 relative after 18 steps; ref: 1e-12).
static void test_landing_vs_dense_ref(void **state) {
    (void)state;
    int ran_any = 0;
    FOR_EACH_BACKEND(r) {
        double rounding = strcmp(r->name, "ref") ? 2e-6 : 1e-12;
        tu_check_landing(r->name, "heun", 1, rounding);
        tu_check_landing(r->name, "dpmpp2m", 0, rounding);
    }
    END_BACKENDS();
}

// Rows far from 0 (high counter words) and widths that are not multiples of 4.
static void test_randn(void **state) {
    (void)state;
    int ran_any = 0;
    const uint64_t seed = seed_for(20);
    const int64_t rows = 37, cols = 1001, first = ((int64_t)1 << 33) + 5, count = rows * cols;
    double *a = new_doubles(count), *want = new_doubles(count);
    FOR_EACH_BACKEND(r) {
        ds_backend *c = backend(r->name), *ref = backend("ref");
        ds_batch *cb = poisoned_batch(c, rows, cols), *rb = ref->batch_new(ref, rows, cols);
        assert_int_equal(c->randn(c, cb, seed, first), 0);
        assert_int_equal(ref->randn(ref, rb, seed, first), 0);
        assert_int_equal(c->download(c, cb, a), 0);
        assert_int_equal(ref->download(ref, rb, want), 0);
        int64_t off = 0;
        for (int64_t e = 0; e < count; e++) {
            float w = (float)want[e], g = (float)a[e];
            if (g == w) continue;
            float lo = w, hi = w;
            for (int k = 0; k < r->randn_ulps; k++)
                lo = nextafterf(lo, -INFINITY), hi = nextafterf(hi, INFINITY);
            if (!(g >= lo && g <= hi))
                fail_msg("%s randn element %lld: %.9g vs ref %.9g (more than %d ulp)", r->name,
                         (long long)e, g, w, r->randn_ulps);
            off++;
        }
        printf("%s randn: %lld of %lld values differ by 1 ulp, the rest are equal\n", r->name,
               (long long)off, (long long)count);
        if (r->philox_raw) {
            uint32_t *raw = calloc((size_t)count, sizeof(uint32_t));
            assert_non_null(raw);
            assert_int_equal(r->philox_raw(seed, first, rows, cols, raw), 0);
            for (int64_t e = 0; e < count; e++)
                assert_int_equal(
                    raw[e], ds_philox_block(seed, first + e / cols, e % cols).v[(e % cols) & 3]);
            free(raw);
        }
        c->batch_free(c, cb), ref->batch_free(ref, rb);
        ds_backend_free(c);
        ds_backend_free(ref);
    }
    free(a), free(want);
    END_BACKENDS();
}

// The call must refuse (-1, or NULL for a bind) with a message that names the backend
// and the problem; the recorded error is cleared first, so the message is the call's.
static void check_refusal(int rc, const char *who, const char *expect, const char *what) {
    if (rc != -1) fail_msg("%s %s: returned %d, expected a refusal", who, what, rc);
    if (!strstr(ds_error(), who) || (expect && !strstr(ds_error(), expect)))
        fail_msg("%s %s: message \"%s\" lacks \"%s\"", who, what, ds_error(),
                 expect ? expect : who);
    printf("%s %s: refused: %s\n", who, what, ds_error());
}

#define EXPECT_REFUSAL(call, who, expect, what)                                                    \
    do {                                                                                           \
        ds_fail("%s", "");                                                                         \
        check_refusal(call, who, expect, what);                                                    \
    } while (0)

static void check_refusals(const char *name) {
    const model_spec es = {DS_MODEL_EMPIRICAL, 40, 6, 0, 0, 0.3},
                     gs = {DS_MODEL_GAUSSIAN, 0, 6, 1, 6, 0};
    ds_model emp, gauss;
    gen_model(&emp, &es, 7);
    gen_model(&gauss, &gs, 8);
    ds_backend *b = backend(name);
    ds_bound_model *e = b->bind(b, &emp), *g = b->bind(b, &gauss);
    assert_true(e && g);
    double x[18];
    tu_fill_normal(x, 18, seed_for(111));
    ds_batch *ex = batch_from(b, x, 3, 6), *out = b->batch_new(b, 3, 6);
    ds_batch *wide = b->batch_new(b, 3, 7);
    const double bad[] = {0, -1, NAN, INFINITY}, two[2] = {1, 1};
    for (int j = 0; j < 4; j++) {
        EXPECT_REFUSAL(b->denoise(b, e, ex, &bad[j], 1, out, NULL), name,
                       "expected a finite value > 0", "empirical denoise at a bad sigma");
        EXPECT_REFUSAL(b->denoise(b, g, ex, &bad[j], 1, out, NULL), name,
                       "expected a finite value > 0", "gaussian denoise at a bad sigma");
    }
    EXPECT_REFUSAL(b->denoise(b, e, ex, two, 2, out, NULL), name, "expected 1 or one per row",
                   "denoise with 2 sigmas for 3 rows");
    EXPECT_REFUSAL(b->denoise(b, e, wide, two, 1, out, NULL), name, "d = 6",
                   "denoise of a wider batch");
    EXPECT_REFUSAL(b->denoise(b, e, ex, two, 1, wide, NULL), name, "d = 6",
                   "denoise into a wider batch");
    EXPECT_REFUSAL(b->gaussian_flow(b, g, ex, 80, -1, out), name, "expected finite values >= 0",
                   "flow to a negative sigma");
    EXPECT_REFUSAL(b->gaussian_flow(b, e, ex, 80, 1, out), name, "needs a Gaussian model",
                   "flow of an empirical model");
    b->batch_free(b, ex), b->batch_free(b, out), b->batch_free(b, wide);
    b->unbind(b, e), b->unbind(b, g);
    // A model without its factors is refused at bind.
    free(gauss.eigvecs);
    gauss.eigvecs = NULL;
    EXPECT_REFUSAL(b->bind(b, &gauss) ? 0 : -1, name, "lacks",
                   "bind of a Gaussian without eigenvectors");
    ds_backend_free(b);
    ds_model_free(&emp);
    ds_model_free(&gauss);
}

static void test_refusals(void **state) {
    (void)state;
    int ran_any = 0;
    check_refusals("ref");
    FOR_EACH_BACKEND(r) {
        check_refusals(r->name);
        if (!r->bind_refused) continue;
        // A path forced where it cannot run fails after the training set is uploaded: the
        // partial binding is released (memory checkers see the rest).
        const model_spec wide = {DS_MODEL_EMPIRICAL, 50, 129, 0, 0, 0.3};
        ds_model m;
        gen_model(&m, &wide, 112);
        apply_settings(r->bind_refused, 1);
        ds_backend *b = backend(r->name);
        EXPECT_REFUSAL(b->bind(b, &m) ? 0 : -1, r->name, r->bind_refused + strlen("DIFFSAMP_"),
                       r->bind_refused);
        ds_backend_free(b);
        apply_settings(r->bind_refused, 0);
        ds_model_free(&m);
    }
    END_BACKENDS();
}

// ---- the local models ----

// els, pspc, nearest, variance, and pca_locality and ls on cuda (kernels/local_softmax.cu):
// distances, weights and sums in double from the float32 rows and queries, the float
// output's rounding: 2.5e-7. pca_locality and ls on cpu form their products by SGEMM with
// float weights (cpu_local.c): each row within tu_local_cpu_row_tol (testutil.h, derived
// there).
#define TOL_LOCAL 2.5e-7
#define LOCAL_BY_SGEMM(r, kind)                                                                    \
    (!strcmp((r)->name, "cpu") && ((kind) == DS_MODEL_PCA_LOCALITY || (kind) == DS_MODEL_LS))

// n images c x h x w around 8 cluster centres (0.4 c + 0.25 z, about pixel-sized),
// stored as float32 so that ref and the float backends hold the same rows.
static ds_data local_images(int64_t n, int c, int h, int w, uint64_t salt) {
    int64_t d = (int64_t)c * h * w;
    double *centre = random_normal(8 * d, salt), *z = random_normal(n * d, salt + 1);
    float *v = calloc((size_t)(n * d), sizeof(float));
    assert_non_null(v);
    for (int64_t e = 0; e < n * d; e++)
        v[e] = (float)(0.4 * centre[e / d % 8 * d + e % d] + 0.25 * z[e]);
    free(centre), free(z);
    return (ds_data){
        .n = n, .d = d, .channels = c, .height = h, .width = w, .values = v, .dtype = DS_F32};
}

// Queries a training row + 0.3 z + sigma n, rounded to float.
static double *local_queries(const ds_model *m, int64_t rows, const double *sigma, int64_t n_sigma,
                             uint64_t salt) {
    int64_t d = m->d;
    double *x = random_normal(rows * d, salt), *z = random_normal(rows * d, salt + 1), pick[64];
    assert_true(rows <= 64);
    tu_fill_uniform(pick, rows, seed_for(salt + 2), 0, (double)m->data.n);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < d; j++) {
            double v = ds_data_value(&m->data, (int64_t)pick[i], j) + 0.3 * z[i * d + j] +
                       sigma[n_sigma == 1 ? 0 : i] * x[i * d + j];
            x[i * d + j] = (float)v;
        }
    free(z);
    return x;
}

// smoothed: row i's bound, the mean over its perturbed queries of the empirical bound
// Delta s + TOL_EMPIRICAL |D| (see the top).
static void check_smoothed_rows(const pair *p, const double *x, int64_t rows, const double *sigma,
                                int64_t n_sigma, const double *got, const double *want) {
    const ds_model *m = p->m;
    int64_t d = m->d, samples = m->smoothing_samples;
    double *eps = new_doubles(samples * d), *q = new_doubles(d), *w = new_doubles(m->data.n);
    double y_max = centred_row_max(m);
    ds_smoothed_noise(m, eps);
    for (int64_t i = 0; i < rows; i++) {
        double s = sigma[n_sigma == 1 ? 0 : i], a = ds_smoothed_scale(m, s), tol = 0;
        double err = 0, norm = 0;
        for (int64_t c = 0; c < samples; c++) {
            for (int64_t j = 0; j < d; j++) q[j] = x[i * d + j] + a * eps[c * d + j];
            posterior post = posterior_of(m, q, s, y_max, w);
            tol += post.delta * post.spread / (double)samples;
        }
        for (int64_t j = 0; j < d; j++) {
            err += (got[i * d + j] - want[i * d + j]) * (got[i * d + j] - want[i * d + j]);
            norm += want[i * d + j] * want[i * d + j];
        }
        tol += TOL_EMPIRICAL * sqrt(norm);
        if (!(sqrt(err) <= tol))
            fail_msg("%s smoothed row %lld sigma %g: |D - ref| = %.3g > %.3g", p->label,
                     (long long)i, s, sqrt(err), tol);
    }
    free(eps), free(q), free(w);
}

// pca_locality, ls: each row within its bound from the SGEMM error and its pixels'
// softmax spread (tu_local_cpu_row_tol).
static void check_local_rows(const pair *p, const double *x, int64_t rows, const double *sigma,
                             int64_t n_sigma, const double *got, const double *want) {
    const ds_model *m = p->m;
    int64_t d = m->d;
    for (int64_t i = 0; i < rows; i++) {
        double s = sigma[n_sigma == 1 ? 0 : i], err = 0;
        double tol = tu_local_cpu_row_tol(m, x + i * d, s, want + i * d);
        for (int64_t j = 0; j < d; j++)
            err += (got[i * d + j] - want[i * d + j]) * (got[i * d + j] - want[i * d + j]);
        if (!(tol >= 0 && sqrt(err) <= tol))
            fail_msg("%s %s %dx%dx%d patch %d row %lld sigma %g: |D - ref| = %.3g > %.3g", p->label,
                     ds_model_kind_name(m->kind), m->channels, m->height, m->width, m->patch_size,
                     (long long)i, s, sqrt(err), tol);
    }
}

// One local model on one backend under one path's settings: every sigma of the list, then
// per-row sigmas in place.
static void check_local_path(const backend_row *r, const char *settings, const ds_model *m,
                             uint64_t salt) {
    const char *kind = ds_model_kind_name(m->kind);
    pair p = bind_pair(r, settings, m);
    const int64_t rows = 8, d = m->d;
    double *a = new_doubles(rows * d), *want = new_doubles(rows * d), worst = 0;
    for (int s = 0; s <= N_SIGMAS; s++) {
        int per_row = s == N_SIGMAS;
        double *sigma = per_row ? log_uniform(rows, 0.002, 80, salt + 99) : NULL;
        const double *sg = per_row ? sigma : &sigmas[s];
        int64_t n_sigma = per_row ? rows : 1;
        double *x = local_queries(m, rows, sg, n_sigma, salt + (uint64_t)s);
        denoise_on(p.be, p.bm, x, rows, d, sg, n_sigma, per_row, a, NULL);
        denoise_on(p.ref, p.ref_bm, x, rows, d, sg, n_sigma, 0, want, NULL);
        double err = tu_rel_l2(a, want, rows * d);
        worst = fmax(worst, err);
        if (m->kind == DS_MODEL_SMOOTHED)
            check_smoothed_rows(&p, x, rows, sg, n_sigma, a, want);
        else if (LOCAL_BY_SGEMM(r, m->kind))
            check_local_rows(&p, x, rows, sg, n_sigma, a, want);
        else if (!(err <= TOL_LOCAL))
            fail_msg("%s %s %dx%dx%d sigma %s: rel L2 error %.3g > %.1g", p.label, kind,
                     m->channels, m->height, m->width, per_row ? "per row" : "fixed", err,
                     TOL_LOCAL);
        free(x), free(sigma);
    }
    printf("%s %s %dx%dx%d%s: worst rel L2 error over the sigmas %.2e\n", p.label, kind,
           m->channels, m->height, m->width, m->patch_steps ? " (patch schedule)" : "", worst);
    free(a), free(want);
    unbind_pair(&p, settings);
}

// One local model on one backend, under each of its paths. A backend without a path for
// the kind must refuse it at bind, with one line.
static void check_local_model(const backend_row *r, const ds_model *m, uint64_t salt) {
    const char *kind = ds_model_kind_name(m->kind);
    ds_backend *probe = backend(r->name);
    ds_bound_model *bm = probe->bind(probe, m);
    if (!bm) {
        if (!strstr(ds_error(), "no CUDA path"))
            fail_msg("%s bind %s: %s", r->name, kind, ds_error());
        printf("%s %s: refused at bind, as a backend without a path must (%s)\n", r->name, kind,
               ds_error());
        ds_backend_free(probe);
        return;
    }
    probe->unbind(probe, bm);
    ds_backend_free(probe);
    // nearest and smoothed are evaluated by the empirical denoiser: they run under each of
    // its paths, els and pspc under each patch path, the other kinds under the defaults.
    static const path default_path[] = {{"", 0}, {NULL, 0}};
    const path *paths = m->kind == DS_MODEL_NEAREST || m->kind == DS_MODEL_SMOOTHED
                            ? r->empirical_path
                        : m->kind == DS_MODEL_ELS || m->kind == DS_MODEL_PSPC ? r->patch_path
                                                                              : default_path;
    for (const path *k = paths; k->settings; k++) {
        if (k->max_d && m->d > k->max_d) continue;
        check_local_path(r, k->settings, m, salt);
    }
}

// Every model kind that keeps the rows but the empirical one (the local models, nearest,
// smoothed, variance), grey and RGB, fixed patches and a patch schedule, and the patch
// models on 5 channels (more than a cuda els launch's 4); 300 training rows, more than a
// cuda block's threads (each thread then folds several rows).
static void test_local_models(void **state) {
    (void)state;
    int ran_any = 0;
    const int shapes[3][3] = {{1, 6, 6}, {3, 4, 5}, {5, 4, 4}};
    const double schedule[6] = {0.1, 1, 2.0, 3, 80.0, 5},
                 pspc_schedule[6] = {0.1, 1, 2.0, 2, 80.0, 4};
    const ds_model_kind kinds[] = {DS_MODEL_PCA_LOCALITY, DS_MODEL_LS,  DS_MODEL_NEAREST,
                                   DS_MODEL_SMOOTHED,     DS_MODEL_ELS, DS_MODEL_PSPC,
                                   DS_MODEL_VARIANCE};
    const int n_kinds = (int)(sizeof kinds / sizeof kinds[0]);
    FOR_EACH_BACKEND(r) {
        for (int s = 0; s < 3; s++) {
            ds_data data =
                local_images(300, shapes[s][0], shapes[s][1], shapes[s][2], 130 + (uint64_t)s);
            for (int k = 0; k < n_kinds; k++)
                for (int scheduled = 0; (s < 2 || ds_model_uses_patches(kinds[k])) &&
                                        scheduled < 1 + ds_model_uses_patches(kinds[k]);
                     scheduled++) {
                    ds_fit_opts o;
                    ds_fit_opts_default(&o);
                    o.patch_size = 3, o.smoothing = 0.05, o.smoothing_samples = 3, o.seed = 7;
                    if (scheduled)
                        o.patch_steps = 3,
                        o.patch_schedule = kinds[k] == DS_MODEL_PSPC ? pspc_schedule : schedule;
                    ds_model m;
                    if (ds_model_fit(&data, kinds[k], &o, &m))
                        fail_msg("fit %s: %s", ds_model_kind_name(kinds[k]), ds_error());
                    check_local_model(r, &m, 140 + 20 * (uint64_t)(2 * k + s));
                    ds_model_free(&m);
                }
            ds_data_free(&data);
        }
    }
    END_BACKENDS();
}

// linear_features in 1-D and 2-D (the paper's features, 500 draws) on 40 float-exact
// queries in the grid's range, at each sigma of the list and per row, against ref.
static void test_linear_features(void **state) {
    (void)state;
    int ran_any = 0;
    FOR_EACH_BACKEND(r) {
        for (int64_t d = 1; d <= 2; d++) {
            const int64_t n = 7, rows = 40;
            double *y = random_normal(n * d, 150 + (uint64_t)d);
            ds_data data = {.n = n, .d = d, .dtype = DS_F64, .values = y};
            ds_fit_opts o;
            ds_fit_opts_default(&o);
            o.seed = seed_for(151) % 1000;
            ds_model m;
            if (ds_model_fit(&data, DS_MODEL_LINEAR_FEATURES, &o, &m))
                fail_msg("fit linear_features: %s", ds_error());
            ds_backend *probe = backend(r->name);
            ds_bound_model *bm = probe->bind(probe, &m);
            if (!bm) {
                if (!strstr(ds_error(), "no CUDA path") || strchr(ds_error(), '\n'))
                    fail_msg("%s bind linear_features: %s", r->name, ds_error());
                printf("%s linear_features: refused at bind, as a backend without a path must "
                       "(%s)\n",
                       r->name, ds_error());
            } else {
                probe->unbind(probe, bm);
                pair p = bind_pair(r, "", &m);
                double *a = new_doubles(rows * d), *want = new_doubles(rows * d), worst = 0;
                for (int s = 0; s <= N_SIGMAS; s++) {
                    int per_row = s == N_SIGMAS;
                    double *sg = per_row ? log_uniform(rows, 0.002, 80, 152) : NULL;
                    double *x = random_normal(rows * d, 153 + (uint64_t)s);
                    for (int64_t e = 0; e < rows * d; e++) x[e] = (float)(0.7 * x[e]);
                    const double *sig = per_row ? sg : &sigmas[s];
                    denoise_on(p.be, p.bm, x, rows, d, sig, per_row ? rows : 1, per_row, a, NULL);
                    denoise_on(p.ref, p.ref_bm, x, rows, d, sig, per_row ? rows : 1, 0, want, NULL);
                    double err = tu_rel_l2(a, want, rows * d);
                    worst = fmax(worst, err);
                    if (!(err <= U))
                        fail_msg("%s linear_features d = %lld sigma %s: rel L2 error %.3g > %.3g",
                                 p.label, (long long)d, per_row ? "per row" : "fixed", err, U);
                    free(x), free(sg);
                }
                printf("%s linear_features d = %lld: worst rel L2 error over the sigmas %.2e "
                       "(tol %.2e)\n",
                       p.label, (long long)d, worst, U);
                free(a), free(want);
                unbind_pair(&p, "");
            }
            ds_backend_free(probe);
            ds_model_free(&m);
            free(y);
        }
    }
    END_BACKENDS();
}

// Heun over an EDM-like schedule 80 -> 0.5 (6 steps, 12 NFE) from the same Philox noise.
// One Heun step (two NFE) from sigma s0 to s1 on backend b, x (host doubles) in place.
static void heun_step(ds_backend *b, ds_bound_model *bm, double s0, double s1, double *x,
                      int64_t rows, int64_t d) {
    const double s[2] = {s0, s1};
    ds_batch *bx = b->batch_new(b, rows, d);
    assert_non_null(bx);
    assert_int_equal(b->upload(b, bx, x), 0);
    ds_solver_opts o;
    ds_solver_opts_default(&o);
    o.solver = "heun";
    ds_solver_ctx ctx = {.b = b, .model = bm};
    if (ds_solve(&ctx, &o, s, 2, bx)) fail_msg("%s heun: %s", b->name, ds_error());
    assert_int_equal(ctx.nfe, 2);
    assert_int_equal(b->download(b, bx, x), 0);
    b->batch_free(b, bx);
}

// Heun over 6 steps (12 NFE, sigma 80 -> 0.5) on the backend, each step against ref's step
// from the same state (the backend's, converted exactly to double). Step by step, because
// the ODE itself can amplify a difference: a trajectory that passes between two
// clusters at sigma ~1 to 3 carries a 1e-7 change of its state to 1e-3 at the end (seed
// 9130: one sample of 16 off by 1.8e-3 between two whole runs, every step within 1e-6),
// which says nothing about the backend. One step is two NFE, each within ~1e-6 relative
// (the denoiser tolerances above, away from balanced posteriors), with coefficients of
// at most 2 on D: a step's relative L2 error over the batch <= 1e-5. (The whole run's
// difference from ref's own whole run is printed, not held to a bound.)
static void test_end_to_end_heun(void **state) {
    (void)state;
    int ran_any = 0;
    const model_spec specs[] = {{DS_MODEL_EMPIRICAL, 800, 64, 0, 0, 0.3},
                                {DS_MODEL_GMM, 0, 32, 4, 10, 0}};
    const double s[] = {80, 31.4, 11.0, 3.3, 1.5, 0.8, 0.5};
    FOR_EACH_BACKEND(r) {
        for (int k = 0; k < 2; k++) {
            ds_model m;
            gen_model(&m, &specs[k], 100 + (uint64_t)k);
            int64_t rows = 16, d = m.d;
            ds_backend *b = backend(r->name), *ref = backend("ref");
            ds_bound_model *bm = b->bind(b, &m), *ref_bm = ref->bind(ref, &m);
            if (!bm || !ref_bm) fail_msg("bind: %s", ds_error());
            double *x = new_doubles(rows * d), *want = new_doubles(rows * d);
            double *whole = new_doubles(rows * d), worst = 0;
            for (int64_t e = 0; e < rows * d; e++)
                x[e] = s[0] * ds_philox_normal(seed_for(101), e / d, e % d);
            memcpy(whole, x, sizeof(double) * (size_t)(rows * d));
            for (int j = 0; j < 6; j++) {
                memcpy(want, x, sizeof(double) * (size_t)(rows * d));
                heun_step(b, bm, s[j], s[j + 1], x, rows, d);
                heun_step(ref, ref_bm, s[j], s[j + 1], want, rows, d);
                heun_step(ref, ref_bm, s[j], s[j + 1], whole, rows, d);
                worst = fmax(worst, tu_rel_l2(x, want, rows * d));
            }
            double err = tu_rel_l2(x, whole, rows * d);
            printf("%s heun %s vs ref: worst step rel L2 error %.2e (tol 1e-5), whole run "
                   "%.2e\n",
                   r->name, ds_model_kind_name(m.kind), worst, err);
            assert_true(worst < 1e-5);
            free(x), free(want), free(whole);
            b->unbind(b, bm), ref->unbind(ref, ref_bm);
            ds_backend_free(b), ds_backend_free(ref);
            ds_model_free(&m);
        }
    }
    END_BACKENDS();
}

int main(void) {
    // Every kernel output and workspace buffer of cuda is filled with NaN first.
    setenv("DIFFSAMP_CUDA_POISON", "1", 1);
    const char *filter = getenv("DIFFSAMP_TEST_FILTER");
    if (filter) cmocka_set_test_filter(filter);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lincomb),
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_move_rows),
        cmocka_unit_test(test_landing_vs_dense_ref),
        cmocka_unit_test(test_randn),
        cmocka_unit_test(test_empirical_denoiser),
        cmocka_unit_test(test_empirical_tiny_sigma),
        cmocka_unit_test(test_empirical_nearest_row),
        cmocka_unit_test(test_batches_over_a_row_block),
        cmocka_unit_test(test_fashion_mnist_subset),
        cmocka_unit_test(test_mixture_denoisers),
        cmocka_unit_test(test_many_components),
        cmocka_unit_test(test_gaussian_flow),
        cmocka_unit_test(test_local_models),
        cmocka_unit_test(test_linear_features),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_prune_certificate),
        cmocka_unit_test(test_end_to_end_heun),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
