// Which training rows this rank holds under --shard-data.
#include "dist.h"

static int data_sharding;

void ds_dist_set_data_sharding(int on) {
    data_sharding = on;
}

int ds_dist_data_sharding(void) {
    return data_sharding && ds_dist_size() > 1;
}

// Contiguous, near-equal ranges in rank order, so that folding in rank order visits the
// rows in their order.
void ds_dist_data_rows(int64_t n, int64_t *first, int64_t *count) {
    if (!ds_dist_data_sharding()) {
        *first = 0, *count = n;
        return;
    }
    int64_t r = ds_dist_rank(), size = ds_dist_size();
    *first = n * r / size;
    *count = n * (r + 1) / size - *first;
}
