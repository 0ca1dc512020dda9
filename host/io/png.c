// PNG files through libpng: read one image, write one image (atomically), and the two
// output layouts built on it: one PNG per sample and a grid.
#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "data_readers.h"
#include "ds_data.h"
#include "ds_error.h"

#define GRID_BORDER 2
#define GRID_BORDER_PIXEL 255
#define SAMPLES_PER_FOLDER 1000
#define DEFLATE_MAX_RATIO 1032

// libpng reports errors to these handlers, which record them and jump back to the
// setjmp of the caller. The error pointer is the file's path.
static void png_read_error(png_structp png, png_const_charp msg) {
    ds_fail("%s: corrupt or truncated PNG (libpng: %s; expected a valid PNG file)",
            (const char *)png_get_error_ptr(png), msg);
    png_longjmp(png, 1);
}

static void png_write_error(png_structp png, png_const_charp msg) {
    ds_fail("%s: cannot write PNG (libpng: %s)", (const char *)png_get_error_ptr(png), msg);
    png_longjmp(png, 1);
}

static void png_warning_handler(png_structp png, png_const_charp msg) {
    (void)png, (void)msg;
}

// ---- reading ----

// Refuses a header whose pixels the file cannot hold or this machine cannot store, before
// anything is allocated: the filtered image (a filter byte and the raw row per row) is
// deflated, and deflate compresses at most about 1032:1.
static int check_size(const char *path, png_structp png, png_infop info, int64_t file_size) {
    double h = png_get_image_height(png, info), row = (double)png_get_rowbytes(png, info) + 1;
    double raw = h * row, memory = (double)ds_host_memory_available();
    if (raw / DEFLATE_MAX_RATIO > (double)file_size)
        return ds_fail("%s: PNG header says %ux%u pixels, more than a %lld-byte file can hold "
                       "(corrupt header; expected at most about %d bytes of pixels per byte)",
                       path, png_get_image_width(png, info), png_get_image_height(png, info),
                       (long long)file_size, DEFLATE_MAX_RATIO);
    if (memory > 0 && raw > memory)
        return ds_fail("%s: a %ux%u PNG needs %.1f GiB and %.1f GiB of memory is available", path,
                       png_get_image_width(png, info), png_get_image_height(png, info),
                       raw / 1073741824.0, memory / 1073741824.0);
    return 0;
}

// Everything between png_read_info and png_read_end; libpng errors longjmp out of it.
static int read_body(png_structp png, png_infop info, FILE *f, const char *path, int64_t file_size,
                     ds_image_u8 *img) {
    png_init_io(png, f);
    png_read_info(png, info);
    DS_TRY(check_size(path, png, info, file_size));
    int type = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_scale_16(png);
    // A palette's tRNS chunk becomes an alpha channel when the palette is expanded.
    int palette_alpha = type == PNG_COLOR_TYPE_PALETTE && png_get_valid(png, info, PNG_INFO_tRNS);
    if ((type & PNG_COLOR_MASK_ALPHA) || palette_alpha) png_set_strip_alpha(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    img->c = png_get_channels(png, info);
    img->h = (int)png_get_image_height(png, info);
    img->w = (int)png_get_image_width(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    if ((img->c != 1 && img->c != 3) || row_bytes != (size_t)img->w * (size_t)img->c)
        return ds_fail("%s: unexpected PNG layout (%d channels; expected 8-bit grey or RGB)", path,
                       img->c);
    if (!(img->pixels = ds_try_alloc((size_t)img->h, row_bytes, path))) return -1;
    for (int pass = 0; pass < passes; pass++)
        for (int y = 0; y < img->h; y++) png_read_row(png, img->pixels + y * row_bytes, NULL);
    png_read_end(png, NULL);
    return 0;
}

int ds_png_read(const char *path, ds_image_u8 *img) {
    memset(img, 0, sizeof *img);
    int64_t file_size;
    DS_TRY(ds_check_regular(path, "a PNG file", &file_size));
    FILE *f = fopen(path, "rb");
    if (!f) return ds_fail("%s: cannot open: %s (expected a PNG file)", path, strerror(errno));
    unsigned char sig[8];
    if (fread(sig, 1, 8, f) != 8 || png_sig_cmp(sig, 0, 8)) {
        fclose(f);
        return ds_fail("%s: not a PNG file (bad signature; expected \\x89PNG)", path);
    }
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, (png_voidp)path, png_read_error,
                                             png_warning_handler);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    int rc = -1;
    if (!info) {
        ds_fail("%s: cannot initialise libpng", path);
    } else if (setjmp(png_jmpbuf(png)) == 0) {
        png_set_sig_bytes(png, 8);
        // The ancillary chunks that libpng reads whole into a buffer of their stated length
        // (up to 2 GiB, allocated before a byte is read: fuzz_png's 57-byte sPLT finding)
        // are not used here: skipped unread.
        static const png_byte unused[] = "sPLT\0iCCP\0tEXt\0zTXt\0iTXt\0eXIf\0pCAL\0sCAL\0";
        png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, unused, 8);
        png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, 0);
        rc = read_body(png, info, f, path, file_size, img);
    }
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
    if (rc) free(img->pixels), img->pixels = NULL;
    return rc;
}

// ---- writing ----

static int write_body(png_structp png, png_infop info, FILE *f, const unsigned char *pixels, int c,
                      int h, int w) {
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                 c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, pixels + (size_t)y * w * c);
    png_write_end(png, NULL);
    return 0;
}

// h rows of w pixels of c (1 or 3) interleaved 8-bit channels, written atomically.
static int write_png_u8(const char *path, const unsigned char *pixels, int c, int h, int w) {
    ds_atomic_file af;
    DS_TRY(ds_atomic_open(&af, path));
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, (png_voidp)path,
                                              png_write_error, png_warning_handler);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    int rc = -1;
    if (!info)
        ds_fail("%s: cannot initialise libpng", path);
    else if (setjmp(png_jmpbuf(png)) == 0)
        rc = write_body(png, info, af.f, pixels, c, h, w);
    png_destroy_write_struct(&png, &info);
    if (rc) {
        ds_atomic_abort(&af);
        return -1;
    }
    return ds_atomic_commit(&af);
}

static int check_shape(const char *path, int c, int h, int w) {
    if ((c != 1 && c != 3) || h < 1 || w < 1)
        return ds_fail("%s: cannot write a %dx%dx%d (CxHxW) image as PNG (expected 1 or 3 "
                       "channels and a positive size)",
                       path, c, h, w);
    return 0;
}

// One C-H-W image in [-1, 1] into 8-bit H-W-C pixels at dst, row_stride bytes per row.
static void to_pixels(const double *x, int c, int h, int w, unsigned char *dst, size_t row_stride) {
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int i = 0; i < w; i++)
                dst[y * row_stride + (size_t)i * c + ch] =
                    ds_to_pixel(x[((size_t)ch * h + y) * w + i]);
}

// One image into an existing folder.
static int write_image(const char *path, const double *x, int c, int h, int w) {
    unsigned char *pixels = ds_try_alloc((size_t)h * w, (size_t)c, path);
    if (!pixels) return -1;
    to_pixels(x, c, h, w, pixels, (size_t)w * c);
    int rc = write_png_u8(path, pixels, c, h, w);
    free(pixels);
    return rc;
}

int ds_png_write_image(const char *path, const double *x, int c, int h, int w) {
    DS_TRY(check_shape(path, c, h, w));
    return write_image(path, x, c, h, w);
}

int ds_png_write_samples(const char *dir, const double *x, int64_t count, int64_t first_index,
                         int c, int h, int w) {
    DS_TRY(check_shape(dir, c, h, w));
    if (count < 0 || first_index < 0)
        return ds_fail("%s: bad sample range (count %lld from %lld; expected non-negative)", dir,
                       (long long)count, (long long)first_index);
    char folder[DS_PATH_MAX], path[DS_PATH_MAX];
    size_t d = (size_t)c * h * w;
    for (int64_t i = 0; i < count; i++) {
        int64_t index = first_index + i, group = index / SAMPLES_PER_FOLDER * SAMPLES_PER_FOLDER;
        snprintf(folder, sizeof folder, "%s/%06lld", dir, (long long)group);
        if (snprintf(path, sizeof path, "%s/%06lld.png", folder, (long long)index) >=
            (int)sizeof path)
            return ds_fail("%s: path too long", dir);
        DS_TRY(write_image(path, x + (size_t)i * d, c, h, w));
    }
    return 0;
}

int ds_png_write_grid(const char *path, const double *x, int64_t count, int grid_cols, int c, int h,
                      int w) {
    DS_TRY(check_shape(path, c, h, w));
    if (count < 1 || grid_cols < 1)
        return ds_fail("%s: grid of %lld images in %d columns (expected at least 1 of each)", path,
                       (long long)count, grid_cols);
    int64_t cols = count < grid_cols ? count : grid_cols, rows = (count + cols - 1) / cols;
    int64_t gw = cols * (w + GRID_BORDER) + GRID_BORDER,
            gh = rows * (h + GRID_BORDER) + GRID_BORDER;
    if (gw > PNG_USER_WIDTH_MAX || gh > PNG_USER_HEIGHT_MAX)
        return ds_fail("%s: grid of %lldx%lld pixels is too large for PNG (expected at most "
                       "%dx%d)",
                       path, (long long)gw, (long long)gh, PNG_USER_WIDTH_MAX, PNG_USER_HEIGHT_MAX);
    unsigned char *pixels = ds_try_alloc((size_t)(gw * gh), (size_t)c, path);
    if (!pixels) return -1;
    memset(pixels, GRID_BORDER_PIXEL, (size_t)(gw * gh * c));
    size_t row_stride = (size_t)gw * c, d = (size_t)c * h * w;
    for (int64_t k = 0; k < count; k++) {
        int64_t top = GRID_BORDER + (k / cols) * (h + GRID_BORDER);
        int64_t left = GRID_BORDER + (k % cols) * (w + GRID_BORDER);
        to_pixels(x + k * d, c, h, w, pixels + top * row_stride + left * c, row_stride);
    }
    int rc = write_png_u8(path, pixels, c, (int)gh, (int)gw);
    free(pixels);
    return rc;
}
