// Error reporting: library functions return 0 on success and -1 on failure, after
// recording a one-line message that the caller can print with ds_error().
#ifndef DS_ERROR_H
#define DS_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default) // the public API: exported from the shared library

// Records a printf-style message as the current error and returns -1.
int ds_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// The last recorded error message of this thread ("" if none).
const char *ds_error(void);
// Zero-filled allocation of count x size bytes. Returns NULL and records
// "<what>: out of memory allocating N MiB" (or the overflow of count x size) when it fails;
// the library never exits the process, so every caller checks and passes the error on.
void *ds_try_alloc(size_t count, size_t size, const char *what) __attribute__((warn_unused_result));

#define DS_TRY(call)                                                                               \
    do {                                                                                           \
        if ((call) != 0) return -1;                                                                \
    } while (0)

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif

#endif
