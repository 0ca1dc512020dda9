// Times the cpu empirical denoiser on Fashion-MNIST (N = 60,000, d = 784; random rows
// of that shape when the data set cannot be read) for a batch of B queries, and the
// single SGEMM X Y^T of the same shape as the roofline. Prints one "key value" line
// per figure (medians over the repeats) for tools/bench_cpu.sh.
//
// usage: bench_cpu_denoise [B] [repeats] [data path]
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ds_backend.h"
#include "ds_error.h"
#include "ds_philox.h"
#include "fatal.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

// The training set: the data file, or 60,000 x 784 normal rows of scale 1/3.
static const char *load_rows(const char *path, ds_model *m) {
    memset(m, 0, sizeof *m);
    if (ds_data_load(path, &m->data) != 0) {
        fprintf(stderr, "bench: %s; using random rows\n", ds_error());
        int64_t n = 60000, d = 784;
        float *y = tu_alloc((size_t)(n * d), sizeof(float));
        m->data = (ds_data){.n = n, .d = d, .dtype = DS_F32, .values = y};
        for (int64_t e = 0; e < n * d; e++)
            y[e] = (float)(2.0 * ds_philox_normal(7, e / d, e % d) / 6.0);
        path = "random";
    }
    m->kind = DS_MODEL_EMPIRICAL;
    m->d = m->data.d;
    m->mean = tu_alloc((size_t)m->d, sizeof(double));
    for (int64_t i = 0; i < m->data.n; i++)
        for (int64_t j = 0; j < m->d; j++) m->mean[j] += ds_data_value(&m->data, i, j);
    for (int64_t j = 0; j < m->d; j++) m->mean[j] /= (double)m->data.n;
    return path;
}

int main(int argc, char **argv) {
    int64_t b = argc > 1 ? atoll(argv[1]) : 256;
    int repeats = argc > 2 ? atoi(argv[2]) : 5;
    ds_model m;
    const char *source = load_rows(argc > 3 ? argv[3] : DS_DEFAULT_DATA, &m);
    int64_t n = m.data.n, d = m.d;
    if (b < 1 || repeats < 1 || b > n) tu_die("bench: bad B or repeats");

    // Queries: training rows plus noise at sigma = 1.
    const double sigma = 1.0;
    double *x = tu_alloc((size_t)(b * d), sizeof(double));
    for (int64_t i = 0; i < b; i++)
        for (int64_t j = 0; j < d; j++)
            x[i * d + j] =
                ds_data_value(&m.data, (i * 233) % n, j) + sigma * ds_philox_normal(1, i, j);
    ds_backend *be = ds_backend_new("cpu");
    ds_bound_model *bm = be->bind(be, &m);
    if (!bm) tu_die("%s", ds_error());
    ds_batch *xb = be->batch_new(be, b, d), *out = be->batch_new(be, b, d);
    be->upload(be, xb, x);

    double *t = tu_alloc((size_t)repeats, sizeof(double));
    for (int r = -1; r < repeats; r++) { // r = -1: warm-up
        double t0 = now_ms();
        if (be->denoise(be, bm, xb, &sigma, 1, out, NULL)) tu_die("%s", ds_error());
        if (r >= 0) t[r] = now_ms() - t0;
    }
    double denoise_ms = median(t, repeats);

    // The roofline: one SGEMM B x N x d, the shape of X Y^T.
    float *yf = tu_alloc((size_t)(n * d), sizeof(float)), *xf = xb->data;
    float *c = tu_alloc((size_t)(b * n), sizeof(float));
    ds_data_rows_f32(&m.data, 0, n, yf);
    for (int r = -1; r < repeats; r++) {
        double t0 = now_ms();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b, (int)n, (int)d, 1.0f, xf,
                    (int)d, yf, (int)d, 0.0f, c, (int)n);
        if (r >= 0) t[r] = now_ms() - t0;
    }
    double sgemm_ms = median(t, repeats);
    double flops = 4.0 * (double)b * (double)n * (double)d;
    double denoise_gflops = flops / denoise_ms * 1e-6, sgemm_gflops = 0.5 * flops / sgemm_ms * 1e-6;
    printf("data %s\nshape B=%lld N=%lld d=%lld\nrepeats %d\n", source, (long long)b, (long long)n,
           (long long)d, repeats);
    printf("cpu_denoise_ms %.2f\ncpu_denoise_gflops %.1f\n", denoise_ms, denoise_gflops);
    printf("sgemm_ms %.2f\nsgemm_gflops %.1f\n", sgemm_ms, sgemm_gflops);
    printf("cpu_denoise_pct_of_sgemm %.1f\n", 100.0 * denoise_gflops / sgemm_gflops);

    free(c);
    free(yf);
    free(t);
    free(x);
    be->batch_free(be, xb);
    be->batch_free(be, out);
    be->unbind(be, bm);
    ds_backend_free(be);
    ds_model_free(&m);
    return 0;
}
