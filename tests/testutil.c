// Helpers shared by the tests.
// nftw needs the X/Open interfaces.
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ds_error.h"
#include "ds_sample.h"

#include "ds_backend.h"
#include "empirical_refine.h"
#include "local_mask.h"
#include "testutil.h"

uint64_t tu_seed(void) {
    static uint64_t seed;
    static int ready;
    if (!ready) {
        const char *env = getenv("DIFFSAMP_TEST_SEED");
        seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
        fprintf(stderr, "test seed: %llu (set DIFFSAMP_TEST_SEED to replay)\n",
                (unsigned long long)seed);
        ready = 1;
    }
    return seed;
}

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double unit(uint64_t *s) {
    return (double)(splitmix64(s) >> 11) * 0x1.0p-53;
}

void tu_fill_uniform(double *x, int64_t n, uint64_t seed, double lo, double hi) {
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * unit(&s);
}

void tu_fill_normal(double *x, int64_t n, uint64_t seed) {
    uint64_t s = seed ^ 0x5DEECE66Dull;
    for (int64_t i = 0; i < n; i++) {
        double u1 = 1.0 - unit(&s), u2 = unit(&s);
        x[i] = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
    }
}

double tu_rel_l2(const double *a, const double *ref, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        num += (a[i] - ref[i]) * (a[i] - ref[i]);
        den += ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

double tu_local_cpu_row_tol(const ds_model *m, const double *x, double sigma, const double *want) {
    ds_local_mask mask;
    if (ds_local_mask_build(m, sigma, &mask)) return -1;
    int64_t n = m->data.n, d = m->d;
    double *l = malloc(sizeof(double) * (size_t)n), inv_s2 = 1 / (sigma * sigma * m->temperature);
    double sum_sq = 0, norm = 0;
    assert_non_null(l);
    for (int64_t j = 0; j < d; j++) {
        const int64_t e0 = mask.start[j], e1 = mask.start[j + 1];
        double best = -INFINITY, qq = 0, y_most = 0, z = 0, dj = 0, s2 = 0;
        for (int64_t e = e0; e < e1; e++)
            qq += mask.weight[e] * x[mask.row[e]] * mask.weight[e] * x[mask.row[e]];
        for (int64_t k = 0; k < n; k++) {
            double t = 0, yy = 0;
            for (int64_t e = e0; e < e1; e++) {
                double y = ds_data_value(&m->data, k, mask.row[e]), r = x[mask.row[e]] - y;
                t -= 0.5 * mask.weight[e] * r * r;
                yy += y * y;
            }
            l[k] = t * inv_s2, best = fmax(best, l[k]), y_most = fmax(y_most, yy);
        }
        for (int64_t k = 0; k < n; k++) l[k] = exp(l[k] - best), z += l[k];
        for (int64_t k = 0; k < n; k++) dj += l[k] / z * ds_data_value(&m->data, k, j);
        for (int64_t k = 0; k < n; k++) {
            double r = ds_data_value(&m->data, k, j) - dj;
            s2 += l[k] / z * r * r;
        }
        double delta = 2 * DS_DOT_ERROR_FACTOR * sqrt(qq) * sqrt(y_most) * inv_s2;
        double b = expm1(delta) * sqrt(s2);
        sum_sq += b * b, norm += want[j] * want[j];
    }
    free(l);
    ds_local_mask_free(&mask);
    return TU_TOL_LOCAL_CPU * sqrt(norm) + sqrt(sum_sq);
}

double tu_local_cpu_tol(const ds_model *m, const double *x, int64_t rows, const double *sigma,
                        int64_t n_sigma, const double *want) {
    int64_t d = m->d;
    double tol_sq = 0, norm = 0;
    for (int64_t i = 0; i < rows; i++) {
        double t = tu_local_cpu_row_tol(m, x + i * d, sigma[n_sigma == 1 ? 0 : i], want + i * d);
        assert_true(t >= 0);
        tol_sq += t * t;
    }
    for (int64_t e = 0; e < rows * d; e++) norm += want[e] * want[e];
    return norm > 0 ? sqrt(tol_sq / norm) : sqrt(tol_sq);
}

double tu_max_abs_diff(const double *a, const double *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

void tu_orthonormal_columns(double *u, int64_t d, int64_t r, uint64_t seed) {
    tu_fill_normal(u, d * r, seed);
    for (int64_t j = 0; j < r; j++)
        for (int pass = 0; pass < 2; pass++) {
            for (int64_t l = 0; l < j; l++) {
                double dot = 0;
                for (int64_t i = 0; i < d; i++) dot += u[i * r + j] * u[i * r + l];
                for (int64_t i = 0; i < d; i++) u[i * r + j] -= dot * u[i * r + l];
            }
            double norm = 0;
            for (int64_t i = 0; i < d; i++) norm += u[i * r + j] * u[i * r + j];
            for (int64_t i = 0; i < d; i++) u[i * r + j] /= sqrt(norm);
        }
}

void tu_empirical_model(ds_model *m, const double *x, int64_t n, int64_t d) {
    memset(m, 0, sizeof *m);
    m->kind = DS_MODEL_EMPIRICAL;
    m->d = d;
    m->data.n = n;
    m->data.d = d;
    m->data.dtype = DS_F64;
    m->data.values = malloc(sizeof(double) * (size_t)(n * d));
    m->mean = calloc((size_t)d, sizeof(double));
    assert_true(m->data.values && m->mean);
    memcpy(m->data.values, x, sizeof(double) * (size_t)(n * d));
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) m->mean[j] += x[i * d + j] / (double)n;
}

int tu_load_subset(const char *path, int64_t count, uint64_t seed, ds_data *out) {
    ds_data all;
    if (ds_data_load(path, &all) != 0) return -1;
    *out = all;
    out->n = count;
    out->labels = NULL;
    out->map_base = NULL;
    size_t row_bytes = ds_dtype_size(all.dtype) * (size_t)all.d;
    out->values = malloc(row_bytes * (size_t)count);
    double *u = malloc(sizeof(double) * (size_t)count);
    assert_true(out->values && u);
    tu_fill_uniform(u, count, seed, 0, 1);
    for (int64_t i = 0; i < count; i++) {
        int64_t k = (int64_t)(u[i] * (double)all.n);
        memcpy((char *)out->values + i * row_bytes, (const char *)all.values + k * row_bytes,
               row_bytes);
    }
    free(u);
    ds_data_free(&all);
    return 0;
}

int64_t tu_nearest_row(const ds_data *data, const double *q, double *best, double *second) {
    int64_t d = data->d, arg = -1;
    *best = *second = INFINITY;
    for (int64_t k = 0; k < data->n; k++) {
        double s = 0;
        for (int64_t j = 0; j < d; j++) {
            double t = q[j] - ds_data_value(data, k, j);
            s += t * t;
        }
        if (s < *best)
            *second = *best, *best = s, arg = k;
        else if (s < *second)
            *second = s;
    }
    return arg;
}

void tu_component_cov(const ds_model *m, int64_t c, double *cov) {
    int64_t d = m->d, r = m->r;
    const double *u = m->eigvecs + c * d * r, *lam = m->eigvals + c * r;
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < d; j++) {
            double s = i == j ? m->residual[c] : 0;
            for (int64_t p = 0; p < r; p++)
                s += u[i * r + p] * (lam[p] - m->residual[c]) * u[j * r + p];
            cov[i * d + j] = s;
        }
}

#define TU_MAX_TMPDIRS 256
static char *tmpdirs[TU_MAX_TMPDIRS];
static int n_tmpdirs;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_tmpdirs(void) {
    if (getenv("DIFFSAMP_TEST_KEEP")) return;
    for (int i = 0; i < n_tmpdirs; i++) nftw(tmpdirs[i], remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *tu_tmpdir(void) {
    char path[512];
    const char *base = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/diffsamp-test-XXXXXX", base ? base : "/tmp");
    if (n_tmpdirs == TU_MAX_TMPDIRS || !mkdtemp(path)) {
        perror("tu_tmpdir");
        exit(1);
    }
    if (!n_tmpdirs) atexit(remove_tmpdirs);
    tmpdirs[n_tmpdirs] = strdup(path);
    if (!tmpdirs[n_tmpdirs]) exit(1);
    return tmpdirs[n_tmpdirs++];
}
const char *tu_bin(void) {
    const char *bin = getenv("DIFFSAMP_BIN");
    return bin ? bin : "./diffsamp";
}

int tu_system(const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    fflush(stdout);
    fflush(stderr);
    int st = system(cmd);
    if (st == -1) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

char *tu_slurp(FILE *f) {
    fflush(f);
    long n = ftell(f);
    char *s = calloc((size_t)n + 1, 1);
    assert_non_null(s);
    rewind(f);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    return s;
}

int tu_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int tu_have_cuda_or_say_skip(const char *test_name) {
    if (ds_cuda_device_count() > 0) return 1;
    printf("%s: skipped: no CUDA device\n", test_name);
    fflush(stdout);
    return 0;
}

// Distinct indices: the first n of a shuffled 0 .. limit-1 (Fisher-Yates).
static void random_rows(int64_t *rows, int64_t n, int64_t limit, uint64_t seed) {
    int64_t *all = malloc(sizeof(int64_t) * (size_t)limit);
    double *u = malloc(sizeof(double) * (size_t)limit);
    assert_non_null(all);
    assert_non_null(u);
    tu_fill_uniform(u, limit, seed, 0, 1);
    for (int64_t i = 0; i < limit; i++) all[i] = i;
    for (int64_t i = limit - 1; i > 0; i--) {
        int64_t j = (int64_t)(u[i] * (double)(i + 1)), t = all[i];
        if (j > i) j = i;
        all[i] = all[j], all[j] = t;
    }
    for (int64_t k = 0; k < n; k++) rows[k] = all[k];
    free(all);
    free(u);
}

static double *float_exact_normal(int64_t n, uint64_t seed) {
    double *x = malloc(sizeof(double) * (size_t)n);
    assert_non_null(x);
    tu_fill_normal(x, n, seed);
    for (int64_t i = 0; i < n; i++) x[i] = (float)x[i];
    return x;
}

// dst (rows x cols, holding want on entry) <- the moved rows; then compares.
static void check_move(ds_backend *b, ds_batch *dst, double *want, const int64_t *dst_rows,
                       const ds_batch *src, const double *src_host, const int64_t *src_rows,
                       int64_t n) {
    int64_t cols = src->cols;
    assert_int_equal(b->move_rows(b, dst, dst_rows, src, src_rows, n), 0);
    for (int64_t k = 0; k < n; k++)
        memcpy(want + (dst_rows ? dst_rows[k] : k) * cols,
               src_host + (src_rows ? src_rows[k] : k) * cols, sizeof(double) * (size_t)cols);
    double *got = malloc(sizeof(double) * (size_t)(dst->rows * cols));
    assert_non_null(got);
    assert_int_equal(b->download(b, dst, got), 0);
    for (int64_t e = 0; e < dst->rows * cols; e++)
        if (got[e] != want[e])
            fail_msg("%s move_rows: element %lld is %.9g, expected %.9g", b->name, (long long)e,
                     got[e], want[e]);
    free(got);
}

void tu_check_move_rows(ds_backend *b, uint64_t seed) {
    const int64_t rows = 41, cols = 67, live = 17;
    double *full = float_exact_normal(rows * cols, seed),
           *other = float_exact_normal(rows * cols, seed + 1);
    double *compact = float_exact_normal(live * cols, seed + 2);
    int64_t idx[17];
    random_rows(idx, live, rows, seed + 3);
    ds_batch *bf = b->batch_new(b, rows, cols), *bo = b->batch_new(b, rows, cols);
    ds_batch *bc = b->batch_new(b, live, cols);
    assert_int_equal(b->upload(b, bf, full), 0);
    assert_int_equal(b->upload(b, bo, other), 0);
    assert_int_equal(b->upload(b, bc, compact), 0);
    check_move(b, bc, compact, NULL, bf, full, idx, live);  // gather
    check_move(b, bo, other, idx, bc, compact, NULL, live); // scatter
    check_move(b, bf, full, idx, bo, other, idx, live);     // same rows of two batches
    check_move(b, bf, full, NULL, bo, other, NULL, rows);   // everything, identity lists
    // A row outside the batch is an error returned to the caller (the library never exits).
    int64_t bad[1] = {live};
    assert_int_equal(b->move_rows(b, bo, NULL, bc, bad, 1), -1);
    assert_non_null(strstr(ds_error(), "row 17 of a source with 17 rows"));
    assert_int_equal(b->move_rows(b, bf, NULL, bf, NULL, 1), -1);
    b->batch_free(b, bf), b->batch_free(b, bo), b->batch_free(b, bc);
    free(full), free(other), free(compact);
}

static int keep_landing_samples(void *user, int64_t first, int64_t rows, const double *x) {
    memcpy((double *)user + first * LAND_D, x, sizeof(double) * (size_t)(rows * LAND_D));
    return 0;
}

// Training rows spread like images (unit-variance entries): R = max |y_i - y_j|.
double tu_landing_model(ds_model *m, uint64_t seed) {
    double y[LAND_N * LAND_D];
    tu_fill_normal(y, LAND_N * LAND_D, seed);
    tu_empirical_model(m, y, LAND_N, LAND_D);
    double r = 0;
    for (int i = 0; i < LAND_N; i++)
        for (int j = 0; j < i; j++) {
            double s = 0;
            for (int k = 0; k < LAND_D; k++) {
                double v = ds_data_value(&m->data, i, k) - ds_data_value(&m->data, j, k);
                s += v * v;
            }
            r = fmax(r, sqrt(s));
        }
    return r;
}

void tu_landing_run(ds_backend *b, const ds_model *m, const char *solver, int final_zero,
                    int landing, double *x, ds_sample_result *r) {
    ds_sample_config c;
    ds_sample_config_default(&c);
    c.solver.solver = solver;
    c.schedule.final_zero = final_zero;
    c.n = LAND_SAMPLES, c.batch = 5; // batches of 5, 5, 2: the last smaller
    c.seed = tu_seed() + 7;
    c.no_landing = !landing;
    if (ds_sample_run(b, m, NULL, &c, keep_landing_samples, x, r)) fail_msg("%s", ds_error());
}

// |a - b| of two samples of LAND_D values, and |b|.
static double sample_diff(const double *a, const double *b, double *norm) {
    double err = 0, nb = 0;
    for (int k = 0; k < LAND_D; k++) err += (a[k] - b[k]) * (a[k] - b[k]), nb += b[k] * b[k];
    *norm = sqrt(nb);
    return sqrt(err);
}

// The landed run equals the dense one within the bound derived in landing.c:
// |x_land - x_dense| <= C eps R per sample, C <= 2 for these solvers (the sum of their
// coefficients' magnitudes), taken as 4, plus the backend's own rounding (ref: 1e-12
// relative; cpu, cuda: float32, 2e-6 relative after 18 steps, as test_samplers' cpu bound).
// On a float backend the landed run is also held against that backend's own dense run:
// both are within their bounds of the ref run, so they differ by at most 4 eps R plus
// twice the rounding. And it lands each sample on the training row the ref landed run
// lands it on (the top row of a posterior one-hot to eps is the same in float and double).
void tu_check_landing(const char *backend, const char *solver, int final_zero, double rounding) {
    ds_model m;
    double radius = tu_landing_model(&m, tu_seed() + 11);
    int own = strcmp(backend, "ref") != 0;
    ds_backend *ref = ds_backend_new("ref"), *b = ds_backend_new(backend);
    double dense[LAND_SAMPLES * LAND_D], landed[LAND_SAMPLES * LAND_D];
    double own_dense[LAND_SAMPLES * LAND_D], ref_landed[LAND_SAMPLES * LAND_D];
    ds_sample_result rd, rl, rb, rr;
    tu_landing_run(ref, &m, solver, final_zero, 0, dense, &rd);
    tu_landing_run(b, &m, solver, final_zero, 1, landed, &rl);
    if (own) {
        tu_landing_run(b, &m, solver, final_zero, 0, own_dense, &rb);
        tu_landing_run(ref, &m, solver, final_zero, 1, ref_landed, &rr);
    }
    assert_int_equal(rd.landing, 0);
    assert_int_equal(rl.landing, 1);
    // Landing triggers: every sample ends on one training row well before the end.
    if (rl.landed < LAND_SAMPLES)
        fail_msg("%s %s: %lld of %d samples landed", backend, solver, (long long)rl.landed,
                 LAND_SAMPLES);
    if (!(rl.nfe_mean < (double)rd.nfe))
        fail_msg("%s %s: landing takes %.2f NFE per sample, dense %lld", backend, solver,
                 rl.nfe_mean, (long long)rd.nfe);
    double eps = 1e-8;
    for (int s = 0; s < LAND_SAMPLES; s++) {
        const double *xl = landed + s * LAND_D;
        double norm, err = sample_diff(xl, dense + s * LAND_D, &norm);
        double bound = 4 * eps * radius + rounding * norm;
        if (!(err <= bound))
            fail_msg("%s %s final_zero=%d sample %d: |x_land - x_dense| = %.3e > %.3e "
                     "(landed at sigma %g, %lld NFE)",
                     backend, solver, final_zero, s, err, bound, rl.landing_sigma[s],
                     (long long)rl.sample_nfe[s]);
        if (own) {
            err = sample_diff(xl, own_dense + s * LAND_D, &norm);
            bound = 4 * eps * radius + 2 * rounding * norm;
            if (!(err <= bound))
                fail_msg("%s %s final_zero=%d sample %d: |x_land - x_dense| = %.3e > %.3e on "
                         "%s itself",
                         backend, solver, final_zero, s, err, bound, backend);
            if (rl.landed_on[s] != rr.landed_on[s])
                fail_msg("%s %s final_zero=%d sample %d: landed on row %lld, ref on %lld", backend,
                         solver, final_zero, s, (long long)rl.landed_on[s],
                         (long long)rr.landed_on[s]);
        }
        assert_true(rl.landing_sigma[s] > 0);
        assert_true(rl.landed_on[s] >= 0 && rl.landed_on[s] < LAND_N);
        assert_true(rl.sample_nfe[s] >= 1 && rl.sample_nfe[s] <= rd.nfe);
        if (final_zero) { // a last step to 0 ends on the training row itself
            double y_err = 0;
            for (int k = 0; k < LAND_D; k++)
                y_err = fmax(y_err, fabs(xl[k] - ds_data_value(&m.data, rl.landed_on[s], k)));
            assert_true(y_err <= rounding * 10);
        }
    }
    if (own) ds_sample_result_free(&rb), ds_sample_result_free(&rr);
    ds_sample_result_free(&rd);
    ds_sample_result_free(&rl);
    ds_backend_free(ref);
    ds_backend_free(b);
    ds_model_free(&m);
}

void tu_denoise(const char *backend, const ds_model *m, const double *x, int64_t rows, double sigma,
                double *out) {
    ds_backend *b = ds_backend_new(backend);
    assert_non_null(b);
    ds_bound_model *bm = b->bind(b, m);
    assert_non_null(bm);
    ds_batch *xb = b->batch_new(b, rows, m->d), *ob = b->batch_new(b, rows, m->d);
    assert_int_equal(b->upload(b, xb, x), 0);
    assert_int_equal(b->denoise(b, bm, xb, &sigma, 1, ob, NULL), 0);
    assert_int_equal(b->download(b, ob, out), 0);
    b->batch_free(b, xb);
    b->batch_free(b, ob);
    b->unbind(b, bm);
    ds_backend_free(b);
}

ds_data tu_images(int64_t n, int c, int h, int w, uint64_t seed, const char *dir) {
    int64_t d = (int64_t)c * h * w;
    ds_data data = {.n = n, .d = d, .channels = c, .height = h, .width = w};
    double *rows = malloc(sizeof(double) * (size_t)(n * d));
    float *values = malloc(sizeof(float) * (size_t)(n * d));
    assert_true(rows && values);
    tu_fill_uniform(rows, n * d, seed, -1, 1);
    data.values = values, data.dtype = DS_F32;
    for (int64_t e = 0; e < n * d; e++) values[e] = (float)rows[e], rows[e] = values[e];
    if (dir) {
        int64_t shape[4] = {n, c, h, w};
        snprintf(data.path, sizeof data.path, "%s/data.npy", dir);
        assert_int_equal(ds_npy_write_f64(data.path, rows, 4, shape, DS_F32), 0);
    }
    free(rows);
    return data;
}

int64_t tu_check_prune_keep(const ds_model *m, const float *x, double sigma, double eps,
                            const uint8_t *keep, double *kept, double *lost) {
    int64_t n = m->data.n, d = m->d, top = 0, skipped = 0;
    double *dist = malloc(sizeof(double) * (size_t)(n + d)), best = INFINITY;
    assert_non_null(dist);
    double *xc = dist + n;
    for (int64_t j = 0; j < d; j++) xc[j] = (double)x[j] - m->mean[j];
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t j = 0; j < d; j++) {
            double v = xc[j] - (float)(ds_data_value(&m->data, i, j) - m->mean[j]);
            s += v * v;
        }
        dist[i] = s;
        if (s < best) best = s, top = i;
    }
    *kept = *lost = 0;
    for (int64_t i = 0; i < n; i++) {
        double w = exp(-(dist[i] - best) / (2 * sigma * sigma));
        if (keep[i]) {
            *kept += w;
            continue;
        }
        skipped++, *lost += w;
        // The test's own double rounding of D_i - D_min: 1e-6 relative is ample.
        if (!(w <= eps / (double)n * (1 + 1e-6)))
            fail_msg("sigma %g: skipped row %lld has w / w_top = %.3g > eps / N = %.3g", sigma,
                     (long long)i, w, eps / (double)n);
    }
    if (!keep[top]) fail_msg("sigma %g: the top row %lld was skipped", sigma, (long long)top);
    free(dist);
    return skipped;
}
