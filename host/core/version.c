// Version and build facts, and the CUDA queries of a build without CUDA.
#include "ds_backend.h"
#include "ds_error.h"
#include "ds_version.h"

const char *ds_version(void) {
    return DIFFSAMP_VERSION;
}

const char *ds_git_revision(void) {
    return DIFFSAMP_GIT_REV;
}

int ds_nccl_built(void) {
#ifdef DIFFSAMP_HAVE_NCCL
    return 1;
#else
    return 0;
#endif
}

#ifdef DIFFSAMP_HAVE_CUDA
int ds_cuda_built(void) {
    return 1;
}
#else
int ds_cuda_built(void) {
    return 0;
}

int ds_cuda_device_count(void) {
    return 0;
}

int ds_cuda_use_device(int index) {
    (void)index;
    return 0;
}

int ds_cuda_current_device(void) {
    return ds_fail("this build has no CUDA");
}

int ds_cuda_print_devices(FILE *f) {
    (void)f;
    return 0;
}
#endif
