// Placeholder until the data readers land.
#include <stdlib.h>
#include <string.h>

#include "ds_data.h"
#include "ds_error.h"

int ds_data_load(const char *path, ds_data *out) {
    memset(out, 0, sizeof *out);
    return ds_fail("%s: data readers are not implemented yet", path);
}

void ds_data_free(ds_data *d) {
    free(d->x);
    free(d->labels);
    memset(d, 0, sizeof *d);
}
