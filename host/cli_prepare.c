// diffsamp prepare: placeholder until its issue lands.
#include <stdio.h>

#include "cli.h"

int cli_prepare(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "diffsamp: prepare is not implemented yet\n");
    return 2;
}
