// Placeholder until the PNG writers land.
#include "ds_data.h"
#include "ds_error.h"

int ds_png_write_image(const char *path, const double *x, int c, int h, int w) {
    (void)x, (void)c, (void)h, (void)w;
    return ds_fail("%s: PNG output is not implemented yet", path);
}

int ds_png_write_samples(const char *dir, const double *x, int64_t count, int64_t first_index,
                         int c, int h, int w) {
    (void)x, (void)count, (void)first_index, (void)c, (void)h, (void)w;
    return ds_fail("%s: PNG output is not implemented yet", dir);
}

int ds_png_write_grid(const char *path, const double *x, int64_t count, int grid_cols, int c, int h,
                      int w) {
    (void)x, (void)count, (void)grid_cols, (void)c, (void)h, (void)w;
    return ds_fail("%s: PNG output is not implemented yet", path);
}
