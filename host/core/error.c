// Error messages and checked allocation (which records an error, never exits).
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ds_error.h"

static _Thread_local char last_error[1024];

int ds_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return -1;
}

const char *ds_error(void) {
    return last_error;
}

void *ds_try_alloc(size_t count, size_t size, const char *what) {
    if (size && count > SIZE_MAX / size) {
        ds_fail("%s: size %zu x %zu overflows", what, count, size);
        return NULL;
    }
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        ds_fail("%s: out of memory allocating %.1f MiB", what,
                (double)count * (double)size / 1048576.0);
    return p;
}
