// Memory planning of a sampling run.
#include <stdio.h>

#include "ds_error.h"
#include "mem_plan.h"

// Bytes of a run with batches of `rows` rows: the backend's model and workspace, and the
// solver's batches of rows x d values.
static uint64_t need(ds_backend *b, const ds_model *m, const ds_mem_request *req, int64_t rows,
                     ds_backend_memory *mem) {
    b->memory(b, m, rows, mem);
    uint64_t batches = (uint64_t)req->batches * (uint64_t)rows * (uint64_t)m->d * (b->f64 ? 8 : 4);
    return mem->model_bytes + mem->batch_bytes + batches;
}

int ds_mem_plan_make(ds_backend *b, const ds_model *m, const ds_mem_request *req,
                     ds_mem_plan *plan) {
    if (req->batch < 1) return ds_fail("batch size %lld (expected >= 1)", (long long)req->batch);
    ds_backend_memory mem;
    uint64_t one = need(b, m, req, 1, &mem);
    plan->limit = req->limit ? req->limit : mem.available;
    plan->limit_what = req->limit ? req->limit_what : mem.available_what;
    plan->batch = req->batch;
    plan->stream_rows = 0;
    // A model whose rows do not fit as the backend keeps them is streamed from the data
    // set, chunk by chunk, where the backend can (cpu: ds_model.stream_rows).
    ds_model streamed = *m;
    streamed.stream_rows = 1;
    if (plan->limit && one > plan->limit && need(b, &streamed, req, 1, &mem) < one) {
        m = &streamed;
        plan->stream_rows = 1;
    }
    one = need(b, m, req, 1, &mem);
    plan->model_bytes = mem.model_bytes;
    if (plan->limit && one > plan->limit) {
        char a[32], c[32], d[32];
        ds_format_bytes(one, a, sizeof a);
        ds_format_bytes(plan->model_bytes, c, sizeof c);
        ds_format_bytes(plan->limit, d, sizeof d);
        return ds_fail("this run needs at least %s (%s for the %s model, the rest for one "
                       "batch row) but %s allows %s",
                       a, c, ds_model_kind_name(m->kind), plan->limit_what, d);
    }
    // The need grows with the rows: the largest batch that fits, by bisection.
    if (plan->limit && need(b, m, req, req->batch, &mem) > plan->limit) {
        int64_t fits = 1, over = req->batch;
        while (over - fits > 1) {
            int64_t mid = fits + (over - fits) / 2;
            if (need(b, m, req, mid, &mem) <= plan->limit)
                fits = mid;
            else
                over = mid;
        }
        plan->batch = fits;
    }
    plan->total_bytes = need(b, m, req, plan->batch, &mem);
    return 0;
}
