// Backend selection by name.
#include <string.h>

#include "ds_backend.h"
#include "ds_error.h"

int ds_backend_name_check(const char *name) {
    static const char *const names[] = {"ref", "cpu", "cuda", "auto"};
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i])) return 0;
    return ds_fail("unknown backend '%s' (expected ref, cpu, cuda or auto)", name ? name : "");
}

ds_backend *ds_backend_new(const char *name) {
    if (ds_backend_name_check(name) != 0) return NULL;
    if (!strcmp(name, "ref")) return ds_backend_ref_new();
    if (!strcmp(name, "cpu")) return ds_backend_cpu_new();
    if (!strcmp(name, "cuda") || !strcmp(name, "auto")) {
#ifdef DIFFSAMP_HAVE_CUDA
        if (ds_cuda_device_count() > 0) return ds_backend_cuda_new();
        if (!strcmp(name, "cuda")) {
            ds_fail("backend cuda: no CUDA device found (use --backend cpu)");
            return NULL;
        }
#else
        if (!strcmp(name, "cuda")) {
            ds_fail("backend cuda: this build has no CUDA support (built without nvcc)");
            return NULL;
        }
#endif
    }
    return ds_backend_cpu_new();
}

void ds_backend_free(ds_backend *b) {
    if (b) b->destroy(b);
}
