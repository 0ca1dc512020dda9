// Resumable batched output. A run in folder OUT keeps OUT/.diffsamp-run/: config.txt
// (the options that determine the output, "key=value" lines), one shard per completed
// batch (batch-000012.npy, its rows, committed atomically after the batch's PNGs) and
// "complete" once every output is written. An interrupted run continued with the same
// options skips the committed batches and recomputes the rest, so its output is
// byte-identical to an uninterrupted run; different options are refused.
#ifndef DS_RESUME_H
#define DS_RESUME_H

#include <stdint.h>

#include "cli.h"
#include "ds_io.h"

typedef struct {
    char dir[DS_PATH_MAX];  // the output folder
    char work[DS_PATH_MAX]; // dir/.diffsamp-run
    int64_t n, batch, d, n_batches;
    ds_dtype dtype;       // of the shards and samples.npy
    uint8_t *done;        // per batch: 1 when its shard is committed
    int64_t batches_done; // found done when opened
    int64_t samples_done; //
    int64_t committed;    // batches committed since opened
    int complete;         // the run had finished: nothing left to do
    int lock_fd;          // holds an exclusive lock on the run while open
    int joined;           // opened by ds_resume_join: another process owns the run
} ds_resume;

// Opens the run in `dir` for n rows of dimension d in batches of `batch`. config lists
// everything that determines the output. Without `resume`, a folder that holds a run
// is refused; with it, a run with a different config is refused and the batches of a
// matching one are marked done (a folder without a run starts one). Removes stale
// temporary files (name.tmp.PID) left by a killed run. On failure nothing stays open
// (ds_resume_close is then optional).
int ds_resume_open(ds_resume *r, const char *dir, const char *config, int64_t n, int64_t batch,
                   int64_t d, ds_dtype dtype, int resume);
// Joins the run that another rank of the same job opened in `dir` (MPI: rank 0 holds
// the lock and the config; the others commit their batches' shards beside its own):
// marks the batches done so far, writes nothing. A joined run is never abandoned.
int ds_resume_join(ds_resume *r, const char *dir, int64_t n, int64_t batch, int64_t d,
                   ds_dtype dtype);
// Marks done the batches whose shards other ranks committed since the run was opened.
void ds_resume_rescan(ds_resume *r);
// The batch size recorded by the run in `dir` ("batch-planned" of its config), or 0.
int64_t ds_resume_stored_batch(const char *dir);
// Rows of batch j and the index of its first row.
int64_t ds_resume_rows(const ds_resume *r, int64_t j, int64_t *first);
// Records batch j (rows x d values) as done. For tests, DIFFSAMP_TEST_DIE_AFTER_BATCH=j
// kills the process right after.
int ds_resume_commit(ds_resume *r, int64_t j, const double *x);
// The first `rows` rows of the run (all when rows >= n), read back from the shards in
// order: a (rows, d) array of the run's dtype (free with ds_array_free). Every batch
// must be done.
int ds_resume_gather(const ds_resume *r, int64_t rows, ds_array *out);
// Writes every row of the run to the .npy at path atomically, one shard at a time (the
// memory of one batch, whatever n), of shape (n, row_shape...) (row_ndim 0: (n, d)).
// Every batch must be done.
int ds_resume_write_npy(const ds_resume *r, const char *path, int row_ndim,
                        const int64_t *row_shape);
// Marks the run complete and removes the shards: call after every output is written.
int ds_resume_finish(ds_resume *r);
void ds_resume_close(ds_resume *r);
// For a run that failed: when it holds no finished batch (none found when opened, none
// committed since), removes its bookkeeping and the output folder if that is left
// empty, so that a corrected command can start afresh; a run with batches is kept.
void ds_resume_abandon(ds_resume *r);

// "name=value\n" for every option in the table except those named in skip (NULL-ended),
// appended to buf (size bytes); -1 when it does not fit.
int ds_config_text(const cli_opt *opts, int n_opts, const char *const *skip, char *buf,
                   size_t size);
// Appends "key=value\n" to buf; -1 when it does not fit.
int ds_config_add(char *buf, size_t size, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
