// diffsamp grid: a grid PNG of the first training images of a data set.
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "ds_data.h"
#include "ds_error.h"

int cli_grid(int argc, char **argv) {
    const char *data_path = DS_DEFAULT_DATA, *out = "out/training-grid.png";
    int64_t count = 64, cols = 8;
    cli_opt opts[] = {
        {"data", CLI_STR, &data_path, "data set (.npy, IDX[.gz], CIFAR-10 .bin, PNG folder)"},
        {"out", CLI_STR, &out, "output PNG"},
        {"count", CLI_INT, &count, "number of images"},
        {"cols", CLI_INT, &cols, "images per grid row"},
    };
    int rc = cli_parse("grid", "Write a grid PNG of the first training images.", argc, argv, opts,
                       sizeof opts / sizeof opts[0]);
    if (rc) return rc > 0 ? 0 : cli_fail(2);
    if (cli_check_int("grid", "count", count, 1, INT64_MAX) ||
        cli_check_int("grid", "cols", cols, 1, 1000))
        return cli_fail(2);
    ds_data data;
    if (cli_data_load("grid", data_path, &data) != 0) return cli_fail(1);
    if (!data.height) {
        fprintf(stderr, "diffsamp: %s: rows are not images (no image shape)\n", data_path);
        ds_data_free(&data);
        return 1;
    }
    if (count > data.n) count = data.n;
    double *rows = ds_try_alloc((size_t)(count * data.d), sizeof(double), "grid");
    if (rows) ds_data_rows_f64(&data, 0, count, rows);
    rc = !rows ? -1
               : ds_png_write_grid(out, rows, count, (int)cols, data.channels, data.height,
                                   data.width);
    if (rc == 0)
        printf("grid: %lld images of %dx%dx%d from %s (%lld rows) -> %s\n", (long long)count,
               data.channels, data.height, data.width, data_path, (long long)data.n, out);
    free(rows);
    ds_data_free(&data);
    return rc ? cli_fail(1) : 0;
}
