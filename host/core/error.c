// Error messages and checked allocation (which records an error, never exits).
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_error.h"

static _Thread_local char last_error[1024];

int ds_fail(const char *fmt, ...) {
    // Formatted aside first: callers often wrap the previous message, ds_fail("...: %s",
    // ds_error()), and vsnprintf's source and destination must not overlap.
    char message[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    memcpy(last_error, message, sizeof message);
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
