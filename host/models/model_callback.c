// Models whose denoiser is the caller's own function (a trained network, a Python
// callable): the solvers, schedules and teleportation then run on it unchanged.
#include <string.h>

#include "ds_error.h"
#include "ds_model.h"

int ds_model_callback(int64_t d, ds_denoise_fn fn, void *user, ds_model *out) {
    memset(out, 0, sizeof *out);
    if (d < 1) return ds_fail("callback model: dimension %lld (expected >= 1)", (long long)d);
    if (!fn) return ds_fail("callback model: no denoiser function given");
    out->kind = DS_MODEL_CALLBACK;
    out->d = d;
    out->mean = ds_try_alloc((size_t)d, sizeof(double), "callback model");
    if (!out->mean) return -1;
    out->callback = fn;
    out->callback_user = user;
    return 0;
}

int ds_model_callback_native(ds_model *m, ds_native_denoise_fn fn, unsigned accepts) {
    if (m->kind != DS_MODEL_CALLBACK)
        return ds_fail("callback model: a native denoiser needs a callback model, not %s",
                       ds_model_kind_name(m->kind));
    if (!fn) return ds_fail("callback model: no native denoiser function given");
    unsigned all = DS_ACCEPT_HOST_F64 | DS_ACCEPT_HOST_F32 | DS_ACCEPT_CUDA_F32;
    if (!accepts || (accepts & ~all))
        return ds_fail("callback model: accepted batches %#x (expected a non-empty set of "
                       "DS_ACCEPT_HOST_F64, DS_ACCEPT_HOST_F32, DS_ACCEPT_CUDA_F32)",
                       accepts);
    m->callback_native = fn;
    m->callback_accepts = accepts;
    return 0;
}
