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

// A model kind the backends' own bind does not evaluate (DS_MODEL_CALLBACK): -1 with
// a message naming `who`, else 0.
int ds_backend_check_bind(const char *who, const ds_model *m);

// Batches in host memory (ref: doubles, cpu: floats), for the host backends' tables.
ds_batch *ds_host_batch_new(int64_t rows, int64_t cols, size_t elem_size);
void ds_host_batch_free(ds_backend *b, ds_batch *v);

#ifdef __cplusplus
}
#endif

#endif
