// For test and benchmark programs only: the library never exits the process, but a test
// or benchmark may stop at the first failure of its own set-up.
#ifndef DS_TESTS_FATAL_H
#define DS_TESTS_FATAL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "ds_error.h"

// Prints "diffsamp: <message>" to stderr and exits with status 1.
static inline __attribute__((format(printf, 1, 2), noreturn)) void tu_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("diffsamp: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

// Zero-filled allocation that ends the program on failure.
static inline void *tu_alloc(size_t count, size_t size) {
    void *p = ds_try_alloc(count, size, "test set-up");
    if (!p) tu_die("%s", ds_error());
    return p;
}

#endif
