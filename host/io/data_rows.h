// The steps every data reader shares (host/io/data_rows.c; library-internal).
#ifndef DS_DATA_ROWS_H
#define DS_DATA_ROWS_H

#include <stdint.h>

#include "ds_data.h"

// Allocates out->x for n rows of d floats, after checking n * d for overflow and
// against the machine's memory; what names the source in the error.
int ds_data_alloc_rows(ds_data *out, const char *what, int64_t n, int64_t d);
// count uint8 pixels, stride bytes apart, to [-1, 1]: v / 127.5 - 1.
void ds_u8_to_unit(const unsigned char *src, int64_t stride, float *dst, int64_t count);

#endif
