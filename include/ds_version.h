// Version and build facts.
#ifndef DS_VERSION_H
#define DS_VERSION_H

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default) // the public API: exported from the shared library

const char *ds_version(void);
const char *ds_git_revision(void);
// 1 when the library was built with the CUDA backend.
int ds_cuda_built(void);
// 1 when built with NCCL: --shard-data on cuda merges the ranks' states between GPUs.
int ds_nccl_built(void);
// Prints one line per CUDA device (name, memory); nothing without CUDA. Returns 0, or -1
// with the error recorded when a device cannot be queried.
int ds_cuda_print_devices(FILE *f);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif

#endif
