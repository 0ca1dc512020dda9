// The processes of a run: MPI ranks when diffsamp is built with MPI and started by an MPI
// launcher (mpirun), else one. dist_mpi.c and dist_single.c implement the same functions
// (CMake builds one of them), so callers hold no #ifdef: with one rank every collective
// is a copy or nothing.
#ifndef DS_DIST_H
#define DS_DIST_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Joins the MPI job when started by a launcher (which sets OMPI_COMM_WORLD_SIZE,
// PMI_SIZE or PMIX_RANK); otherwise, and without MPI, the process is rank 0 of 1 and
// MPI is never initialised (a plain run behaves as in a build without MPI).
int ds_dist_init(int *argc, char ***argv);
void ds_dist_finalize(void);
int ds_dist_rank(void);
int ds_dist_size(void);
// The rank among the ranks on this host (for picking a GPU).
int ds_dist_local_rank(void);
// What this build has, for diffsamp info: "MPI (Open MPI v4.1.4, MPI 3.1)" or "not built".
void ds_dist_describe(char *buf, size_t size);

// Collective: 0 when every rank's rc is 0; else -1 on every rank, and the ranks whose own
// rc was 0 get the first failing rank's message, prefixed "rank R of N: ".
int ds_dist_agree(int rc);
// Collective: root's bytes to every rank.
int ds_dist_bcast(void *buf, size_t bytes, int root);
// Collective, in place: the element-wise maximum or sum over the ranks.
int ds_dist_max_i64(int64_t *v, int64_t n);
int ds_dist_max_f64(double *v, int64_t n);
int ds_dist_sum_i64(int64_t *v, int64_t n);

// Bytes this rank has handed to collectives so far (the benchmark's communication).
uint64_t ds_dist_bytes_sent(void);

// Training-set sharding (--shard-data): off unless set. When on, a backend binds only its
// rank's rows of the empirical model (ds_dist_data_rows) and merges the partial softmax
// states over the ranks (ds_dist_lse_merge).
void ds_dist_set_data_sharding(int on);
int ds_dist_data_sharding(void);
// This rank's rows [*first, *first + *count) of n: all of them unless sharding is on.
void ds_dist_data_rows(int64_t n, int64_t *first, int64_t *count);

// The log-sum-exp state of one query over a set of training rows, as ranks exchange it:
// DS_LSE_HEAD doubles (the largest logit lmax, z = sum exp(l - lmax), zl = sum
// exp(l - lmax) (l - lmax), the training row of the maximum), then d doubles
// acc = sum exp(l - lmax) y (centred rows). An empty state has lmax = -inf, z = 0.
enum { DS_LSE_LMAX, DS_LSE_Z, DS_LSE_ZL, DS_LSE_TOP, DS_LSE_HEAD };
// out <- the state of early's rows followed by late's (early holds the earlier training
// rows: on a tie of the maximum its top row stays, as in one process); out may be either.
void ds_lse_fold(const double *early, const double *late, double *out, int64_t d);
// Collective, in place: rows states of DS_LSE_HEAD + d doubles each become the states
// over every rank's rows, folded in rank order (MPI_Allreduce with a user-defined,
// non-commutative operation).
int ds_dist_lse_merge(double *state, int64_t rows, int64_t d);

#ifdef __cplusplus
}
#endif

#endif
