// The CIFAR-10 loader over several files: input = flags byte, then files separated by
// FUZZ_SEP, loaded as "a.bin,b.bin,...". Flag bit 1 pads each file with zeros to a
// whole number of 3073-byte records, so that the records' contents are reached.
#include <stdlib.h>
#include <string.h>

#include "fuzz_harness.h"

#define RECORD 3073

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int pad = data[0] & 1;
    fuzz_part p[4];
    int n = fuzz_split(data + 1, size - 1, p, 4);
    char list[4096] = "";
    for (int i = 0; i < n; i++) {
        char name[8] = {(char)('a' + i), '.', 'b', 'i', 'n', 0};
        size_t bytes = pad ? (p[i].size + RECORD - 1) / RECORD * RECORD : p[i].size;
        unsigned char *buf = calloc(bytes ? bytes : 1, 1);
        FUZZ_ASSERT(buf, "out of memory");
        if (p[i].size) memcpy(buf, p[i].data, p[i].size);
        const char *path = fuzz_write(name, buf, bytes);
        free(buf);
        if (i) strcat(list, ",");
        strcat(list, path);
    }
    ds_data d;
    fuzz_check_data(ds_data_load(list, &d), &d, fuzz_dir());
    if (d.labels)
        for (int64_t i = 0; i < d.n; i++)
            FUZZ_ASSERT(d.labels[i] <= 9, "CIFAR-10 label %d", d.labels[i]);
    ds_data_free(&d);
    fuzz_clear();
    return 0;
}
