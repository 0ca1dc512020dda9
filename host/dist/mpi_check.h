// The error check of MPI calls, like CUDA_TRY (cuda/cuda_check.h): the communicator
// returns errors (MPI_ERRORS_RETURN), and a failed call records the call, the place and
// MPI's error string with ds_fail and returns -1.
#ifndef DS_MPI_CHECK_H
#define DS_MPI_CHECK_H

#include <mpi.h>

#include "ds_error.h"

#define MPI_TRY(call)                                                                              \
    do {                                                                                           \
        int err_ = (call);                                                                         \
        if (err_ != MPI_SUCCESS) {                                                                 \
            char text_[MPI_MAX_ERROR_STRING];                                                      \
            int len_ = 0;                                                                          \
            MPI_Error_string(err_, text_, &len_);                                                  \
            return ds_fail("MPI error in %s (%s:%d): %.*s", #call, __FILE__, __LINE__, len_,       \
                           text_);                                                                 \
        }                                                                                          \
    } while (0)

#endif
