// diffsamp: the command-line program. Dispatches to one subcommand per file.
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "dist.h"
#include "ds_error.h"
#include "ds_version.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    int ranks; // runs under mpirun with several ranks (the others run in one process)
} command;

static const command commands[] = {
    {"demo", cli_demo, "sample the three models of Fashion-MNIST and write grid PNGs", 0},
    {"grid", cli_grid, "write a grid PNG of training images", 0},
    {"info", cli_info, "show the build, the backends and the devices found", 1},
    {"prepare", cli_prepare, "fit a model to a data set and write its folder", 0},
    {"denoise", cli_denoise, "evaluate a model's denoiser D(x; sigma) on given rows", 1},
    {"sample", cli_sample, "sample with a solver of the probability-flow ODE", 1},
    {"analyze", cli_analyze, "trajectory geometry, memorisation, PCA-Frechet distance, errors", 0},
    {"sweep", cli_sweep, "compare solvers, schedules, NFE and teleportation against adaptive", 0},
};

static void usage(FILE *f) {
    fprintf(f, "usage: diffsamp COMMAND [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'diffsamp COMMAND --help' lists a command's options and defaults;\n"
               "'diffsamp --version' prints the version and git revision.\n");
}

static int run(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("diffsamp %s (git %s)\n", ds_version(), ds_git_revision());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            if (commands[i].ranks || ds_dist_size() == 1)
                return commands[i].run(argc - 1, argv + 1);
            fprintf(stderr,
                    "diffsamp: %s runs in one process (started here as %d ranks by mpirun; "
                    "only sample, denoise and info use several)\n",
                    argv[1], ds_dist_size());
            return 2;
        }
    fprintf(stderr, "diffsamp: unknown command '%s' (see diffsamp --help)\n", argv[1]);
    return 2;
}

// Under mpirun every rank runs the same command (host/dist); a rank that cannot join
// the job says so and stops.
int main(int argc, char **argv) {
    if (ds_dist_init(&argc, &argv) != 0) {
        fprintf(stderr, "diffsamp: %s\n", ds_error());
        return 1;
    }
    int status = run(argc, argv);
    ds_dist_finalize();
    return status;
}
