// Memory planning of a sampling run: the model resident on the backend, batch-sized
// solver buffers and the denoiser's workspace, estimated before anything is allocated.
// A batch that would not fit under the limit is shrunk; a run that cannot fit even one
// row at a time is refused with a message that says how much it needs.
#ifndef DS_MEM_PLAN_H
#define DS_MEM_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "bytes.h"
#include "ds_model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int64_t batch;          // rows per batch asked for
    int elem_bytes;         // bytes per stored value: 4 (cpu, cuda) or 8 (ref)
    int with_source_rows;   // the data set in its own dtype shares the memory (host backends)
    int batch_buffers;      // batch-sized vectors the solver keeps at once
    uint64_t limit;         // bytes available; 0: no limit
    const char *limit_what; // where the limit comes from, for messages
} ds_mem_request;

typedef struct {
    int64_t batch;          // rows per batch planned (<= requested)
    uint64_t model_bytes;   // resident model: training rows or mixture factors (and the
                            // data set's own values, 1, 4 or 8 bytes each, if with_source_rows)
    uint64_t per_row_bytes; // solver buffers and workspace per batch row
    uint64_t total_bytes;   // model_bytes + batch * per_row_bytes
} ds_mem_plan;

// Plans a run of model m. Returns -1 (message: bytes needed and the limit) when even a
// batch of one row does not fit.
int ds_mem_plan_make(const ds_model *m, const ds_mem_request *req, ds_mem_plan *plan);
#ifdef __cplusplus
}
#endif

#endif
