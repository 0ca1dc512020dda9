// Helpers shared by the tests.
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

const char *tu_tmpdir(void) {
    static char path[512];
    const char *base = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/diffsamp-test-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(path)) {
        perror("mkdtemp");
        exit(1);
    }
    return path;
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
