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

#include "ds_backend.h"
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
