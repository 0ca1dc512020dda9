// Memory planning of a sampling run.
#include <math.h>
#include <stdio.h>

#include "ds_error.h"
#include "mem_plan.h"

// Values resident for the model: the empirical model keeps the N x d rows and their
// norms; a mixture keeps per component a mean, eigenvalues and d x r eigenvectors.
static uint64_t model_values(const ds_model *m) {
    uint64_t d = (uint64_t)m->d;
    if (m->kind == DS_MODEL_EMPIRICAL) return (uint64_t)m->data.n * (d + 1) + d;
    uint64_t r = (uint64_t)m->r;
    return (uint64_t)m->k * (d * r + d + r + 2);
}

// Values per batch row: the solver's buffers, and the denoiser's workspace (a row of
// N logits for the empirical model; projections and log densities for a mixture).
static uint64_t row_values(const ds_model *m, int batch_buffers) {
    uint64_t work =
        m->kind == DS_MODEL_EMPIRICAL ? (uint64_t)m->data.n : (uint64_t)m->k * ((uint64_t)m->r + 2);
    return (uint64_t)batch_buffers * (uint64_t)m->d + work;
}

int ds_mem_plan_make(const ds_model *m, const ds_mem_request *req, ds_mem_plan *plan) {
    if (req->batch < 1) return ds_fail("batch size %lld (expected >= 1)", (long long)req->batch);
    plan->model_bytes = model_values(m) * (uint64_t)req->elem_bytes;
    if (req->with_source_rows && m->kind == DS_MODEL_EMPIRICAL)
        plan->model_bytes += (uint64_t)ds_data_value_bytes(&m->data);
    plan->per_row_bytes = row_values(m, req->batch_buffers) * (uint64_t)req->elem_bytes;
    plan->batch = req->batch;
    if (req->limit) {
        uint64_t need = plan->model_bytes + plan->per_row_bytes;
        if (need > req->limit) {
            char a[32], b[32], c[32];
            ds_format_bytes(need, a, sizeof a);
            ds_format_bytes(plan->model_bytes, b, sizeof b);
            ds_format_bytes(req->limit, c, sizeof c);
            return ds_fail("this run needs at least %s (%s for the %s model, the rest for one "
                           "batch row) but %s allows %s",
                           a, b, ds_model_kind_name(m->kind), req->limit_what, c);
        }
        uint64_t rows = (req->limit - plan->model_bytes) / plan->per_row_bytes;
        if ((uint64_t)plan->batch > rows) plan->batch = (int64_t)rows;
    }
    plan->total_bytes = plan->model_bytes + (uint64_t)plan->batch * plan->per_row_bytes;
    return 0;
}
