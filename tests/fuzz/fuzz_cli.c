// The command-line parser: input = arguments separated by NUL bytes, parsed against a
// table with one option of each type, then range-checked; each argument also goes
// through the byte-count parser of --max-memory. A refusal names the command.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "cli.h"
#include "ds_error.h"
#include "fuzz_harness.h"

#define MAX_ARGS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    FUZZ_ASSERT(text, "out of memory");
    if (size) memcpy(text, data, size);
    text[size] = '\0';
    // Arguments typed on a command line hold no line breaks (a message that quotes one
    // would span two lines).
    for (size_t i = 0; i < size; i++)
        if (text[i] == '\n' || text[i] == '\r') text[i] = ' ';
    char *argv[MAX_ARGS + 1] = {"fuzzcmd"};
    int argc = 1;
    for (char *p = text; argc < MAX_ARGS && p < text + size; p += strlen(p) + 1) argv[argc++] = p;
    argv[argc] = NULL;
    const char *name = "default";
    int64_t count = 4;
    double scale = 0.5;
    int flag = 0;
    const cli_opt opts[] = {
        {"name", CLI_STR, &name, "a string"},
        {"count", CLI_INT, &count, "an integer"},
        {"scale", CLI_REAL, &scale, "a number"},
        {"flag", CLI_FLAG, &flag, "a flag"},
    };
    int rc = cli_parse("fuzzcmd", "fuzzing the parser", argc, argv, opts, 4);
    FUZZ_ASSERT(rc == 0 || rc == 1 || rc == -1, "returned %d", rc);
    if (rc == -1) {
        FUZZ_ASSERT(strstr(ds_error(), "fuzzcmd: "), "message does not name the command: %s",
                    ds_error());
    } else if (rc == 0) {
        FUZZ_ASSERT(name && name[0], "empty --name accepted");
        FUZZ_ASSERT(flag == 0 || flag == 1, "flag %d", flag);
        if (cli_check_int("fuzzcmd", "count", count, 1, 1000) == 0)
            FUZZ_ASSERT(count >= 1 && count <= 1000, "count %lld passed", (long long)count);
        if (cli_check_real("fuzzcmd", "scale", scale, 0, 1) == 0)
            FUZZ_ASSERT(scale >= 0 && scale <= 1, "scale %g passed", scale);
    }
    for (int i = 1; i < argc; i++) {
        uint64_t bytes;
        char head[65]; // the message quotes a value by its first 64 characters
        snprintf(head, sizeof head, "%s", argv[i]);
        if (ds_parse_bytes(argv[i], &bytes) != 0) fuzz_check_refusal(head);
    }
    free(text);
    return 0;
}
