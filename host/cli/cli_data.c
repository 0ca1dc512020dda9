// Loading a data set for a command: ds_data_load, and a note on stderr when an image
// array's layout was guessed (a (N, H, W, C) array read channels last), so that the
// reading is never silent; and the number of principal components that data allows.
#include <stdio.h>

#include "cli.h"
#include "ds_data.h"

int cli_data_load(const char *command, const char *path, ds_data *out) {
    int rc = ds_data_load(path, out);
    if (!rc && out->channels_last)
        fprintf(stderr,
                "%s: %s: (N, %d, %d, %d) read as images of height x width x channels (the last "
                "axis, of 1, 3 or 4, taken for channels): C = %d, H = %d, W = %d\n",
                command, path, out->height, out->width, out->channels, out->channels, out->height,
                out->width);
    return rc;
}

int64_t cli_pca_k(const char *command, int64_t k, const ds_data *train) {
    if (k != 0) return k; // given: ds_pca_fit refuses k < 1 and k > d
    if (train->d >= 64) return 64;
    fprintf(stderr, "%s: %s has dimension d = %lld < 64: --pca-k %lld (all components)\n", command,
            train->path, (long long)train->d, (long long)train->d);
    return train->d;
}
