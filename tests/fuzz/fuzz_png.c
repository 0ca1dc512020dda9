// The PNG reader: the input is one PNG (chunk CRCs recomputed, so that mutations reach
// libpng's parser rather than its CRC check), read alone and as a one-image folder.
#include <stdlib.h>
#include <string.h>

#include "data_readers.h"
#include "fuzz_harness.h"
#include "png_chunks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned char *png = malloc(size ? size : 1);
    FUZZ_ASSERT(png, "out of memory");
    if (size) memcpy(png, data, size);
    png_fix_crcs(png, size);
    const char *path = fuzz_write("images/a.png", png, size);
    free(png);
    ds_image_u8 img;
    int rc = ds_png_read(path, &img);
    if (rc == 0) {
        FUZZ_ASSERT((img.c == 1 || img.c == 3) && img.h >= 1 && img.w >= 1 && img.pixels,
                    "read %dx%dx%d", img.c, img.h, img.w);
        free(img.pixels);
    } else {
        fuzz_check_refusal(path);
        FUZZ_ASSERT(!img.pixels, "refused but left pixels");
    }
    ds_data d;
    int rc_folder = ds_data_load(fuzz_path("images"), &d);
    FUZZ_ASSERT(rc_folder == rc, "read alone: %d, as a folder: %d", rc, rc_folder);
    fuzz_check_data(rc_folder, &d, path);
    ds_data_free(&d);
    fuzz_clear();
    return 0;
}
