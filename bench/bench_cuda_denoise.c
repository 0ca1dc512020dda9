// Benchmark of the cuda backend's empirical denoiser on random data: milliseconds per
// evaluation, TFLOP/s (4 B N d flops: the two products), the cuBLAS SGEMM rate of the
// same two products (the roofline), the ratio to PyTorch (timings from
// tools/bench_torch.py), and a full sampling run with Heun on the EDM schedule.
// Before a shape is timed, its first rows are denoised by the float64 ref backend and
// compared; a failed check, or non-finite samples in the full run, gives exit status 1.
//
//   bench_cuda_denoise [--torch FILE] [--reps R] [--samples S] [--no-full] [--small]
//   bench_cuda_denoise --profile    (one Heun run of 4,096 samples, for nsys / ncu)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef DIFFSAMP_HAVE_CUDA
int main(void) {
    fprintf(stderr, "bench_cuda_denoise: this build has no CUDA backend (nvcc was not found "
                    "when CMake configured it)\n");
    return 1;
}
#else
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <errno.h>
#include <math.h>
#include <time.h>

#include "ds_backend.h"
#include "ds_error.h"
#include "ds_solver.h"
#include "fatal.h"

#define CHECK_CUDA(call)                                                                           \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) tu_die("%s: %s", #call, cudaGetErrorString(e_));                    \
    } while (0)
#define CHECK_CUBLAS(call)                                                                         \
    do {                                                                                           \
        cublasStatus_t s_ = (call);                                                                \
        if (s_ != CUBLAS_STATUS_SUCCESS) tu_die("%s: %s", #call, cublasGetStatusString(s_));       \
    } while (0)

static const char usage[] = "usage: bench_cuda_denoise [--torch FILE] [--reps R] [--samples S] "
                            "[--no-full] [--small] | --profile";

typedef struct {
    int64_t n, d;
} shape;

// The shapes timed, the batch sizes and the full run's training set.
typedef struct {
    shape shapes[2];
    int64_t batches[3];
    shape full;
} bench_plan;

// Fashion-MNIST and CIFAR-10 sizes; --small: a smoke test of this program (the CUDA
// emulator runs it in ctest).
static const bench_plan issue_plan = {
    {{60000, 784}, {50000, 3072}}, {256, 1024, 4096}, {50000, 3072}};
static const bench_plan small_plan = {{{600, 28}, {500, 96}}, {8, 16, 32}, {500, 96}};

// The accuracy check: rows compared with ref, at a peaked and a broad softmax. float32
// logits carry ~sqrt(d) 2^-24 |x||y| ~ 3e-3 absolute error at d = 3,072 (|x|, |y| ~ 32),
// divided by sigma^2; at sigma = 1 one row dominates by hundreds of logits, at sigma = 20
// the error is ~1e-5 relative in the weights. 1e-4 passes float32 and fails a wrong
// formula (a missing mean or scale gives errors of order 1e-2 and more).
enum { CHECK_ROWS = 4 };
static const double check_sigmas[] = {1.0, 20.0};
static const double check_tol = 1e-4;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// Uniform in [-1, 1), like pixels scaled to [-1, 1].
static void fill_uniform(float *x, int64_t n, uint64_t seed) {
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)((double)(splitmix64(&seed) >> 11) * 0x1.0p-52 - 1.0);
}

static void make_empirical(ds_model *m, int64_t n, int64_t d, uint64_t seed) {
    memset(m, 0, sizeof *m);
    m->kind = DS_MODEL_EMPIRICAL;
    m->d = m->data.d = d;
    m->data.n = n;
    float *y = tu_alloc((size_t)(n * d), sizeof(float));
    m->data.dtype = DS_F32, m->data.values = y;
    m->mean = tu_alloc((size_t)d, sizeof(double));
    fill_uniform(y, n * d, seed);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) m->mean[j] += y[i * d + j];
    for (int64_t j = 0; j < d; j++) m->mean[j] /= (double)n;
}

static int compare_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

// Median milliseconds of f(arg) over reps calls, each timed by CUDA events, after one
// warm-up call (workspace allocation, cuBLAS heuristics).
static double time_ms(void (*f)(void *), void *arg, int reps) {
    cudaEvent_t start, stop;
    float *ms = tu_alloc((size_t)reps, sizeof(float));
    f(arg);
    CHECK_CUDA(cudaEventCreate(&start));
    CHECK_CUDA(cudaEventCreate(&stop));
    for (int r = 0; r < reps; r++) {
        CHECK_CUDA(cudaEventRecord(start, 0));
        f(arg);
        CHECK_CUDA(cudaEventRecord(stop, 0));
        CHECK_CUDA(cudaEventSynchronize(stop));
        CHECK_CUDA(cudaEventElapsedTime(&ms[r], start, stop));
    }
    CHECK_CUDA(cudaEventDestroy(start));
    CHECK_CUDA(cudaEventDestroy(stop));
    qsort(ms, (size_t)reps, sizeof(float), compare_float);
    double median = reps % 2 ? ms[reps / 2] : 0.5 * (ms[reps / 2 - 1] + ms[reps / 2]);
    free(ms);
    return median;
}

typedef struct {
    ds_backend *b;
    ds_bound_model *bm;
    ds_batch *x, *out;
} denoise_args;

static void run_denoise(void *p) {
    denoise_args *a = p;
    double sigma = 1.0;
    if (a->b->denoise(a->b, a->bm, a->x, &sigma, 1, a->out, NULL)) tu_die("%s", ds_error());
}

// out = D(x; sigma) for rows x d host values, on backend b.
static void denoise_host(ds_backend *b, ds_bound_model *bm, const double *x, int64_t rows,
                         int64_t d, double sigma, double *out) {
    ds_batch *in = b->batch_new(b, rows, d), *res = b->batch_new(b, rows, d);
    if (b->upload(b, in, x)) tu_die("%s", ds_error());
    if (b->denoise(b, bm, in, &sigma, 1, res, NULL)) tu_die("%s", ds_error());
    if (b->download(b, res, out)) tu_die("%s", ds_error());
    b->batch_free(b, in);
    b->batch_free(b, res);
}

// The first CHECK_ROWS queries of x on cuda against ref (float64); 0 when every relative
// L2 error is under check_tol.
static int check_against_ref(ds_backend *cuda, ds_bound_model *bm, const ds_model *m,
                             const double *x) {
    ds_backend *ref = ds_backend_new("ref");
    ds_bound_model *ref_bm = ref ? ref->bind(ref, m) : NULL;
    if (!ref_bm) tu_die("%s", ds_error());
    int64_t count = CHECK_ROWS * m->d;
    double *got = tu_alloc((size_t)count, sizeof(double));
    double *want = tu_alloc((size_t)count, sizeof(double));
    int failed = 0;
    for (size_t s = 0; s < sizeof check_sigmas / sizeof check_sigmas[0]; s++) {
        denoise_host(cuda, bm, x, CHECK_ROWS, m->d, check_sigmas[s], got);
        denoise_host(ref, ref_bm, x, CHECK_ROWS, m->d, check_sigmas[s], want);
        double diff = 0, norm = 0;
        for (int64_t e = 0; e < count; e++) {
            diff += (got[e] - want[e]) * (got[e] - want[e]);
            norm += want[e] * want[e];
        }
        double err = sqrt(diff / norm);
        int ok = err < check_tol; // false for NaN
        failed |= !ok;
        printf("check N = %lld, d = %lld, sigma = %g: %d rows against ref (float64): relative "
               "error %.2e (%s, tolerance %g)\n",
               (long long)m->data.n, (long long)m->d, check_sigmas[s], CHECK_ROWS, err,
               ok ? "ok" : "FAILED", check_tol);
    }
    free(got);
    free(want);
    ref->unbind(ref, ref_bm);
    ds_backend_free(ref);
    return failed;
}

// The two products of the empirical denoiser as plain SGEMMs: logits (B x N) = X Y^T,
// then out (B x d) = W Y, with the layouts the backend uses.
typedef struct {
    cublasHandle_t h;
    int n, d, b;
    float *y, *x, *l, *out;
} sgemm_args;

static void run_sgemm(void *p) {
    sgemm_args *a = p;
    const float one = 1.0f, zero = 0.0f;
    CHECK_CUBLAS(cublasSgemm(a->h, CUBLAS_OP_T, CUBLAS_OP_N, a->n, a->b, a->d, &one, a->y, a->d,
                             a->x, a->d, &zero, a->l, a->n));
    CHECK_CUBLAS(cublasSgemm(a->h, CUBLAS_OP_N, CUBLAS_OP_N, a->d, a->b, a->n, &one, a->y, a->d,
                             a->l, a->n, &zero, a->out, a->d));
}

// SGEMM milliseconds on the training rows y (n x d) and b random query rows. Random
// operands: SGEMM on zeros draws less power and would overstate the roofline.
static double sgemm_ms(const float *y, int64_t n, int64_t d, int64_t b, int reps) {
    sgemm_args a = {NULL, (int)n, (int)d, (int)b, NULL, NULL, NULL, NULL};
    CHECK_CUBLAS(cublasCreate(&a.h));
    CHECK_CUBLAS(cublasSetMathMode(a.h, CUBLAS_DEFAULT_MATH)); // plain FP32, no TF32
    float **bufs[] = {&a.y, &a.x, &a.l, &a.out};
    size_t counts[] = {(size_t)(n * d), (size_t)(b * d), (size_t)(b * n), (size_t)(b * d)};
    for (int i = 0; i < 4; i++) CHECK_CUDA(cudaMalloc((void **)bufs[i], counts[i] * sizeof(float)));
    float *x = tu_alloc(counts[1], sizeof(float));
    fill_uniform(x, (int64_t)counts[1], 77);
    CHECK_CUDA(cudaMemcpy(a.y, y, counts[0] * sizeof(float), cudaMemcpyHostToDevice));
    CHECK_CUDA(cudaMemcpy(a.x, x, counts[1] * sizeof(float), cudaMemcpyHostToDevice));
    free(x);
    double ms = time_ms(run_sgemm, &a, reps);
    for (int i = 0; i < 4; i++) CHECK_CUDA(cudaFree(*bufs[i]));
    CHECK_CUBLAS(cublasDestroy(a.h));
    return ms;
}

// PyTorch milliseconds for (n, d, b) from tools/bench_torch.py's "n d b ms" lines (other
// lines are skipped); 0 when absent or when there is no file.
static double torch_ms(const char *path, int64_t n, int64_t d, int64_t b) {
    if (!path) return 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench_cuda_denoise: cannot open %s (%s): PyTorch not measured\n", path,
                strerror(errno));
        return 0;
    }
    char line[256];
    double found = 0;
    while (fgets(line, sizeof line, f)) {
        long long fn, fd, fb;
        double ms;
        if (sscanf(line, "%lld %lld %lld %lf", &fn, &fd, &fb, &ms) == 4 && fn == n && fd == d &&
            fb == b)
            found = ms;
    }
    fclose(f);
    return found;
}

// Times every batch size on one shape; returns 1 when the accuracy check failed.
static int bench_shape(ds_backend *b, const bench_plan *plan, shape s, const char *torch,
                       int reps) {
    ds_model m;
    make_empirical(&m, s.n, s.d, 1234 + (uint64_t)s.d);
    ds_bound_model *bm = b->bind(b, &m);
    if (!bm) tu_die("%s", ds_error());
    int failed = 0;
    for (size_t i = 0; i < sizeof plan->batches / sizeof plan->batches[0]; i++) {
        int64_t rows = plan->batches[i];
        double *x = tu_alloc((size_t)(rows * s.d), sizeof(double));
        const float *y = m.data.values;
        for (int64_t e = 0; e < rows * s.d; e++) x[e] = y[e] + 0.5 * sin((double)e);
        if (i == 0) { // x's first rows are the same at every B
            printf("\n");
            failed = check_against_ref(b, bm, &m, x);
            printf("\n| N | d | B | diffsamp ms | TFLOP/s (4BNd) | SGEMM ms | %% of SGEMM rate "
                   "| PyTorch ms | speed-up vs PyTorch |\n|---|---|---|---|---|---|---|---|---|\n");
        }
        denoise_args a = {b, bm, b->batch_new(b, rows, s.d), b->batch_new(b, rows, s.d)};
        if (b->upload(b, a.x, x)) tu_die("%s", ds_error());
        double ms = time_ms(run_denoise, &a, reps), gemm = sgemm_ms(y, s.n, s.d, rows, reps);
        double tflops = 4.0 * (double)rows * (double)s.n * (double)s.d / (ms * 1e-3) / 1e12;
        double pt = torch_ms(torch, s.n, s.d, rows);
        char pt_text[64] = "not measured", ratio[64] = "-";
        if (pt > 0) {
            snprintf(pt_text, sizeof pt_text, "%.2f", pt);
            snprintf(ratio, sizeof ratio, "%.2fx", pt / ms);
        }
        printf("| %lld | %lld | %lld | %.2f | %.1f | %.2f | %.0f%% | %s | %s |\n", (long long)s.n,
               (long long)s.d, (long long)rows, ms, tflops, gemm, 100.0 * gemm / ms, pt_text,
               ratio);
        fflush(stdout);
        b->batch_free(b, a.x);
        b->batch_free(b, a.out);
        free(x);
    }
    b->unbind(b, bm);
    ds_model_free(&m);
    return failed;
}

// EDM schedule (rho = 7) of n sigmas from 80 to 0.002, then 0.
static void edm_sigmas(double *s, int n) {
    double hi = pow(80.0, 1 / 7.0), lo = pow(0.002, 1 / 7.0);
    for (int i = 0; i < n; i++) s[i] = pow(hi + (double)i / (n - 1) * (lo - hi), 7.0);
    s[n] = 0;
}

// Heun, 18 steps (35 NFE), of `samples` samples against the plan's training set (50,000
// CIFAR-10-size rows); returns 1 when a sample has a non-finite value.
static int full_run(ds_backend *b, const bench_plan *plan, int64_t samples) {
    const int64_t n = plan->full.n, d = plan->full.d;
    double sigmas[19];
    edm_sigmas(sigmas, 18);
    ds_model m;
    make_empirical(&m, n, d, 99);
    double t0 = now_s();
    ds_bound_model *bm = b->bind(b, &m);
    if (!bm) tu_die("%s", ds_error());
    double t1 = now_s();
    ds_batch *x = b->batch_new(b, samples, d);
    if (b->randn(b, x, 7, 0)) tu_die("%s", ds_error());
    const double coef[1] = {sigmas[0]};
    const ds_batch *in[1] = {x};
    if (b->lincomb(b, x, 1, coef, in)) tu_die("%s", ds_error());
    ds_solver_opts o;
    ds_solver_opts_default(&o);
    o.solver = "heun";
    ds_solver_ctx ctx = {.b = b, .model = bm};
    if (ds_solve(&ctx, &o, sigmas, 19, x)) tu_die("%s", ds_error());
    double *out = tu_alloc((size_t)(samples * d), sizeof(double));
    if (b->download(b, x, out)) tu_die("%s", ds_error());
    double t2 = now_s();
    int64_t bad = 0;
    for (int64_t e = 0; e < samples * d; e++) bad += !isfinite(out[e]);
    double flop = 4.0 * (double)ctx.nfe * (double)samples * (double)n * (double)d;
    printf("\nFull run: %lld samples, d = %lld, N = %lld, Heun 18 steps, %lld NFE: %.2f s "
           "(noise + sampling + download; %.1f TFLOP/s), bind (upload of the training set) "
           "%.2f s; %lld non-finite values%s\n",
           (long long)samples, (long long)d, (long long)n, (long long)ctx.nfe, t2 - t1,
           flop / (t2 - t1) / 1e12, t1 - t0, (long long)bad, bad ? " (FAILED)" : "");
    free(out);
    b->batch_free(b, x);
    b->unbind(b, bm);
    ds_model_free(&m);
    return bad > 0;
}

// A whole number >= 1 given to option opt, or exit with a message.
static int64_t parse_count(const char *opt, const char *text) {
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < 1 || v > 1000000000)
        tu_die("bench_cuda_denoise: %s must be a whole number from 1 to 1e9, got '%s'", opt, text);
    return v;
}

// Dies with the runtime's own reason when CUDA sees no device (no driver, a driver too
// old for this runtime, no GPU).
static void require_gpu(void) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess)
        tu_die("bench_cuda_denoise: no usable GPU: cudaGetDeviceCount: %s", cudaGetErrorString(e));
    if (count < 1) tu_die("bench_cuda_denoise: no GPU: CUDA sees 0 devices");
}

int main(int argc, char **argv) {
    const char *torch = NULL;
    int64_t reps = 10, samples = 50000;
    int full = 1;
    const bench_plan *plan = &issue_plan;
    for (int i = 1; i < argc; i++) {
        int has_value = i + 1 < argc;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("%s\n", usage);
            return 0;
        } else if (!strcmp(argv[i], "--torch") && has_value) {
            torch = argv[++i];
        } else if (!strcmp(argv[i], "--reps") && has_value) {
            reps = parse_count("--reps", argv[++i]);
        } else if (!strcmp(argv[i], "--samples") && has_value) {
            samples = parse_count("--samples", argv[++i]);
        } else if (!strcmp(argv[i], "--no-full")) {
            full = 0;
        } else if (!strcmp(argv[i], "--small")) {
            plan = &small_plan;
        } else if (!strcmp(argv[i], "--profile")) {
            full = 2;
        } else {
            tu_die("bench_cuda_denoise: unknown option or missing value '%s'; %s", argv[i], usage);
        }
    }
    require_gpu();
    ds_backend *b = ds_backend_new("cuda");
    if (!b) tu_die("%s", ds_error());
    int failed = 0;
    if (full == 2) {
        failed = full_run(b, plan, 4096);
        ds_backend_free(b);
        return failed;
    }
    struct cudaDeviceProp p;
    CHECK_CUDA(cudaGetDeviceProperties(&p, 0));
    time_t t = time(NULL);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&t));
    printf("Device: %s (%d SMs, %.0f GiB); %s; float32 (no TF32); median of %d calls, each "
           "timed by CUDA events, after a warm-up\n",
           p.name, p.multiProcessorCount, (double)p.totalGlobalMem / (1 << 30), date, (int)reps);
    for (size_t i = 0; i < sizeof plan->shapes / sizeof plan->shapes[0]; i++)
        failed |= bench_shape(b, plan, plan->shapes[i], torch, (int)reps);
    if (full) failed |= full_run(b, plan, samples);
    ds_backend_free(b);
    return failed;
}
#endif
