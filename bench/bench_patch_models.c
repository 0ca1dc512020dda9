// The cpu els and pspc denoisers against the ref backend's direct float64 loops (the
// baseline: the formulas term by term, host/backends/ref_patch.c), in the same run, on
// Fashion-MNIST images (N training rows, d = 784; random images of that shape when the
// data set cannot be read): B training rows plus noise at sigma as the queries. Per
// model and patch: ref and cpu milliseconds per query (one thread each, CPU time), the
// speed-up, the cpu milliseconds per training image and query, and the cpu output's
// relative L2 error against ref.
//
// usage: bench_patch_models [N] [B] [sigma] [data path]
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ds_backend.h"
#include "ds_error.h"
#include "ds_philox.h"
#include "fatal.h"

static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

// Milliseconds of CPU time of one denoise of x (rows x d) on backend name into out.
static double timed_denoise(const char *name, const ds_model *m, const double *x, int64_t rows,
                            double sigma, double *out) {
    ds_backend *b = ds_backend_new(name);
    if (!b) tu_die("backend %s: %s", name, ds_error());
    ds_bound_model *bm = b->bind(b, m);
    if (!bm) tu_die("bind: %s", ds_error());
    ds_batch *bx = b->batch_new(b, rows, m->d), *bo = b->batch_new(b, rows, m->d);
    if (b->upload(b, bx, x)) tu_die("%s", ds_error());
    double start = cpu_ms();
    if (b->denoise(b, bm, bx, &sigma, 1, bo, NULL)) tu_die("denoise: %s", ds_error());
    double ms = cpu_ms() - start;
    if (b->download(b, bo, out)) tu_die("%s", ds_error());
    b->batch_free(b, bx), b->batch_free(b, bo);
    b->unbind(b, bm);
    ds_backend_free(b);
    return ms;
}

int main(int argc, char **argv) {
    int64_t n = argc > 1 ? atoll(argv[1]) : 20, rows = argc > 2 ? atoll(argv[2]) : 2;
    double sigma = argc > 3 ? atof(argv[3]) : 0.5;
    const char *path = argc > 4 ? argv[4] : DS_DEFAULT_DATA;
    ds_data all, data = {0};
    if (ds_data_load(path, &all) == 0) {
        data = all;
        data.n = n < all.n ? n : all.n;
    } else { // random images of Fashion-MNIST's shape
        float *v = malloc(sizeof(float) * (size_t)(n * 784));
        if (!v) tu_die("out of memory");
        for (int64_t e = 0; e < n * 784; e++)
            v[e] = (float)(0.5 * ds_philox_normal(1, e / 784, e % 784));
        all = data = (ds_data){.n = n,
                               .d = 784,
                               .channels = 1,
                               .height = 28,
                               .width = 28,
                               .values = v,
                               .dtype = DS_F32};
        path = "random 28 x 28 images";
    }
    int64_t d = data.d;
    double *x = malloc(sizeof(double) * (size_t)(rows * d)),
           *want = malloc(sizeof(double) * (size_t)(rows * d));
    double *got = malloc(sizeof(double) * (size_t)(rows * d));
    if (!x || !want || !got) tu_die("out of memory");
    for (int64_t e = 0; e < rows * d; e++)
        x[e] = (float)(ds_data_value(&data, e / d % data.n, e % d) +
                       sigma * ds_philox_normal(2, e / d, e % d));
    printf("%s: N = %lld, B = %lld, sigma = %g, one thread, CPU ms\n", path, (long long)data.n,
           (long long)rows, sigma);
    printf(
        "model patch   ref ms/query   cpu ms/query   speed-up   cpu ms/(image query)   rel err\n");
    const struct {
        ds_model_kind kind;
        int patch;
    } cases[] = {{DS_MODEL_ELS, 3},
                 {DS_MODEL_ELS, 9},
                 {DS_MODEL_PSPC, 3},
                 {DS_MODEL_PSPC, 9},
                 {DS_MODEL_PSPC, 15}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        ds_fit_opts o;
        ds_fit_opts_default(&o);
        o.patch_size = cases[c].patch;
        ds_model m;
        if (ds_model_fit(&data, cases[c].kind, &o, &m)) tu_die("fit: %s", ds_error());
        double ref = timed_denoise("ref", &m, x, rows, sigma, want) / (double)rows;
        double cpu = timed_denoise("cpu", &m, x, rows, sigma, got) / (double)rows;
        double num = 0, den = 0;
        for (int64_t e = 0; e < rows * d; e++)
            num += (got[e] - want[e]) * (got[e] - want[e]), den += want[e] * want[e];
        printf("%-5s %5d   %12.1f   %12.2f   %8.1f   %20.4f   %.1e\n", ds_model_kind_name(m.kind),
               cases[c].patch, ref, cpu, ref / cpu, cpu / (double)data.n, sqrt(num / den));
        ds_model_free(&m);
    }
    free(x), free(want), free(got);
    ds_data_free(&all);
    return 0;
}
