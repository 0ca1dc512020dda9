// The readers behind ds_data_load, and the steps they share (library-internal).
#ifndef DS_DATA_READERS_H
#define DS_DATA_READERS_H

#include <stdint.h>

#include "ds_data.h"

// IDX images (N,H,W) or rows (N,d) of unsigned bytes, raw or .gz; a sibling labels
// file (train-images-idx3-ubyte -> train-labels-idx1-ubyte) is picked up if present.
int ds_read_idx(const char *path, ds_data *out);
// CIFAR-10 binary batches: one file, or several joined with commas.
int ds_read_cifar(const char *paths, ds_data *out);
// A folder of PNG files, sorted by name.
int ds_read_png_folder(const char *dir, ds_data *out);

// Allocates out->values for n rows of d values of dtype, after checking n * d for
// overflow and against the machine's memory; what names the source in the error.
int ds_data_alloc_rows(ds_data *out, const char *what, int64_t n, int64_t d, ds_dtype dtype);
// Copies count uint8 pixels, stride bytes apart, to dst (one channel of an image).
void ds_u8_gather(const unsigned char *src, int64_t stride, unsigned char *dst, int64_t count);

// An 8-bit image as PNG stores it: h rows of w pixels of c interleaved channels.
typedef struct {
    int c, h, w;
    unsigned char *pixels;
} ds_image_u8;

// Reads one PNG as 8-bit grey (c = 1) or RGB (c = 3): alpha is dropped, palette
// images become RGB, 16-bit samples are scaled to 8 bits, 1/2/4-bit grey expanded.
int ds_png_read(const char *path, ds_image_u8 *img);

#endif
