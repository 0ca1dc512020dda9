// A backend supplies the few primitives every sampler is written over (DESIGN.md
// section 3): batch buffers, denoiser evaluation, linear combinations, the Gaussian
// flow and standard normal noise. Backends: "ref" (float64 C loops, the judge),
// "cpu" (float32, OpenBLAS, threads) and "cuda".
#ifndef DS_BACKEND_H
#define DS_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include "ds_model.h"

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default) // the public API: exported from the shared library

// A rows x cols batch stored by the backend (double on ref, float on cpu, device
// float on cuda). Only the backend touches data.
typedef struct {
    int64_t rows, cols;
    void *data;
} ds_batch;

// Optional per-row diagnostics of the empirical denoiser (host arrays of B entries;
// any pointer may be NULL): the training row with the largest softmax weight, that
// weight, and the entropy of the softmax weights (nats).
typedef struct {
    int64_t *top_index;
    double *top_weight;
    double *entropy;
} ds_diag;

// The memory a model needs on a backend, in bytes (the table's memory entry).
typedef struct {
    uint64_t model_bytes; // while the model is bound: its rows or factors as the backend keeps them
    uint64_t batch_bytes; // the denoiser's workspace for a batch of the rows asked
    uint64_t available;   // what the backend may use when the caller sets no limit; 0: the
                          // backend fits its workspace to its memory itself (cuda)
    const char *available_what; // where `available` comes from, for messages
} ds_backend_memory;

// Certified pruning of the empirical denoiser (the table's prune entry; cpu, cuda): counts summed
// over the denoiser calls since pruning was turned on.
typedef struct {
    double eps;             // the certificate: a skipped row's weight <= eps x top weight / N
    int64_t queries;        // query rows evaluated
    int64_t queries_pruned; // of those, evaluated over their surviving training rows only
    int64_t pairs;          // query x training row pairs
    int64_t pairs_skipped;  // of those, skipped by the certificate
    double mass_max;        // largest bound on one query's skipped softmax mass
    double change_max;      // largest bound on one query's |D_pruned - D_dense| / |D_dense|
    double flops_dense;     // flops of the dense evaluation of every query (4 N d each)
    double flops;           // flops done: the bounds, the surviving rows, the dense queries
} ds_prune_stats;

// A status the caller must look at (the compiler warns where one is dropped).
#define DS_MUST_CHECK __attribute__((warn_unused_result))

typedef struct ds_backend ds_backend;
// A model made resident on a backend (training rows, factors, workspace).
typedef struct ds_bound_model ds_bound_model;

struct ds_backend {
    const char *name;
    int f64; // batches hold float64 (ref) rather than float32
    void *impl;

    ds_bound_model *(*bind)(ds_backend *b, const ds_model *m);
    void (*unbind)(ds_backend *b, ds_bound_model *bm);

    // NULL with the error recorded when memory runs out.
    ds_batch *(*batch_new)(ds_backend *b, int64_t rows, int64_t cols);
    void (*batch_free)(ds_backend *b, ds_batch *v);
    // Host doubles to a batch, a batch to host doubles, a batch to one of its shape; each
    // entry that returns int gives 0, or -1 with the error recorded (a device failure, a
    // bad argument): the library never exits, so every caller checks.
    int (*upload)(ds_backend *b, ds_batch *dst, const double *src) DS_MUST_CHECK;
    int (*download)(ds_backend *b, const ds_batch *src, double *dst) DS_MUST_CHECK;
    int (*copy)(ds_backend *b, ds_batch *dst, const ds_batch *src) DS_MUST_CHECK;
    // Row k of dst_rows <- row k of src_rows for k < n: dst row dst_rows[k] = src row
    // src_rows[k] (host index arrays; NULL means row k). dst and src are distinct
    // batches of the same width; what gathers live rows into a compact batch and
    // scatters them back (certified landing). 0, or -1 with the error recorded.
    int (*move_rows)(ds_backend *b, ds_batch *dst, const int64_t *dst_rows, const ds_batch *src,
                     const int64_t *src_rows, int64_t n);
    // out = sum_i coef[i] * v[i], n <= DS_LINCOMB_MAX; out may alias any v[i].
    int (*lincomb)(ds_backend *b, ds_batch *out, int n, const double *coef,
                   const ds_batch *const *v) DS_MUST_CHECK;
    // out[i][j] = ds_philox_normal(seed, first_row + i, j): the noise of a row
    // depends only on (seed, row index).
    int (*randn)(ds_backend *b, ds_batch *out, uint64_t seed, int64_t first_row) DS_MUST_CHECK;
    // out = D(x; sigma): sigma holds one value (n_sigma == 1) or one per row.
    int (*denoise)(ds_backend *b, ds_bound_model *bm, const ds_batch *x, const double *sigma,
                   int64_t n_sigma, ds_batch *out, ds_diag *diag);
    // Certified pruning of the bound empirical model's denoiser from now on: a training
    // row whose weight is provably <= eps x top weight / N is skipped, where that pays;
    // *stats (kept by the caller while the model is bound) accumulates the counts. NULL
    // on backends that evaluate every row (ref, the dense judge).
    int (*prune)(ds_backend *b, ds_bound_model *bm, double eps, ds_prune_stats *stats);
    // 1: a run prunes unless told not to (cpu); 0: only when asked (cuda, until its
    // pruned path is measured against the dense one on a GPU).
    int prune_default;
    // Exact probability-flow ODE map of a Gaussian model from sigma_from to sigma_to
    // (out may alias x).
    int (*gaussian_flow)(ds_backend *b, ds_bound_model *bm, const ds_batch *x, double sigma_from,
                         double sigma_to, ds_batch *out);
    // The memory model m needs on this backend for batches of `rows` rows (the solver's
    // own batches are the caller's to count: rows x d values each).
    void (*memory)(ds_backend *b, const ds_model *m, int64_t rows, ds_backend_memory *out);
    void (*destroy)(ds_backend *b);
};

#define DS_LINCOMB_MAX 8

// Creates a backend by name: "ref", "cpu", "cuda", or "auto" (cuda when a device is
// present, else cpu). Returns NULL and records an error if it is unavailable.
ds_backend *ds_backend_new(const char *name);
// 0 when name is one of ref, cpu, cuda, auto; else -1 with the error recorded.
int ds_backend_name_check(const char *name);
void ds_backend_free(ds_backend *b);

// Wraps a backend so that it also evaluates callback models (DS_MODEL_CALLBACK): their
// denoiser downloads x, calls the caller's function and uploads the result; every other
// model and primitive is the inner backend's. Takes ownership of inner (freed with the
// wrapper); NULL inner returns NULL (the inner backend's error stays recorded).
ds_backend *ds_backend_callback_new(ds_backend *inner);

ds_backend *ds_backend_ref_new(void);
ds_backend *ds_backend_cpu_new(void);
#ifdef DIFFSAMP_HAVE_CUDA
ds_backend *ds_backend_cuda_new(void);
#endif
// Number of CUDA devices usable by this build (0 without CUDA or without a GPU).
int ds_cuda_device_count(void);
// Makes CUDA device `index` this thread's for the backends created after (cudaSetDevice);
// 0, or -1 with the error recorded (always 0 without CUDA).
int ds_cuda_use_device(int index);
// The CUDA device this thread's backends use (cudaGetDevice): its index, or -1 with the
// error recorded (always -1 without CUDA).
int ds_cuda_current_device(void);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif

#endif
