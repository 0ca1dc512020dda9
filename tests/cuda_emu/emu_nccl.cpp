// NCCL on the CPU emulator (include/nccl.h): each collective is one MPI_Allreduce over
// MPI_COMM_WORLD on the emulated device buffers, checked to lie in device memory; the
// id is a fixed token that every rank must receive from rank 0. DIFFSAMP_EMU_NCCL_SAY=1
// prints a line per communicator made (the tests' evidence that the NCCL path ran).
// The C API only (Open MPI's and MPICH's C++ bindings would need their own library).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu_device.h"
#include "nccl.h"

static const char token[] = "diffsamp emulated NCCL id";

struct ds_emu_nccl_comm {
    int rank, nranks;
};

extern "C" ncclResult_t ncclGetUniqueId(ncclUniqueId *id) {
    memset(id, 0, sizeof *id);
    memcpy(id->internal, token, sizeof token);
    return ncclSuccess;
}

extern "C" ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank) {
    int size = 0, me = -1;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_rank(MPI_COMM_WORLD, &me);
    if (memcmp(id.internal, token, sizeof token) || nranks != size || rank != me)
        return ncclInvalidArgument;
    *comm = (ncclComm_t)calloc(1, sizeof(struct ds_emu_nccl_comm));
    if (!*comm) return ncclSystemError;
    (*comm)->rank = rank, (*comm)->nranks = nranks;
    // For tests: that the NCCL path ran.
    if (getenv("DIFFSAMP_EMU_NCCL_SAY"))
        fprintf(stderr, "nccl emulator: communicator of rank %d of %d\n", rank, nranks);
    return ncclSuccess;
}

extern "C" ncclResult_t ncclCommDestroy(ncclComm_t comm) {
    free(comm);
    return ncclSuccess;
}

extern "C" ncclResult_t ncclAllReduce(const void *sendbuff, void *recvbuff, size_t count,
                                      ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
                                      cudaStream_t stream) {
    (void)stream;
    if (!comm) return ncclInvalidArgument;
    if (ds_emu_fault() != cudaSuccess) return ncclUnhandledCudaError;
    MPI_Datatype type = datatype == ncclDouble  ? MPI_DOUBLE
                        : datatype == ncclFloat ? MPI_FLOAT
                                                : MPI_INT64_T;
    size_t size = datatype == ncclFloat ? sizeof(float) : 8;
    if (datatype != ncclDouble && datatype != ncclFloat && datatype != ncclInt64)
        return ncclInvalidArgument;
    if (count &&
        (!ds_emu_in_device(sendbuff, count * size) || !ds_emu_in_device(recvbuff, count * size))) {
        fprintf(stderr, "nccl emulator: ncclAllReduce of %zu elements: not device memory\n", count);
        return ncclInvalidArgument;
    }
    MPI_Op mop = op == ncclSum ? MPI_SUM : op == ncclMax ? MPI_MAX : MPI_MIN;
    if (op != ncclSum && op != ncclMax && op != ncclMin) return ncclInvalidArgument;
    const void *send = sendbuff == recvbuff ? MPI_IN_PLACE : sendbuff;
    int rc = MPI_Allreduce(send, recvbuff, (int)count, type, mop, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? ncclSuccess : ncclSystemError;
}

// Each collective completes on its own here, so a group changes nothing.
extern "C" ncclResult_t ncclGroupStart(void) {
    return ncclSuccess;
}

extern "C" ncclResult_t ncclGroupEnd(void) {
    return ncclSuccess;
}

extern "C" const char *ncclGetErrorString(ncclResult_t result) {
    switch (result) {
    case ncclSuccess:
        return "no error";
    case ncclInvalidArgument:
        return "invalid argument (emulated NCCL)";
    case ncclUnhandledCudaError:
        return "unhandled cuda error (emulated NCCL)";
    default:
        return "system error (emulated NCCL)";
    }
}
