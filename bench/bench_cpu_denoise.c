// Times the cpu empirical denoiser on Fashion-MNIST (N = 60,000, d = 784; random rows
// of that shape when the data set cannot be read) for a batch of B queries, and the
// single SGEMM X Y^T of the same shape as the roofline. Prints one "key value" line
// per figure (medians over the repeats) for tools/bench_cpu.sh.
//
// With "local" first, times the cpu denoiser of a local model (pca_locality, ls, els,
// pspc; KIND:P sets the patch of ls, els and pspc, default 3) per sigma instead: the
// first call at a sigma (it builds pca_locality's and ls's mask) and the denoiser's
// median, with the masks' work counted as 2 B N nnz(mask) flops of products (the
// studio's dense einsum is 2 B N d^2) and B N d weights (els: B N (HW)^2 candidates). DATA
// "cifar-random" is 50,000 random 3 x 32 x 32 images with image-like local correlations (a 5 x 5
// box blur of Philox noise per channel plus a shared blurred grey component). With QUERIES (a .npy
// of B x d float32 rows, else training rows plus noise) the output at each sigma is written to
// OUT.SIGMA.npy.
//
// usage: bench_cpu_denoise [B] [repeats] [data path]
//        bench_cpu_denoise local KIND[:P] B repeats DATA SIGMA[,SIGMA...] [QUERIES OUT]
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ds_backend.h"
#include "ds_error.h"
#include "ds_io.h"
#include "ds_philox.h"
#include "fatal.h"
#include "local_mask.h"

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

// 50,000 images 3 x 32 x 32: per channel a 5 x 5 box sum (wrapping) of Philox noise,
// plus the box sum of one more noise plane shared by the channels, scaled to about
// [-1, 1].
static void cifar_random(ds_data *data) {
    const int64_t n = 50000, c = 3, h = 32, w = 32, d = c * h * w;
    float *v = tu_alloc((size_t)(n * d), sizeof(float));
    *data = (ds_data){
        .n = n, .d = d, .channels = 3, .height = 32, .width = 32, .dtype = DS_F32, .values = v};
#pragma omp parallel
    {
        double *z = tu_alloc((size_t)((c + 1) * h * w), sizeof(double));
#pragma omp for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            for (int64_t e = 0; e < (c + 1) * h * w; e++) z[e] = ds_philox_normal(11, i, e);
            for (int64_t ch = 0; ch < c; ch++)
                for (int64_t a = 0; a < h; a++)
                    for (int64_t b = 0; b < w; b++) {
                        double own = 0, shared = 0;
                        for (int64_t da = -2; da <= 2; da++)
                            for (int64_t db = -2; db <= 2; db++) {
                                int64_t p = ((a + da + h) % h) * w + (b + db + w) % w;
                                own += z[ch * h * w + p];
                                shared += z[c * h * w + p];
                            }
                        v[i * d + (ch * h + a) * w + b] = (float)(0.06 * own + 0.1 * shared);
                    }
        }
        free(z);
    }
}

static int local_main(int argc, char **argv) {
    if (argc < 7)
        tu_die("usage: bench_cpu_denoise local KIND[:P] B repeats DATA SIGMAS [QUERIES OUT]");
    char *kind_name = argv[2], *patch = strchr(kind_name, ':');
    const char *source = argv[5];
    int64_t b = atoll(argv[3]);
    int repeats = atoi(argv[4]);
    if (patch) *patch++ = '\0';
    ds_model_kind kind;
    if (ds_model_kind_parse(kind_name, &kind)) tu_die("%s", ds_error());
    int masked = kind == DS_MODEL_LS || kind == DS_MODEL_PCA_LOCALITY;
    if (b < 1 || repeats < 1) tu_die("bench: bad B or repeats");
    ds_data data;
    if (strcmp(source, "cifar-random") == 0)
        cifar_random(&data);
    else if (ds_data_load(source, &data) != 0)
        tu_die("%s", ds_error());
    ds_fit_opts o;
    ds_fit_opts_default(&o);
    if (patch) o.patch_size = atoll(patch);
    ds_model m;
    double t0 = now_ms();
    if (ds_model_fit(&data, kind, &o, &m) != 0) tu_die("%s", ds_error());
    double fit_ms = now_ms() - t0;
    int64_t n = m.data.n, d = m.d;
    double *x = tu_alloc((size_t)(b * d), sizeof(double));
    if (argc > 8) {
        ds_data q;
        if (ds_data_load(argv[7], &q) != 0) tu_die("%s", ds_error());
        if (q.d != d || q.n < b)
            tu_die("bench: %s: want %lld rows of %lld", argv[7], (long long)b, (long long)d);
        ds_data_rows_f64(&q, 0, b, x);
        ds_data_free(&q);
    } else
        for (int64_t i = 0; i < b; i++)
            for (int64_t j = 0; j < d; j++)
                x[i * d + j] = ds_data_value(&m.data, (i * 233) % n, j) + ds_philox_normal(1, i, j);
    ds_backend *be = ds_backend_new("cpu");
    ds_bound_model *bm = be->bind(be, &m);
    if (!bm) tu_die("%s", ds_error());
    ds_batch *xb = be->batch_new(be, b, d), *out = be->batch_new(be, b, d);
    if (be->upload(be, xb, x)) tu_die("%s", ds_error());
    printf("data %s\nmodel %s\nshape B=%lld N=%lld d=%lld\nrepeats %d\nfit_ms %.0f\n", source,
           kind_name, (long long)b, (long long)n, (long long)d, repeats, fit_ms);
    double *t = tu_alloc((size_t)repeats, sizeof(double));
    for (char *tok = strtok(argv[6], ","); tok; tok = strtok(NULL, ",")) {
        double sigma = atof(tok);
        double nnz = 0;
        if (masked) {
            ds_local_mask mask;
            if (ds_local_mask_build(&m, sigma, &mask)) tu_die("%s", ds_error());
            nnz = (double)mask.start[d];
            ds_local_mask_free(&mask);
        }
        for (int r = -1; r < repeats; r++) { // r = -1: the call that builds the mask
            t0 = now_ms();
            if (be->denoise(be, bm, xb, &sigma, 1, out, NULL)) tu_die("%s", ds_error());
            if (r >= 0)
                t[r] = now_ms() - t0;
            else
                printf("sigma %g first_call_ms %.1f\n", sigma, now_ms() - t0);
        }
        double ms = median(t, repeats), flops = 2.0 * (double)b * (double)n * nnz;
        double hw = (double)m.height * (double)m.width;
        if (!masked)
            printf("sigma %g patch %lld denoise_ms %.1f ms_per_query %.2f ms_per_image_query %.4f "
                   "els_candidates %.3g\n",
                   sigma, (long long)ds_patch_at(&m, sigma), ms, ms / (double)b,
                   ms / (double)b / (double)n, (double)b * (double)n * hw * hw);
        else
            printf("sigma %g mask_density %.4f denoise_ms %.1f ms_per_query %.2f gemm_gflop %.2f "
                   "gemm_gflops %.1f studio_einsum_gflop %.1f weights_per_s %.3g\n",
                   sigma, nnz / ((double)d * (double)d), ms, ms / (double)b, flops * 1e-9,
                   flops / ms * 1e-6, 2.0 * (double)b * (double)n * (double)d * (double)d * 1e-9,
                   (double)b * (double)n * (double)d / ms * 1e3);
        fflush(stdout);
        if (argc > 8) { // the output at this sigma: OUT.SIGMA.npy
            double *y = tu_alloc((size_t)(b * d), sizeof(double));
            char path[1024];
            snprintf(path, sizeof path, "%s.%g.npy", argv[8], sigma);
            if (be->download(be, out, y)) tu_die("%s", ds_error());
            int64_t shape[2] = {b, d};
            if (ds_npy_write_f64(path, y, 2, shape, DS_F32)) tu_die("%s", ds_error());
            free(y);
        }
    }
    free(t);
    free(x);
    be->batch_free(be, xb);
    be->batch_free(be, out);
    be->unbind(be, bm);
    ds_backend_free(be);
    ds_model_free(&m);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "local") == 0) return local_main(argc, argv);
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
    if (be->upload(be, xb, x)) tu_die("%s", ds_error());

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
