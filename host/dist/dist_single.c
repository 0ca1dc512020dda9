// The one-process run of a build without MPI: rank 0 of 1, every collective trivial.
#include <stdio.h>

#include "dist.h"

int ds_dist_init(int *argc, char ***argv) {
    (void)argc, (void)argv;
    return 0;
}

void ds_dist_finalize(void) {}

int ds_dist_rank(void) {
    return 0;
}

int ds_dist_size(void) {
    return 1;
}

int ds_dist_local_rank(void) {
    return 0;
}

void ds_dist_describe(char *buf, size_t size) {
    snprintf(buf, size, "not built (no MPI found at build time)");
}

int ds_dist_agree(int rc) {
    return rc ? -1 : 0;
}

int ds_dist_bcast(void *buf, size_t bytes, int root) {
    (void)buf, (void)bytes, (void)root;
    return 0;
}

int ds_dist_max_i64(int64_t *v, int64_t n) {
    (void)v, (void)n;
    return 0;
}

int ds_dist_max_f64(double *v, int64_t n) {
    (void)v, (void)n;
    return 0;
}

int ds_dist_sum_i64(int64_t *v, int64_t n) {
    (void)v, (void)n;
    return 0;
}

uint64_t ds_dist_bytes_sent(void) {
    return 0;
}

int ds_dist_lse_merge(double *state, int64_t rows, int64_t d) {
    (void)state, (void)rows, (void)d;
    return 0;
}
