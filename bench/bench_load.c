// Times ds_data_load of a data set (default: the Fashion-MNIST training .gz): best and
// median of 5 runs, in ms and in MB/s of uint8 pixels decoded.
// Usage: bench_load [path]
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ds_data.h"
#include "ds_error.h"
#include "fatal.h"

#define RUNS 5

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : DS_DEFAULT_DATA;
    double ms[RUNS];
    int64_t n = 0, d = 0;
    for (int r = 0; r < RUNS; r++) {
        ds_data data;
        double t0 = now_ms();
        if (ds_data_load(path, &data) != 0) tu_die("%s", ds_error());
        ms[r] = now_ms() - t0;
        n = data.n, d = data.d;
        ds_data_free(&data);
    }
    qsort(ms, RUNS, sizeof ms[0], compare_doubles);
    double mb = (double)n * (double)d / 1e6; // one byte per value in the source
    printf("load %s: %lld x %lld\n", path, (long long)n, (long long)d);
    printf("best %.1f ms (%.0f MB/s), median %.1f ms (%.0f MB/s) over %d runs\n", ms[0],
           mb / (ms[0] / 1e3), ms[RUNS / 2], mb / (ms[RUNS / 2] / 1e3), RUNS);
    return 0;
}
