// The ranks of an MPI job (MPI_COMM_WORLD). MPI is initialised only when a launcher
// started the process, so a plain `diffsamp ...` stays a one-process run without MPI's
// start-up cost or messages.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "mpi_check.h"

static struct {
    int active; // MPI_Init was called here
    int rank, size, local_rank;
    uint64_t bytes_sent;
} dist = {0, 0, 1, 0, 0};

static int launched_by_mpi(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

// The rank among the processes that share this host's memory.
static int find_local_rank(int *local) {
    MPI_Comm node;
    MPI_TRY(
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, dist.rank, MPI_INFO_NULL, &node));
    int rc = MPI_Comm_rank(node, local);
    MPI_Comm_free(&node);
    MPI_TRY(rc);
    return 0;
}

int ds_dist_init(int *argc, char ***argv) {
    if (!launched_by_mpi()) return 0;
    MPI_TRY(MPI_Init(argc, argv));
    dist.active = 1;
    MPI_TRY(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
    MPI_TRY(MPI_Comm_rank(MPI_COMM_WORLD, &dist.rank));
    MPI_TRY(MPI_Comm_size(MPI_COMM_WORLD, &dist.size));
    return find_local_rank(&dist.local_rank);
}

void ds_dist_finalize(void) {
    if (dist.active) MPI_Finalize();
    dist.active = 0;
}

int ds_dist_rank(void) {
    return dist.rank;
}

int ds_dist_size(void) {
    return dist.size;
}

int ds_dist_local_rank(void) {
    return dist.local_rank;
}

void ds_dist_describe(char *buf, size_t size) {
    char lib[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(lib, &len);
    lib[strcspn(lib, ",\n")] = '\0'; // "Open MPI v4.1.4, package: ..." -> "Open MPI v4.1.4"
    snprintf(buf, size, "built (%s, MPI %d.%d)%s", lib, MPI_VERSION, MPI_SUBVERSION,
             dist.active ? "" : "; this process was not started by mpirun");
    if (dist.active)
        snprintf(buf + strlen(buf), size - strlen(buf), "; rank %d of %d", dist.rank, dist.size);
}

int ds_dist_agree(int rc) {
    if (!dist.active) return rc ? -1 : 0;
    int mine = rc ? dist.rank : dist.size, first = 0;
    MPI_TRY(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD));
    if (first == dist.size) return 0;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", ds_error());
    MPI_TRY(MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, MPI_COMM_WORLD));
    if (!rc || dist.rank == first) ds_fail("rank %d of %d: %s", first, dist.size, msg);
    return -1;
}

int ds_dist_bcast(void *buf, size_t bytes, int root) {
    if (!dist.active) return 0;
    if (bytes > (size_t)INT32_MAX) return ds_fail("MPI broadcast of %zu bytes: too large", bytes);
    if (dist.rank == root) dist.bytes_sent += bytes;
    MPI_TRY(MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD));
    return 0;
}

static int all_reduce(void *v, int64_t n, MPI_Datatype type, size_t elem, MPI_Op op) {
    if (!dist.active) return 0;
    if (n > INT32_MAX) return ds_fail("MPI reduction of %lld values: too many", (long long)n);
    dist.bytes_sent += (uint64_t)n * elem;
    MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, v, (int)n, type, op, MPI_COMM_WORLD));
    return 0;
}

int ds_dist_max_i64(int64_t *v, int64_t n) {
    return all_reduce(v, n, MPI_INT64_T, sizeof *v, MPI_MAX);
}

int ds_dist_max_f64(double *v, int64_t n) {
    return all_reduce(v, n, MPI_DOUBLE, sizeof *v, MPI_MAX);
}

int ds_dist_sum_i64(int64_t *v, int64_t n) {
    return all_reduce(v, n, MPI_INT64_T, sizeof *v, MPI_SUM);
}

uint64_t ds_dist_bytes_sent(void) {
    return dist.bytes_sent;
}

// The user-defined operation: inout <- in (the lower ranks' rows) folded with inout. One
// element of the datatype is one query's state; its width gives d.
static void lse_op(void *in, void *inout, int *len, MPI_Datatype *type) {
    int bytes = 0;
    MPI_Type_size(*type, &bytes);
    int64_t width = bytes / (int64_t)sizeof(double);
    const double *early = in;
    double *late = inout;
    for (int i = 0; i < *len; i++)
        ds_lse_fold(early + i * width, late + i * width, late + i * width, width - DS_LSE_HEAD);
}

int ds_dist_lse_merge(double *state, int64_t rows, int64_t d) {
    if (!dist.active || dist.size == 1) return 0;
    if (rows > INT32_MAX || DS_LSE_HEAD + d > INT32_MAX / (int64_t)sizeof(double))
        return ds_fail("MPI merge of %lld states of %lld values: too large", (long long)rows,
                       (long long)d);
    MPI_Datatype type;
    MPI_Op op;
    MPI_TRY(MPI_Type_contiguous((int)(DS_LSE_HEAD + d), MPI_DOUBLE, &type));
    int rc = MPI_Type_commit(&type);
    if (rc == MPI_SUCCESS) rc = MPI_Op_create(lse_op, 0, &op); // 0: not commutative
    if (rc == MPI_SUCCESS) {
        dist.bytes_sent += (uint64_t)rows * (uint64_t)(DS_LSE_HEAD + d) * sizeof(double);
        rc = MPI_Allreduce(MPI_IN_PLACE, state, (int)rows, type, op, MPI_COMM_WORLD);
        MPI_Op_free(&op);
    }
    MPI_Type_free(&type);
    MPI_TRY(rc);
    return 0;
}
