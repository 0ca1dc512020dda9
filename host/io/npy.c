// .npy files (NumPy format versions 1.0, 2.0, 3.0), little-endian f4, f8, u1, C order.
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ds_error.h"
#include "ds_io.h"

size_t ds_dtype_size(ds_dtype t) {
    return t == DS_F64 ? 8 : t == DS_F32 ? 4 : 1;
}

int64_t ds_array_count(const ds_array *a) {
    int64_t n = 1;
    for (int i = 0; i < a->ndim; i++) n *= a->shape[i];
    return n;
}

void ds_array_release(void *data, void *map_base, size_t map_bytes) {
    if (map_base)
        munmap(map_base, map_bytes);
    else
        free(data);
}

void ds_array_free(ds_array *a) {
    ds_array_release(a->data, a->map_base, a->map_bytes);
    memset(a, 0, sizeof *a);
}

// Finds the value that follows 'key': in the header dict, or NULL.
static const char *header_value(const char *header, const char *key) {
    char quoted[64];
    snprintf(quoted, sizeof quoted, "'%s'", key);
    const char *p = strstr(header, quoted);
    if (!p) return NULL;
    p = strchr(p + strlen(quoted), ':');
    if (!p) return NULL;
    p++;
    while (*p == ' ') p++;
    return p;
}

static int parse_descr(const char *path, const char *header, ds_dtype *dtype) {
    const char *v = header_value(header, "descr");
    if (!v || (*v != '\'' && *v != '"'))
        return ds_fail("%s: npy header has no 'descr' (expected e.g. '<f4')", path);
    char descr[16] = {0};
    size_t n = strcspn(v + 1, "'\"");
    if (n >= sizeof descr) n = sizeof descr - 1;
    memcpy(descr, v + 1, n);
    for (size_t i = 0; i < n; i++) // quoted in messages, which are one line (found by fuzzing)
        if (!isprint((unsigned char)descr[i])) descr[i] = '?';
    if (!strcmp(descr, "<f4"))
        *dtype = DS_F32;
    else if (!strcmp(descr, "<f8"))
        *dtype = DS_F64;
    else if (!strcmp(descr, "|u1") || !strcmp(descr, "<u1"))
        *dtype = DS_U8;
    else
        return ds_fail("%s: unsupported npy dtype '%s' (expected little-endian float32 '<f4', "
                       "float64 '<f8' or uint8 '|u1')",
                       path, descr);
    return 0;
}

static int parse_shape(const char *path, const char *header, ds_array *a) {
    const char *v = header_value(header, "fortran_order");
    if (!v) return ds_fail("%s: npy header has no 'fortran_order'", path);
    if (!strncmp(v, "True", 4))
        return ds_fail("%s: fortran_order arrays are not supported (expected C order; save "
                       "with np.ascontiguousarray)",
                       path);
    v = header_value(header, "shape");
    if (!v || *v != '(') return ds_fail("%s: npy header has no 'shape' tuple", path);
    v++;
    a->ndim = 0;
    int64_t count = 1;
    for (;;) {
        while (*v == ' ' || *v == ',') v++;
        if (*v == ')') break;
        char *end;
        errno = 0;
        long long dim = strtoll(v, &end, 10);
        if (end == v || errno || dim < 0)
            return ds_fail("%s: malformed npy shape (expected a tuple of sizes)", path);
        if (a->ndim == DS_MAX_DIMS)
            return ds_fail("%s: npy array has more than %d dimensions", path, DS_MAX_DIMS);
        if (dim > 0 && count > INT64_MAX / 8 / dim)
            return ds_fail("%s: npy shape is too large (element count overflows)", path);
        count *= dim;
        a->shape[a->ndim++] = dim;
        v = end;
    }
    return 0;
}

static int check_finite(const char *path, const ds_array *a) {
    int64_t n = ds_array_count(a);
    for (int64_t i = 0; i < n; i++) {
        double x = a->dtype == DS_F32 ? ((const float *)a->data)[i] : ((const double *)a->data)[i];
        if (!isfinite(x))
            return ds_fail("%s: element %lld is %s (expected finite values)", path, (long long)i,
                           isnan(x) ? "NaN" : "Inf");
    }
    return 0;
}

static int read_header(const char *path, FILE *f, ds_array *a, long *data_offset) {
    unsigned char pre[12];
    if (fread(pre, 1, 10, f) != 10)
        return ds_fail("%s: truncated npy file (shorter than its preamble)", path);
    if (memcmp(pre, "\x93NUMPY", 6) != 0)
        return ds_fail("%s: not an npy file (bad magic; expected \\x93NUMPY)", path);
    int major = pre[6];
    uint32_t hlen;
    long start;
    if (major == 1) {
        hlen = pre[8] | (uint32_t)pre[9] << 8;
        start = 10;
    } else if (major == 2 || major == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) return ds_fail("%s: truncated npy header", path);
        hlen = pre[8] | (uint32_t)pre[9] << 8 | (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
        start = 12;
    } else {
        return ds_fail("%s: unsupported npy format version %d (expected 1, 2 or 3)", path, major);
    }
    if (hlen > (1u << 20)) return ds_fail("%s: npy header length %u is implausible", path, hlen);
    char *header = ds_try_alloc(hlen + 1, 1, path);
    if (!header) return -1;
    int rc = 0;
    if (fread(header, 1, hlen, f) != hlen) rc = ds_fail("%s: truncated npy header", path);
    if (!rc) rc = parse_descr(path, header, &a->dtype);
    if (!rc) rc = parse_shape(path, header, a);
    free(header);
    *data_offset = start + (long)hlen;
    return rc;
}

// Reads the data into memory, or (map) maps the file and points into it.
static int load_data(const char *path, FILE *f, int map, int64_t size, long offset, ds_array *a) {
    int64_t count = ds_array_count(a), bytes = count * (int64_t)ds_dtype_size(a->dtype);
    if (map && bytes > 0 && offset % (long)sizeof(double) == 0) {
        void *base = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fileno(f), 0);
        if (base == MAP_FAILED) return ds_fail("%s: cannot map: %s", path, strerror(errno));
        a->map_base = base, a->map_bytes = (size_t)size;
        a->data = (unsigned char *)base + offset;
        return 0;
    }
    if (!(a->data = ds_try_alloc((size_t)count, ds_dtype_size(a->dtype), path))) return -1;
    if (fread(a->data, 1, (size_t)bytes, f) != (size_t)bytes)
        return ds_fail("%s: read failed (truncated npy data)", path);
    return 0;
}

static int npy_open(const char *path, int map, int finite_only, ds_array *out) {
    memset(out, 0, sizeof *out);
    int64_t size;
    DS_TRY(ds_check_regular(path, "an .npy file", &size));
    FILE *f = fopen(path, "rb");
    if (!f) return ds_fail("%s: cannot open: %s", path, strerror(errno));
    ds_array a = {0};
    long offset = 0;
    int rc = read_header(path, f, &a, &offset);
    if (!rc) {
        int64_t count = ds_array_count(&a);
        int64_t bytes = count * (int64_t)ds_dtype_size(a.dtype);
        if (size != offset + bytes)
            rc = ds_fail("%s: file has %lld bytes of data but its header says %lld (truncated or "
                         "corrupt npy)",
                         path, (long long)(size - offset), (long long)bytes);
        else if (!(rc = load_data(path, f, map, size, offset, &a)) && a.dtype != DS_U8 &&
                 finite_only)
            rc = check_finite(path, &a);
    }
    fclose(f);
    if (rc) {
        ds_array_free(&a);
        return rc;
    }
    *out = a;
    return 0;
}

int ds_npy_read(const char *path, ds_array *out) {
    return npy_open(path, 0, 1, out);
}

int ds_npy_read_any(const char *path, ds_array *out) {
    return npy_open(path, 0, 0, out);
}

int ds_npy_map(const char *path, ds_array *out) {
    return npy_open(path, 1, 1, out);
}

int ds_npy_write_header(FILE *f, const char *path, const ds_array *a) {
    if (a->dtype == DS_U8) return ds_fail("%s: writing uint8 npy is not supported", path);
    char header[512];
    int n = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     a->dtype == DS_F32 ? "<f4" : "<f8");
    for (int i = 0; i < a->ndim; i++)
        n += snprintf(header + n, sizeof header - n, "%lld,%s", (long long)a->shape[i],
                      i + 1 < a->ndim ? " " : "");
    n += snprintf(header + n, sizeof header - n, "), }");
    // Pad with spaces so that magic + version + length + header is a multiple of 64.
    int total = ((10 + n + 1 + 63) / 64) * 64;
    while (10 + n + 1 < total) header[n++] = ' ';
    header[n++] = '\n';
    unsigned char pre[10] = {
        0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(n & 0xff), (unsigned char)(n >> 8)};
    if (fwrite(pre, 1, 10, f) != 10 || fwrite(header, 1, (size_t)n, f) != (size_t)n)
        return ds_fail("%s: write failed: %s", path, strerror(errno));
    return 0;
}

int ds_npy_write(const char *path, const ds_array *a) {
    ds_atomic_file af;
    DS_TRY(ds_atomic_open(&af, path));
    size_t bytes = (size_t)ds_array_count(a) * ds_dtype_size(a->dtype);
    if (ds_npy_write_header(af.f, path, a) != 0) {
        ds_atomic_abort(&af);
        return -1;
    }
    if (bytes && fwrite(a->data, 1, bytes, af.f) != bytes) {
        int saved = errno;
        ds_atomic_abort(&af);
        return ds_fail("%s: write failed: %s", path, strerror(saved));
    }
    return ds_atomic_commit(&af);
}

int ds_npy_write_f64(const char *path, const double *x, int ndim, const int64_t *shape,
                     ds_dtype dtype) {
    ds_array a = {.dtype = dtype, .ndim = ndim};
    memcpy(a.shape, shape, sizeof(int64_t) * (size_t)ndim);
    if (dtype == DS_F64) {
        a.data = (void *)x;
        return ds_npy_write(path, &a);
    }
    int64_t count = ds_array_count(&a);
    float *buf = ds_try_alloc((size_t)count, sizeof(float), path);
    if (!buf) return -1;
    for (int64_t i = 0; i < count; i++) buf[i] = (float)x[i];
    a.data = buf;
    int rc = ds_npy_write(path, &a);
    free(buf);
    return rc;
}
