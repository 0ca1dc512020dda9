// A folder of PNGs: input = up to 4 PNGs separated by FUZZ_SEP (CRCs recomputed), as
// a.png, b.png, ... plus one file that is no PNG by name; loaded as one data set.
#include <stdlib.h>
#include <string.h>

#include "fuzz_harness.h"
#include "png_chunks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_part p[4];
    int n = fuzz_split(data, size, p, 4);
    for (int i = 0; i < n; i++) {
        char name[32] = "images/a.png";
        name[7] = (char)('a' + i);
        unsigned char *png = malloc(p[i].size ? p[i].size : 1);
        FUZZ_ASSERT(png, "out of memory");
        if (p[i].size) memcpy(png, p[i].data, p[i].size);
        png_fix_crcs(png, p[i].size);
        fuzz_write(name, png, p[i].size);
        free(png);
    }
    fuzz_write("images/notes.txt", "not an image", 12);
    const char *dir = fuzz_path("images");
    ds_data d;
    int rc = ds_data_load(dir, &d);
    fuzz_check_data(rc, &d, dir);
    FUZZ_ASSERT(rc || d.n == n, "%d PNGs gave %lld rows", n, (long long)d.n);
    ds_data_free(&d);
    fuzz_clear();
    return 0;
}
