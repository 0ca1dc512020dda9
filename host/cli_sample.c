// diffsamp sample: placeholder until its issue lands.
#include <stdio.h>

#include "cli.h"

int cli_sample(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "diffsamp: sample is not implemented yet\n");
    return 2;
}
