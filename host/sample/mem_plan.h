// Memory planning of a sampling run, before anything is allocated: what the backend says
// the model and its denoiser's workspace need (its memory entry), plus the batches the
// solver keeps. A model whose rows do not fit as the backend keeps them is streamed
// where the backend can; a batch that would not fit under the limit is shrunk; a run that
// cannot fit even one row at a time is refused with a message that says how much it needs.
#ifndef DS_MEM_PLAN_H
#define DS_MEM_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "bytes.h"
#include "ds_backend.h"
#include "ds_model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int64_t batch;          // rows per batch asked for
    int batches;            // batches the solver keeps at once (ds_sample_plan.batches)
    uint64_t limit;         // bytes available; 0: what the backend has (its memory entry)
    const char *limit_what; // where the limit comes from, for messages
} ds_mem_request;

typedef struct {
    int64_t batch;        // rows per batch planned (<= requested)
    uint64_t model_bytes; // resident model: training rows or mixture factors
    uint64_t limit;       // the limit planned under (0: none; the backend fits itself)
    const char *limit_what;
    uint64_t total_bytes; // model, workspace and the solver's batches at the planned batch
    int stream_rows;      // the plan needs the model's rows streamed (ds_model.stream_rows)
} ds_mem_plan;

// Plans a run of model m on backend b. Returns -1 (message: bytes needed and the limit)
// when even a batch of one row does not fit.
int ds_mem_plan_make(ds_backend *b, const ds_model *m, const ds_mem_request *req,
                     ds_mem_plan *plan);
#ifdef __cplusplus
}
#endif

#endif
