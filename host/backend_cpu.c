// Placeholder until the cpu backend lands.
#include "ds_backend.h"
#include "ds_error.h"

ds_backend *ds_backend_cpu_new(void) {
    ds_fail("backend cpu is not implemented yet");
    return NULL;
}
