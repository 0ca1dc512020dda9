// Data sets: training rows loaded from .npy, IDX, CIFAR-10 binary or a PNG folder,
// and image output (one PNG per sample, grids).
#ifndef DS_DATA_H
#define DS_DATA_H

#include <stdint.h>
#include "ds_io.h"

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default) // the public API: exported from the shared library

// N rows of dimension d, row-major, in the data's own precision: dtype DS_U8 holds
// pixels v that stand for v / 127.5 - 1 in [-1, 1]; DS_F32 and DS_F64 hold the values
// as given. Read them through the accessors below, which give every dtype in double
// (exact for all three) or rows rounded once to float. When the rows are images,
// channels * height * width == d (C-H-W order inside a row); otherwise all three are 0.
typedef struct {
    int64_t n, d;
    int channels, height, width;
    int channels_last; // 1: read from an (N, H, W, C) array, rows reordered to C-H-W
    ds_dtype dtype;
    void *values;   // n x d of dtype
    void *map_base; // non-NULL: values lie in this memory-mapped .npy (see ds_npy_map)
    size_t map_bytes;
    int32_t *labels; // n class labels, or NULL
    char path[DS_PATH_MAX];
} ds_data;

// Value (i, j) in double: uint8 as v / 127.5 - 1 computed in double.
static inline double ds_data_value(const ds_data *data, int64_t i, int64_t j) {
    int64_t e = i * data->d + j;
    if (data->dtype == DS_U8) return ((const unsigned char *)data->values)[e] / 127.5 - 1.0;
    if (data->dtype == DS_F32) return ((const float *)data->values)[e];
    return ((const double *)data->values)[e];
}
// count rows from first as count x d doubles.
void ds_data_rows_f64(const ds_data *data, int64_t first, int64_t count, double *out);
// count rows from first as count x d floats, each rounded once from its double value
// (the float backends' copies, built chunk by chunk).
void ds_data_rows_f32(const ds_data *data, int64_t first, int64_t count, float *out);
// Bytes the values take in memory: n * d * the dtype's size.
int64_t ds_data_value_bytes(const ds_data *data);
// A deep copy (values and labels, in memory even if src is mapped); returns -1 with the
// error set if memory runs out.
int ds_data_copy(const ds_data *src, ds_data *dst);
// The rows of src whose class label is `label` (in order, in src's dtype, with their
// labels) as a data set of its own, for the model of one class. Refused when src has no
// labels or no row has this one.
int ds_data_select_class(const ds_data *src, int64_t label, ds_data *dst);

// Loads a data set, choosing the reader from the path: a folder of PNGs, a .npy file,
// an IDX file (raw or .gz), or CIFAR-10 binary batches (a .bin file, or several
// joined with commas). IDX label files next to IDX images are picked up
// automatically (train-images-idx3-ubyte -> train-labels-idx1-ubyte).
int ds_data_load(const char *path, ds_data *out);
void ds_data_free(ds_data *d);

// The built-in default data set: Fashion-MNIST training images from Debian's
// dataset-fashion-mnist package.
#define DS_DEFAULT_DATA "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"

// One image (c x h x w floats in [-1, 1], C-H-W order) as an 8-bit grey (c == 1) or
// RGB (c == 3) PNG, written atomically.
int ds_png_write_image(const char *path, const double *x, int c, int h, int w);
// count rows as one PNG each in EDM's layout: dir/000000/000123.png for row index
// first_index + i, 1,000 files per subfolder.
int ds_png_write_samples(const char *dir, const double *x, int64_t count, int64_t first_index,
                         int c, int h, int w);
// count rows as one grid PNG, grid_cols images per grid row, 2-pixel border.
int ds_png_write_grid(const char *path, const double *x, int64_t count, int grid_cols, int c, int h,
                      int w);

// Pixel value for output, as EDM writes it: clip(floor(x * 127.5 + 128), 0, 255).
static inline unsigned char ds_to_pixel(double x) {
    double v = x * 127.5 + 128.0;
    if (!(v >= 0.0)) return 0; // also NaN
    if (v >= 255.0) return 255;
    return (unsigned char)v;
}

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif

#endif
