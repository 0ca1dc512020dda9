// The steps every data reader shares: the checked allocation of the rows, in the data
// set's own dtype, and the gathering of one channel's uint8 pixels.
#include <stdint.h>
#include <unistd.h>

#include "data_rows.h"
#include "ds_error.h"

int ds_data_alloc_rows(ds_data *out, const char *what, int64_t n, int64_t d, ds_dtype dtype) {
    if (n < 1 || d < 1)
        return ds_fail("%s: data set has no data (%lld rows of %lld values; expected at least 1)",
                       what, (long long)n, (long long)d);
    int64_t size = (int64_t)ds_dtype_size(dtype);
    if (n > INT64_MAX / size / d)
        return ds_fail("%s: %lld rows of %lld values overflow the size of an array", what,
                       (long long)n, (long long)d);
    double need = (double)n * (double)d * (double)size;
    double have = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGE_SIZE);
    if (have > 0 && need > have)
        return ds_fail("%s: %lld rows of %lld values need %.1f GiB but this machine has %.1f GiB "
                       "of memory",
                       what, (long long)n, (long long)d, need / 1073741824.0, have / 1073741824.0);
    if (!(out->values = ds_try_alloc((size_t)(n * d), (size_t)size, what))) return -1;
    out->n = n;
    out->d = d;
    out->dtype = dtype;
    return 0;
}

void ds_u8_gather(const unsigned char *src, int64_t stride, unsigned char *dst, int64_t count) {
    for (int64_t i = 0; i < count; i++) dst[i] = src[i * stride];
}
