// diffsamp denoise: placeholder until its issue lands.
#include <stdio.h>

#include "cli.h"

int cli_denoise(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "diffsamp: denoise is not implemented yet\n");
    return 2;
}
