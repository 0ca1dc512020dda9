// The callback backend: a wrapper that evaluates callback models (the caller's own
// denoiser) on top of any backend, so every solver, schedule and teleport runs on them.
// Everything but a callback model's denoiser is the inner backend's.
#include <stdlib.h>
#include <string.h>

#include "backend_common.h"
#include "bytes.h"
#include "ds_error.h"

// A model bound through the wrapper: the inner backend's binding, or, for a callback
// model, host buffers of cap rows for x, sigma and D (grown on demand).
struct ds_bound_model {
    const ds_model *m;
    ds_bound_model *inner;
    double *x, *sigma, *out;
    int64_t cap;
};

static ds_backend *inner_of(ds_backend *b) {
    return b->impl;
}

static ds_bound_model *cb_bind(ds_backend *b, const ds_model *m) {
    ds_bound_model *bm = ds_try_alloc(1, sizeof *bm, "callback backend");
    if (!bm) return NULL;
    bm->m = m;
    if (m->kind == DS_MODEL_CALLBACK) return bm;
    bm->inner = inner_of(b)->bind(inner_of(b), m);
    if (bm->inner) return bm;
    free(bm);
    return NULL;
}

static void cb_unbind(ds_backend *b, ds_bound_model *bm) {
    if (!bm) return;
    if (bm->inner) inner_of(b)->unbind(inner_of(b), bm->inner);
    free(bm->x);
    free(bm->sigma);
    free(bm->out);
    free(bm);
}

static int grow(ds_bound_model *bm, int64_t rows) {
    if (rows <= bm->cap) return 0;
    size_t d = (size_t)bm->m->d;
    double *x = realloc(bm->x, (size_t)rows * d * sizeof(double));
    if (x) bm->x = x;
    double *s = realloc(bm->sigma, (size_t)rows * sizeof(double));
    if (s) bm->sigma = s;
    double *o = realloc(bm->out, (size_t)rows * d * sizeof(double));
    if (o) bm->out = o;
    if (!x || !s || !o)
        return ds_fail("callback backend: cannot allocate buffers for %lld rows", (long long)rows);
    bm->cap = rows;
    return 0;
}

// The batches of backend `in`, as DS_ACCEPT_* bits: cuda keeps float32 on its device,
// the others float64 (ref) or float32 (cpu) on the host.
static unsigned batch_kind(const ds_backend *in) {
    if (!strcmp(in->name, "cuda")) return DS_ACCEPT_CUDA_F32;
    return in->f64 ? DS_ACCEPT_HOST_F64 : DS_ACCEPT_HOST_F32;
}

// A native denoiser on the batches themselves: no copy.
static int native_denoise(const ds_backend *in, const ds_model *m, const ds_batch *x,
                          const double *sigma, ds_batch *out) {
    unsigned kind = batch_kind(in);
    int device = DS_DEVICE_HOST, id = 0;
    if (kind == DS_ACCEPT_CUDA_F32) {
        device = DS_DEVICE_CUDA;
        if ((id = ds_cuda_current_device()) < 0) return -1;
    }
    ds_batch_view xv = {x->data, x->rows, x->cols, kind == DS_ACCEPT_HOST_F64, device, id};
    ds_batch_view ov = {out->data, out->rows, out->cols, xv.f64, device, id};
    ds_fail("callback denoise: the denoiser failed"); // unless it records its own message
    return m->callback_native(m->callback_user, &xv, sigma, &ov);
}

static int cb_denoise(ds_backend *b, ds_bound_model *bm, const ds_batch *x, const double *sigma,
                      int64_t n_sigma, ds_batch *out, ds_diag *diag) {
    ds_backend *in = inner_of(b);
    if (bm->inner) return in->denoise(in, bm->inner, x, sigma, n_sigma, out, diag);
    const ds_model *m = bm->m;
    DS_TRY(ds_backend_check_denoise("callback denoise", m, x, sigma, n_sigma, out));
    if (diag)
        return ds_fail("callback denoise: per-row diagnostics are only for the empirical model");
    DS_TRY(grow(bm, x->rows));
    for (int64_t i = 0; i < x->rows; i++) bm->sigma[i] = sigma[n_sigma == 1 ? 0 : i];
    if (m->callback_native && (m->callback_accepts & batch_kind(in)))
        return native_denoise(in, m, x, bm->sigma, out);
    DS_TRY(in->download(in, x, bm->x));
    ds_fail("callback denoise: the denoiser failed"); // unless it records its own message
    if (m->callback(m->callback_user, bm->x, bm->sigma, x->rows, m->d, bm->out) != 0) return -1;
    return in->upload(in, out, bm->out);
}

static int cb_gaussian_flow(ds_backend *b, ds_bound_model *bm, const ds_batch *x, double sigma_from,
                            double sigma_to, ds_batch *out) {
    if (!bm->inner)
        return ds_fail("callback backend: the Gaussian flow needs a Gaussian model (one "
                       "component), not a callback model");
    return inner_of(b)->gaussian_flow(inner_of(b), bm->inner, x, sigma_from, sigma_to, out);
}

static ds_batch *cb_batch_new(ds_backend *b, int64_t rows, int64_t cols) {
    return inner_of(b)->batch_new(inner_of(b), rows, cols);
}

static void cb_batch_free(ds_backend *b, ds_batch *v) {
    inner_of(b)->batch_free(inner_of(b), v);
}

static int cb_upload(ds_backend *b, ds_batch *dst, const double *src) {
    return inner_of(b)->upload(inner_of(b), dst, src);
}

static int cb_download(ds_backend *b, const ds_batch *src, double *dst) {
    return inner_of(b)->download(inner_of(b), src, dst);
}

static int cb_copy(ds_backend *b, ds_batch *dst, const ds_batch *src) {
    return inner_of(b)->copy(inner_of(b), dst, src);
}

static int cb_move_rows(ds_backend *b, ds_batch *dst, const int64_t *dst_rows, const ds_batch *src,
                        const int64_t *src_rows, int64_t n) {
    return inner_of(b)->move_rows(inner_of(b), dst, dst_rows, src, src_rows, n);
}

// Pruning is the inner backend's (set only where it has it); a callback model has no
// training rows to prune.
static int cb_prune(ds_backend *b, ds_bound_model *bm, double eps, ds_prune_stats *stats) {
    if (!bm->inner) return ds_fail("callback backend: pruning needs the empirical model");
    return inner_of(b)->prune(inner_of(b), bm->inner, eps, stats);
}

// A callback model keeps nothing on the backend; its denoiser's host buffers (x, sigma
// and out) grow with the batch. Every other model is the inner backend's.
static void cb_memory(ds_backend *b, const ds_model *m, int64_t rows, ds_backend_memory *out) {
    ds_backend *in = inner_of(b);
    if (m->kind != DS_MODEL_CALLBACK) {
        in->memory(in, m, rows, out);
        return;
    }
    memset(out, 0, sizeof *out);
    out->batch_bytes = sizeof(double) * (uint64_t)rows * (2 * (uint64_t)m->d + 1);
    out->available = ds_host_memory_available();
    out->available_what = "the available host memory";
}

static int cb_lincomb(ds_backend *b, ds_batch *out, int n, const double *coef,
                      const ds_batch *const *v) {
    return inner_of(b)->lincomb(inner_of(b), out, n, coef, v);
}

static int cb_randn(ds_backend *b, ds_batch *out, uint64_t seed, int64_t first_row) {
    return inner_of(b)->randn(inner_of(b), out, seed, first_row);
}

static void cb_destroy(ds_backend *b) {
    ds_backend_free(inner_of(b));
    free(b);
}

ds_backend *ds_backend_callback_new(ds_backend *inner) {
    if (!inner) return NULL;
    ds_backend *b = ds_try_alloc(1, sizeof *b, "callback backend");
    if (!b) {
        ds_backend_free(inner);
        return NULL;
    }
    b->name = inner->name; // what the samples were computed on
    b->f64 = inner->f64;
    b->impl = inner;
    b->bind = cb_bind;
    b->unbind = cb_unbind;
    b->batch_new = cb_batch_new;
    b->batch_free = cb_batch_free;
    b->upload = cb_upload;
    b->download = cb_download;
    b->copy = cb_copy;
    b->move_rows = cb_move_rows;
    b->memory = cb_memory;
    b->lincomb = cb_lincomb;
    b->randn = cb_randn;
    b->denoise = cb_denoise;
    b->gaussian_flow = cb_gaussian_flow;
    b->prune = inner->prune ? cb_prune : NULL;
    b->prune_default = inner->prune_default;
    b->destroy = cb_destroy;
    return b;
}
