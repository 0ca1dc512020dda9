// Arrays and files: .npy read/write and atomic output files.
#ifndef DS_IO_H
#define DS_IO_H

#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default) // the public API: exported from the shared library

#define DS_MAX_DIMS 8
#define DS_PATH_MAX 4096

typedef enum { DS_F32 = 0, DS_F64 = 1, DS_U8 = 2 } ds_dtype;

// A dense C-order array as stored in a .npy file. A memory-mapped array's data lies
// inside map_base (map_bytes long, a private copy-on-write mapping of the whole file).
typedef struct {
    ds_dtype dtype;
    int ndim;
    int64_t shape[DS_MAX_DIMS];
    void *data;
    void *map_base; // NULL: data is malloc'ed
    size_t map_bytes;
} ds_array;

int64_t ds_array_count(const ds_array *a);
size_t ds_dtype_size(ds_dtype t);
void ds_array_free(ds_array *a);
// Frees malloc'ed data or unmaps a mapping.
void ds_array_release(void *data, void *map_base, size_t map_bytes);

// 0 when path is a regular file (its size in *size when size is not NULL); else one line
// naming the path, what it is (missing, a folder, a device...) and `expected`.
int ds_check_regular(const char *path, const char *expected, int64_t *size);

// Reads a .npy file (versions 1.0, 2.0, 3.0; little-endian f4, f8, u1; C order).
// Float data containing NaN or Inf is rejected.
int ds_npy_read(const char *path, ds_array *out);
// The same, keeping NaN and Inf values: generated samples, of which some may have diverged.
int ds_npy_read_any(const char *path, ds_array *out);
// The same checks, but the data is memory-mapped rather than read: pages are read from
// the file as they are used and the kernel may drop them again, so a data set larger
// than memory can be used. Falls back to reading where the data is not aligned.
int ds_npy_map(const char *path, ds_array *out);
// Frees (or unmaps) data and clears the array.
// Writes a float32 or float64 array atomically.
int ds_npy_write(const char *path, const ds_array *a);
// Writes the .npy preamble and header for a's dtype and shape to f (a->data is not
// read): the data, in C order, follows. path names the file in messages.
int ds_npy_write_header(FILE *f, const char *path, const ds_array *a);
// Writes double data as a .npy of the given dtype (DS_F32 or DS_F64) atomically.
int ds_npy_write_f64(const char *path, const double *x, int ndim, const int64_t *shape,
                     ds_dtype dtype);

// An output file written under a temporary name in the same folder and renamed into
// place by ds_atomic_commit, so the final name never holds a partial file.
typedef struct {
    FILE *f;
    char tmp_path[DS_PATH_MAX];
    char path[DS_PATH_MAX];
} ds_atomic_file;

int ds_atomic_open(ds_atomic_file *af, const char *path);
// Flushes, syncs, closes and renames; on failure removes the temporary file.
int ds_atomic_commit(ds_atomic_file *af);
// Closes and removes the temporary file.
void ds_atomic_abort(ds_atomic_file *af);
// Creates a directory and its parents (like mkdir -p).
int ds_mkdirs(const char *path);
// Creates the folder part of a file's path and its parents (nothing for a bare name).
int ds_mkdirs_parent(const char *path);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif

#endif
