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
