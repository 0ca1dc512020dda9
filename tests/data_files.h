// Test helpers that write small data files byte by byte (.npy with any header, IDX
// raw or .gz, CIFAR-10 records), shared by test_data_io.c and test_bad_input.c.
#ifndef DS_TEST_DATA_FILES_H
#define DS_TEST_DATA_FILES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "testutil.h"

// dir + "/" + name in a static ring of buffers (enough for the paths of one test).
static inline const char *df_path(const char *dir, const char *name) {
    static char bufs[8][1024];
    static int next;
    char *p = bufs[next++ % 8];
    snprintf(p, sizeof bufs[0], "%s/%s", dir, name);
    return p;
}

static inline void df_write(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static inline void df_write_gz(const char *path, const void *data, size_t n) {
    gzFile f = gzopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(gzwrite(f, data, (unsigned)n), (int)n);
    assert_int_equal(gzclose(f), Z_OK);
}

// A .npy of format version major (1, 2 or 3) with the header dict written as given,
// e.g. header = "'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), ".
static inline void df_write_npy(const char *path, int major, const char *header, const void *data,
                                size_t n) {
    size_t pre = major == 1 ? 10 : 12;
    char dict[512];
    int len = snprintf(dict, sizeof dict, "{%s}", header);
    while ((pre + (size_t)len + 1) % 64) dict[len++] = ' ';
    dict[len++] = '\n';
    unsigned char bytes[4096];
    assert_true(pre + (size_t)len + n <= sizeof bytes);
    memcpy(bytes, "\x93NUMPY", 6);
    bytes[6] = (unsigned char)major, bytes[7] = 0;
    for (size_t i = 0; i < pre - 8; i++) bytes[8 + i] = (unsigned char)(len >> (8 * i));
    memcpy(bytes + pre, dict, (size_t)len);
    if (n) memcpy(bytes + pre + len, data, n);
    df_write(path, bytes, pre + (size_t)len + n);
}

// An IDX file of unsigned bytes: magic, big-endian dims, data; gzip-compressed if gz.
static inline void df_write_idx(const char *path, int gz, int ndim, const int *dims,
                                const unsigned char *data) {
    size_t count = 1;
    for (int i = 0; i < ndim; i++) count *= (size_t)dims[i];
    unsigned char *bytes = malloc(4 + 4 * (size_t)ndim + count);
    assert_non_null(bytes);
    unsigned char magic[4] = {0, 0, 0x08, (unsigned char)ndim};
    memcpy(bytes, magic, 4);
    for (int i = 0; i < ndim; i++)
        for (int b = 0; b < 4; b++) bytes[4 + 4 * i + b] = (unsigned char)(dims[i] >> (24 - 8 * b));
    memcpy(bytes + 4 + 4 * ndim, data, count);
    if (gz)
        df_write_gz(path, bytes, 4 + 4 * (size_t)ndim + count);
    else
        df_write(path, bytes, 4 + 4 * (size_t)ndim + count);
    free(bytes);
}

// n random bytes from a seed (values lo..hi inclusive).
static inline void df_random_bytes(unsigned char *out, size_t n, uint64_t seed, int lo, int hi) {
    double *u = malloc(sizeof(double) * n);
    assert_non_null(u);
    tu_fill_uniform(u, (int64_t)n, seed, lo, hi + 1);
    for (size_t i = 0; i < n; i++) out[i] = (unsigned char)u[i];
    free(u);
}

#endif
