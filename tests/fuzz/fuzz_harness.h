// Shared steps of the libFuzzer targets (tests/fuzz/README.md): a scratch folder per
// process, inputs split into several files, and the properties the README promises of
// every loader, checked on each input (an oracle beyond "no crash"):
//   - a refused input gives one line that names the file, and leaves no output;
//   - an accepted data set has finite rows of the stated shape.
#ifndef DS_FUZZ_HARNESS_H
#define DS_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "ds_data.h"

// Separates the files of one input ("a.bin" FUZZ_SEP "b.bin" ...).
#define FUZZ_SEP "@@@@"
#define FUZZ_MAX_PARTS 8

typedef struct {
    const uint8_t *data;
    size_t size;
} fuzz_part;

// Aborts (a finding for libFuzzer) with the message when cond is false.
#define FUZZ_ASSERT(cond, ...)                                                                     \
    do {                                                                                           \
        if (!(cond)) fuzz_abort(__FILE__, __LINE__, #cond, __VA_ARGS__);                           \
    } while (0)
void fuzz_abort(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), noreturn));

// This process's scratch folder (made on first use, removed at exit).
const char *fuzz_dir(void);
// fuzz_dir()/name (a ring of buffers, enough for one input's files).
const char *fuzz_path(const char *name);
// Writes n bytes to fuzz_dir()/name (subfolders made); returns the path.
const char *fuzz_write(const char *name, const void *data, size_t n);
// The same, gzip-compressed.
const char *fuzz_write_gz(const char *name, const void *data, size_t n);
// Empties the scratch folder, ready for the next input.
void fuzz_clear(void);
// Splits an input at each FUZZ_SEP into at most max parts (the last takes the rest).
int fuzz_split(const uint8_t *data, size_t size, fuzz_part *parts, int max);

// The error recorded by a refused call: one non-empty line that contains `names`.
void fuzz_check_refusal(const char *names);
// ds_data_load's result: rc 0 gives finite rows of a consistent shape (labels, when
// present, one per row in 0..255); rc -1 leaves *d empty and a refusal naming `names`.
void fuzz_check_data(int rc, const ds_data *d, const char *names);

#endif
