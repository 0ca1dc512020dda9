// IDX files (MNIST, Fashion-MNIST) of unsigned bytes, raw or gzip-compressed, with the
// labels file next to the images picked up when present.
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "data_readers.h"
#include "data_rows.h"
#include "ds_error.h"

// deflate compresses at most about 1032:1, so a .gz file of s bytes holds less than this.
#define GZ_MAX_RATIO 1032

typedef struct {
    int ndim;
    int64_t dims[4];
    int64_t count; // product of dims
    unsigned char *data;
} idx_array;

static int read_exact(const char *path, gzFile f, void *buf, int64_t bytes, const char *what) {
    int64_t done = 0;
    while (done < bytes) {
        int64_t chunk = bytes - done < (1 << 30) ? bytes - done : (1 << 30);
        int got = gzread(f, (char *)buf + done, (unsigned)chunk);
        if (got < 0) {
            int zerr;
            const char *msg = gzerror(f, &zerr);
            return ds_fail("%s: corrupt IDX %s: %s (expected %lld bytes)", path, what, msg,
                           (long long)bytes);
        }
        if (got == 0)
            return ds_fail("%s: truncated IDX file: %s has %lld of %lld bytes", path, what,
                           (long long)done, (long long)bytes);
        done += got;
    }
    return 0;
}

static int read_header(const char *path, gzFile f, int64_t file_size, idx_array *a) {
    unsigned char m[4];
    DS_TRY(read_exact(path, f, m, 4, "magic"));
    if (m[0] != 0 || m[1] != 0 || m[3] < 1 || m[3] > 4)
        return ds_fail("%s: not an IDX file (magic %02x %02x %02x %02x; expected 00 00 08 01..04)",
                       path, m[0], m[1], m[2], m[3]);
    if (m[2] != 0x08)
        return ds_fail("%s: IDX element type 0x%02x is not supported (expected unsigned bytes, "
                       "0x08)",
                       path, m[2]);
    unsigned char raw[16];
    a->ndim = m[3];
    DS_TRY(read_exact(path, f, raw, 4 * a->ndim, "header"));
    a->count = 1;
    for (int i = 0; i < a->ndim; i++) {
        const unsigned char *b = raw + 4 * i;
        a->dims[i] = (int64_t)b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3];
        if (a->dims[i] == 0) return ds_fail("%s: IDX dimension %d is 0 (expected data)", path, i);
        if (a->count > INT64_MAX / a->dims[i])
            return ds_fail("%s: IDX dimensions overflow (corrupt header)", path);
        a->count *= a->dims[i];
    }
    int64_t header = 4 + 4 * a->ndim;
    if (gzdirect(f) && file_size != header + a->count)
        return ds_fail("%s: file has %lld bytes of data but its IDX header says %lld (truncated or "
                       "corrupt)",
                       path, (long long)(file_size - header), (long long)a->count);
    if (!gzdirect(f) && a->count / GZ_MAX_RATIO > file_size)
        return ds_fail("%s: IDX header says %lld bytes, more than a %lld-byte .gz file can hold "
                       "(corrupt header)",
                       path, (long long)a->count, (long long)file_size);
    return 0;
}

// Reads a whole IDX file of unsigned bytes, checking that nothing follows the data.
static int idx_read(const char *path, idx_array *a) {
    memset(a, 0, sizeof *a);
    int64_t size;
    DS_TRY(ds_check_regular(path, "an IDX file", &size));
    gzFile f = gzopen(path, "rb");
    if (!f) return ds_fail("%s: cannot open: %s", path, strerror(errno));
    gzbuffer(f, 1 << 18);
    int rc = read_header(path, f, size, a);
    if (!rc && !(a->data = ds_try_alloc((size_t)a->count, 1, path))) rc = -1;
    if (!rc) rc = read_exact(path, f, a->data, a->count, "data");
    unsigned char extra;
    int more = rc ? 0 : gzread(f, &extra, 1); // also makes zlib check the gzip trailer
    if (more < 0) rc = ds_fail("%s: corrupt IDX .gz file: %s", path, gzerror(f, &more));
    if (more > 0)
        rc = ds_fail("%s: file has data after the %lld bytes its IDX header describes", path,
                     (long long)a->count);
    gzclose(f);
    if (rc) free(a->data), a->data = NULL;
    return rc;
}

// train-images-idx3-ubyte[.gz] -> train-labels-idx1-ubyte[.gz] (same compression
// first); 0 when the name has no such sibling or none exists.
static int labels_path(const char *images, char *out, size_t size) {
    const char *key = "images-idx3-ubyte";
    const char *base = strrchr(images, '/') ? strrchr(images, '/') + 1 : images;
    const char *at = strstr(base, key);
    if (!at) return 0;
    const char *rest = at + strlen(key);
    const char *alt = !strcmp(rest, ".gz") ? "" : !strcmp(rest, "") ? ".gz" : NULL;
    const char *suffixes[2] = {rest, alt};
    for (int i = 0; i < 2 && suffixes[i]; i++) {
        snprintf(out, size, "%.*slabels-idx1-ubyte%s", (int)(at - images), images, suffixes[i]);
        struct stat st;
        if (stat(out, &st) == 0) return 1;
    }
    return 0;
}

static int read_labels(const char *images, ds_data *out) {
    char path[DS_PATH_MAX];
    if (!labels_path(images, path, sizeof path)) return 0;
    idx_array a;
    DS_TRY(idx_read(path, &a));
    int rc = 0;
    if (a.ndim != 1 || a.count != out->n)
        rc = ds_fail("%s: holds %lld labels in %d dimension(s) but %s holds %lld images (expected "
                     "one label per image)",
                     path, (long long)a.count, a.ndim, images, (long long)out->n);
    else if (!(out->labels = ds_try_alloc((size_t)a.count, sizeof(int32_t), path)))
        rc = -1;
    else
        for (int64_t i = 0; i < a.count; i++) out->labels[i] = a.data[i];
    free(a.data);
    return rc;
}

int ds_read_idx(const char *path, ds_data *out) {
    idx_array a;
    DS_TRY(idx_read(path, &a));
    int rc = 0;
    if (a.ndim != 2 && a.ndim != 3)
        rc = ds_fail("%s: IDX file has %d dimension(s) (expected images (N,H,W) or rows (N,d); "
                     "a labels file is read next to its images)",
                     path, a.ndim);
    if (!rc) rc = ds_data_alloc_rows(out, path, a.dims[0], a.count / a.dims[0], DS_U8);
    if (!rc) {
        ds_u8_gather(a.data, 1, out->values, a.count);
        if (a.ndim == 3)
            out->channels = 1, out->height = (int)a.dims[1], out->width = (int)a.dims[2];
    }
    free(a.data);
    if (!rc) rc = read_labels(path, out);
    return rc;
}
