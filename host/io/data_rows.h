// The steps every data reader shares (host/io/data_rows.c; library-internal).
#ifndef DS_DATA_ROWS_H
#define DS_DATA_ROWS_H

#include <stdint.h>

#include "ds_data.h"

// Allocates out->values for n rows of d values of dtype, after checking n * d for
// overflow and against the machine's memory; what names the source in the error.
int ds_data_alloc_rows(ds_data *out, const char *what, int64_t n, int64_t d, ds_dtype dtype);
// Copies count uint8 pixels, stride bytes apart, to dst (one channel of an image).
void ds_u8_gather(const unsigned char *src, int64_t stride, unsigned char *dst, int64_t count);

#endif
