// The cost the callback backend adds to one denoiser call, on ref: a Gaussian model's
// denoiser built in, against a callback model whose function runs that same built-in
// denoiser on the host rows it is handed (ref batches are host doubles, so they are
// viewed in place). The callback path adds the download of x, sigma expanded per row,
// the call, and the upload of the result; same batch, same run, the difference is that
// overhead per call.
//
// usage: bench_denoise_call [rows] [d] [calls]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ds_backend.h"
#include "ds_error.h"
#include "fatal.h"

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec * 1e-3;
}

// The callback: the bound built-in Gaussian on views of the rows it is handed.
typedef struct {
    ds_backend *ref;
    ds_bound_model *gauss;
} inner_call;

static int via_builtin(void *user, const double *x, const double *sigma, int64_t rows, int64_t d,
                       double *out) {
    inner_call *c = user;
    ds_batch bx = {rows, d, (void *)x}, bo = {rows, d, out};
    return c->ref->denoise(c->ref, c->gauss, &bx, sigma, rows, &bo, NULL);
}

static void gaussian_identity(ds_model *m, int64_t d) {
    memset(m, 0, sizeof *m);
    m->kind = DS_MODEL_GAUSSIAN, m->d = d, m->k = 1, m->r = 1;
    m->weights = tu_alloc(1, sizeof(double));
    m->weights[0] = 1;
    m->means = tu_alloc((size_t)d, sizeof(double));
    m->mean = tu_alloc((size_t)d, sizeof(double));
    m->eigvals = tu_alloc(1, sizeof(double));
    m->eigvals[0] = 1;
    m->eigvecs = tu_alloc((size_t)d, sizeof(double));
    m->eigvecs[0] = 1;
    m->residual = tu_alloc(1, sizeof(double));
    m->residual[0] = 1; // variance 1 on every other direction too
}

// Microseconds per call (best of 5 rounds of `calls` calls).
static double per_call(ds_backend *b, ds_bound_model *bm, ds_batch *x, ds_batch *out, int calls) {
    double best = 1e300, sigma = 0.7;
    for (int round = 0; round < 5; round++) {
        double t0 = now_us();
        for (int i = 0; i < calls; i++)
            if (b->denoise(b, bm, x, &sigma, 1, out, NULL)) tu_die("%s", ds_error());
        double t = (now_us() - t0) / calls;
        best = t < best ? t : best;
    }
    return best;
}

int main(int argc, char **argv) {
    int64_t rows = argc > 1 ? atoll(argv[1]) : 1, d = argc > 2 ? atoll(argv[2]) : 4;
    int calls = argc > 3 ? atoi(argv[3]) : 20000;
    if (rows < 1 || d < 1 || calls < 1) tu_die("usage: bench_denoise_call [rows] [d] [calls]");
    ds_model gauss, cb;
    gaussian_identity(&gauss, d);
    inner_call inner = {.ref = ds_backend_ref_new()};
    inner.gauss = inner.ref->bind(inner.ref, &gauss);
    if (ds_model_callback(d, via_builtin, &inner, &cb)) tu_die("%s", ds_error());
    ds_backend *b = ds_backend_callback_new(ds_backend_ref_new());
    ds_bound_model *bg = b->bind(b, &gauss), *bc = b->bind(b, &cb);
    if (!inner.gauss || !bg || !bc) tu_die("%s", ds_error());
    ds_batch *x = b->batch_new(b, rows, d), *out = b->batch_new(b, rows, d);
    if (b->randn(b, x, 1, 0)) tu_die("%s", ds_error());
    double tg = per_call(b, bg, x, out, calls), tc = per_call(b, bc, x, out, calls);
    printf("ref, %lld x %lld: built-in %.3f us per call, through the callback %.3f us per call, "
           "overhead %.3f us\n",
           (long long)rows, (long long)d, tg, tc, tc - tg);
    b->batch_free(b, x);
    b->batch_free(b, out);
    b->unbind(b, bg);
    b->unbind(b, bc);
    ds_backend_free(b);
    inner.ref->unbind(inner.ref, inner.gauss);
    ds_backend_free(inner.ref);
    ds_model_free(&gauss);
    ds_model_free(&cb);
    return 0;
}
