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
// Prints "diffsamp: <message>" to stderr and exits with status 1.
void ds_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
// Zero-filled allocation; an allocation failure is fatal (clear message, exit 1).
void *ds_alloc(size_t count, size_t size);
// Like ds_alloc but returns NULL and records an error instead of exiting.
void *ds_try_alloc(size_t count, size_t size, const char *what);

#define DS_TRY(call)                                                                               \
    do {                                                                                           \
        if ((call) != 0) return -1;                                                                \
    } while (0)

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif

#endif
