// Library-internal steps every backend shares (host/backends/backend_common.c): the
// backends' own helpers, not part of the public API in ds_backend.h.
#ifndef DS_BACKEND_COMMON_H
#define DS_BACKEND_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "ds_backend.h"

#ifdef __cplusplus
extern "C" {
#endif

// Argument checks every backend runs first (0, or -1 with the message recorded, naming
// the backend `who`): batch shapes against the model, one sigma or one per row, each
// finite and > 0 (denoise), finite and >= 0 (flow), and a one-component model (flow).
int ds_backend_check_denoise(const char *who, const ds_model *m, const ds_batch *x,
                             const double *sigma, int64_t n_sigma, const ds_batch *out);
int ds_backend_check_flow(const char *who, const ds_model *m, const ds_batch *x, double sigma_from,
                          double sigma_to, const ds_batch *out);

// The check of every backend's prune entry: an empirical model and eps in (0, 1e-3].
int ds_backend_check_prune(const char *who, const ds_model *m, double eps);

// The check every backend's bind runs first: -1 with a message naming `who` for a model
// kind the backends' own bind does not evaluate (DS_MODEL_CALLBACK) or a model that lacks
// what its kind needs (empirical: n >= 1 training rows of dimension d >= 1 and their
// mean; Gaussian / mixture: k >= 1, 1 <= r <= d, weights, means, eigenvalues,
// eigenvectors, residuals), else 0.
int ds_backend_check_bind(const char *who, const ds_model *m);

// The bytes of a model's data set in its own dtype that share the host memory with a host
// backend's copy: 0 for a memory-mapped .npy (page cache, which the kernel reclaims).
uint64_t ds_backend_source_bytes(const ds_data *d);

// Batches in host memory (ref: doubles, cpu: floats), for the host backends' tables (NULL
// with the error recorded when memory runs out).
ds_batch *ds_host_batch_new(int64_t rows, int64_t cols, size_t elem_size);
void ds_host_batch_free(ds_backend *b, ds_batch *v);
// move_rows of the host backends (elements of 8 bytes when b->f64, else 4).
int ds_host_move_rows(ds_backend *b, ds_batch *dst, const int64_t *dst_rows, const ds_batch *src,
                      const int64_t *src_rows, int64_t n);
// 0 when the n row indices (NULL: 0 .. n-1) lie in [0, rows) and dst and src are distinct
// batches of the same width, else -1 with a message (a programming error).
int ds_check_move_rows(const char *who, const ds_batch *dst, const int64_t *dst_rows,
                       const ds_batch *src, const int64_t *src_rows, int64_t n);

#ifdef __cplusplus
}
#endif

#endif
