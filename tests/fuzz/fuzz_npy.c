// The .npy loader: the input is one .npy file, loaded as a data set.
#include "fuzz_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("x.npy", data, size);
    ds_data d;
    fuzz_check_data(ds_data_load(path, &d), &d, path);
    ds_data_free(&d);
    fuzz_clear();
    return 0;
}
