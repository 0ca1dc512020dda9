// The IDX loader with its labels file: input = flags byte, images file, FUZZ_SEP, labels
// file. Flag bits: 1 gzip the images, 2 gzip the labels, 4 the images bytes are
// written as a .gz as given (so zlib's own checks are fuzzed too).
#include "fuzz_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int flags = data[0];
    fuzz_part p[2];
    int n = fuzz_split(data + 1, size - 1, p, 2);
    const char *images;
    if (flags & 4)
        images = fuzz_write("train-images-idx3-ubyte.gz", p[0].data, p[0].size);
    else if (flags & 1)
        images = fuzz_write_gz("train-images-idx3-ubyte.gz", p[0].data, p[0].size);
    else
        images = fuzz_write("train-images-idx3-ubyte", p[0].data, p[0].size);
    if (n == 2) {
        const char *name = (flags & 5) ? "train-labels-idx1-ubyte.gz" : "train-labels-idx1-ubyte";
        if (flags & 2)
            fuzz_write_gz(name, p[1].data, p[1].size);
        else
            fuzz_write(name, p[1].data, p[1].size);
    }
    ds_data d;
    fuzz_check_data(ds_data_load(images, &d), &d, fuzz_dir());
    ds_data_free(&d);
    fuzz_clear();
    return 0;
}
