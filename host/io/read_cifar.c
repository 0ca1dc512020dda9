// CIFAR-10 binary batches: records of one label byte and 3x32x32 pixels (R, G, B
// planes), from one file or several joined with commas.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_readers.h"
#include "data_rows.h"
#include "ds_error.h"

#define CIFAR_PIXELS (3 * 32 * 32)
#define CIFAR_RECORD (1 + CIFAR_PIXELS)
#define CIFAR_MAX_FILES 64

// Splits "a.bin,b.bin" in place into file names.
static int split_paths(const char *paths, char *buf, size_t size, char **names, int *count) {
    if (strlen(paths) >= size) return ds_fail("%s: list of files is too long", paths);
    snprintf(buf, size, "%s", paths);
    *count = 0;
    for (char *p = buf; p; *count += 1) {
        if (*count == CIFAR_MAX_FILES)
            return ds_fail("%s: more than %d CIFAR-10 files", paths, CIFAR_MAX_FILES);
        names[*count] = p;
        p = strchr(p, ',');
        if (p) *p++ = '\0';
        if (!names[*count][0])
            return ds_fail("%s: empty file name in the list (expected a.bin,b.bin,...)", paths);
    }
    return 0;
}

static int count_records(const char *path, int64_t *records) {
    int64_t size;
    DS_TRY(ds_check_regular(path, "a CIFAR-10 .bin file", &size));
    if (size == 0 || size % CIFAR_RECORD != 0)
        return ds_fail("%s: size %lld bytes is not a multiple of the %d-byte CIFAR-10 record "
                       "(expected 1 label byte + 3x32x32 pixels per image)",
                       path, (long long)size, CIFAR_RECORD);
    *records = size / CIFAR_RECORD;
    return 0;
}

// Reads the records of one file into rows [first, first + records) of out.
static int read_file(const char *path, int64_t first, int64_t records, ds_data *out) {
    FILE *f = fopen(path, "rb");
    if (!f) return ds_fail("%s: cannot open: %s", path, strerror(errno));
    unsigned char rec[CIFAR_RECORD];
    int rc = 0;
    for (int64_t i = 0; i < records && !rc; i++) {
        if (fread(rec, 1, CIFAR_RECORD, f) != CIFAR_RECORD)
            rc = ds_fail("%s: read failed at record %lld (file changed while reading?)", path,
                         (long long)i);
        else if (rec[0] > 9)
            rc = ds_fail("%s: record %lld has label %d (expected a CIFAR-10 class 0..9)", path,
                         (long long)i, rec[0]);
        else {
            out->labels[first + i] = rec[0];
            ds_u8_gather(rec + 1, 1, (unsigned char *)out->values + (first + i) * CIFAR_PIXELS,
                         CIFAR_PIXELS);
        }
    }
    fclose(f);
    return rc;
}

int ds_read_cifar(const char *paths, ds_data *out) {
    char buf[DS_PATH_MAX];
    char *names[CIFAR_MAX_FILES];
    int64_t records[CIFAR_MAX_FILES], total = 0;
    int count = 0;
    DS_TRY(split_paths(paths, buf, sizeof buf, names, &count));
    for (int i = 0; i < count; i++) {
        DS_TRY(count_records(names[i], &records[i]));
        total += records[i];
    }
    DS_TRY(ds_data_alloc_rows(out, paths, total, CIFAR_PIXELS, DS_U8));
    if (!(out->labels = ds_try_alloc((size_t)total, sizeof(int32_t), paths))) return -1;
    out->channels = 3, out->height = 32, out->width = 32;
    for (int64_t i = 0, first = 0; i < count; first += records[i++])
        DS_TRY(read_file(names[i], first, records[i], out));
    return 0;
}
