// What the ranks of an MPI job choose for themselves (host/dist).
#include <string.h>

#include "cli.h"
#include "dist.h"
#include "ds_backend.h"

int cli_pick_gpu(const char *backend) {
    if (!strcmp(backend, "ref") || !strcmp(backend, "cpu")) return 0;
    int devices = ds_cuda_device_count();
    return devices > 0 ? ds_cuda_use_device(ds_dist_local_rank() % devices) : 0;
}
