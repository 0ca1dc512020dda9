// diffsamp info: the build and the devices found.
#include <stdio.h>

#include "cli.h"
#include "ds_backend.h"
#include "ds_error.h"
#include "ds_version.h"

int cli_info(int argc, char **argv) {
    int rc = cli_parse("info", "Show the build, the backends and the devices found.", argc, argv,
                       NULL, 0);
    if (rc) return rc > 0 ? 0 : (fprintf(stderr, "diffsamp: %s\n", ds_error()), 2);
    printf("diffsamp %s (git %s)\n", ds_version(), ds_git_revision());
    printf("backends: ref (float64), cpu (float32, OpenBLAS)%s\n", ds_cuda_built() ? ", cuda" : "");
    printf("cuda: %s\n", ds_cuda_built() ? "built" : "not built (no nvcc at build time)");
    int n = ds_cuda_device_count();
    printf("cuda devices: %d\n", n);
    ds_cuda_print_devices(stdout);
    return 0;
}
