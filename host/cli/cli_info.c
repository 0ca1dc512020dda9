// diffsamp info: the build, BLAS, host memory and the devices found.
#include <cblas.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "dist.h"
#include "ds_backend.h"
#include "ds_error.h"
#include "ds_version.h"
#include "mem_plan.h"

int cli_info(int argc, char **argv) {
    int rc = cli_parse("info", "Show the build, BLAS, host memory and the devices found.", argc,
                       argv, NULL, 0);
    if (rc) return rc > 0 ? 0 : cli_fail(2);
    printf("diffsamp %s (git %s)\n", ds_version(), ds_git_revision());
    printf("backends: ref (float64), cpu (float32, OpenBLAS)%s\n", ds_cuda_built() ? ", cuda" : "");
    printf("blas: %s, core %s, %d threads\n", openblas_get_config(), openblas_get_corename(),
           openblas_get_num_threads());
    char avail[32];
    ds_format_bytes(ds_host_memory_available(), avail, sizeof avail);
    printf("host: %ld cores, %s memory available\n", sysconf(_SC_NPROCESSORS_ONLN), avail);
    printf("cuda: %s\n", ds_cuda_built() ? "built" : "not built (no nvcc at build time)");
    char mpi[256];
    ds_dist_describe(mpi, sizeof mpi);
    printf("mpi: %s\n", mpi);
    printf("nccl: %s\n", ds_nccl_built() ? "built (--shard-data on cuda merges the ranks' states "
                                           "between the GPUs; DIFFSAMP_NCCL=0: on the host)"
                                         : "not built (--shard-data merges the ranks' states on "
                                           "the host)");
    int n = ds_cuda_device_count();
    printf("cuda devices: %d\n", n);
    if (ds_cuda_print_devices(stdout) != 0) {
        fprintf(stderr, "diffsamp info: %s\n", ds_error());
        return 1;
    }
    return 0;
}
