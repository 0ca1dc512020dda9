// The readers behind ds_data_load (library-internal); the row steps they share are in
// data_rows.h.
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

// An 8-bit image as PNG stores it: h rows of w pixels of c interleaved channels.
typedef struct {
    int c, h, w;
    unsigned char *pixels;
} ds_image_u8;

// Reads one PNG as 8-bit grey (c = 1) or RGB (c = 3): alpha is dropped, palette
// images become RGB, 16-bit samples are scaled to 8 bits, 1/2/4-bit grey expanded.
int ds_png_read(const char *path, ds_image_u8 *img);

#endif
