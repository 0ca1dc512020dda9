// Data I/O round trips: .npy (every dtype, versions 1-3), PNG out -> PNG folder in,
// grids, IDX and CIFAR-10 files made here, and Fashion-MNIST when installed.
// Every comparison is exact: the readers map uint8 v to (float)(v / 127.5 - 1) and
// take float data as is, and the writers map x = v / 127.5 - 1 back to v (EDM's
// floor(x * 127.5 + 128) lands on v + 0.5), so any difference is a bug.
#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "data_files.h"
#include "ds_data.h"
#include "ds_error.h"

// A pixel as the data set gives it: v / 127.5 - 1 in double.
static double unit_of(unsigned char v) {
    return v / 127.5 - 1.0;
}

// Value e of the data set in row-major order, in double.
static double value_at(const ds_data *d, int64_t e) {
    return ds_data_value(d, e / d->d, e % d->d);
}

static void load_ok(const char *path, ds_data *d) {
    if (ds_data_load(path, d) != 0) fail_msg("%s", ds_error());
}

static void assert_shape(const ds_data *d, int64_t n, int c, int h, int w) {
    assert_int_equal(d->n, n);
    assert_int_equal(d->channels, c);
    assert_int_equal(d->height, h);
    assert_int_equal(d->width, w);
}

static void assert_rows_u8(const ds_data *d, const unsigned char *want) {
    assert_int_equal(d->dtype, DS_U8); // kept 8-bit, as stored
    for (int64_t i = 0; i < d->n * d->d; i++) assert_true(value_at(d, i) == unit_of(want[i]));
}

// ---- .npy ----

static void npy_through_data(ds_dtype dtype, int ndim, const int64_t *shape, int c, int h, int w) {
    const char *path = df_path(tu_tmpdir(), "a.npy");
    int64_t count = 1;
    for (int i = 0; i < ndim; i++) count *= shape[i];
    double *x = malloc(sizeof(double) * (size_t)count);
    tu_fill_normal(x, count, tu_seed() + (uint64_t)count);
    assert_int_equal(ds_npy_write_f64(path, x, ndim, shape, dtype), 0);
    ds_data d;
    load_ok(path, &d);
    assert_shape(&d, shape[0], c, h, w);
    assert_int_equal(d.d, count / shape[0]);
    assert_null(d.labels);
    assert_int_equal(d.dtype, dtype); // kept in its own precision
    for (int64_t i = 0; i < count; i++)
        assert_true(value_at(&d, i) == (dtype == DS_F64 ? x[i] : (float)x[i]));
    // Memory-mapped, not copied (the header is padded to 64 bytes, so the data is
    // aligned); a copy of it lives in memory and holds the same values.
    assert_non_null(d.map_base);
    ds_data copy;
    assert_int_equal(ds_data_copy(&d, &copy), 0);
    assert_null(copy.map_base);
    assert_memory_equal(copy.values, d.values, (size_t)ds_data_value_bytes(&d));
    ds_data_free(&copy);
    ds_data_free(&d);
    free(x);
}

static void test_npy_float_shapes(void **state) {
    (void)state;
    const int64_t s1[] = {13}, s2[] = {6, 11}, s3[] = {5, 7, 3}, s4[] = {4, 3, 5, 6},
                  s5[] = {2, 3, 2, 2, 2};
    for (int t = 0; t < 2; t++) {
        ds_dtype dt = t ? DS_F64 : DS_F32;
        npy_through_data(dt, 1, s1, 0, 0, 0);
        npy_through_data(dt, 2, s2, 0, 0, 0);
        npy_through_data(dt, 3, s3, 1, 7, 3);
        npy_through_data(dt, 4, s4, 3, 5, 6);
        npy_through_data(dt, 5, s5, 0, 0, 0);
    }
}

static void test_npy_uint8_by_hand(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    unsigned char v[2 * 3 * 4 * 5];
    df_random_bytes(v, sizeof v, tu_seed() + 1, 0, 255);
    v[0] = 0, v[1] = 255; // both ends of the range
    struct {
        const char *shape;
        int64_t n;
        int c, h, w;
    } cases[] = {{"(2, 3, 4, 5)", 2, 3, 4, 5}, {"(6, 4, 5)", 6, 1, 4, 5}, {"(120,)", 120, 0, 0, 0}};
    for (int k = 0; k < 3; k++) {
        char header[256];
        snprintf(header, sizeof header, "'descr': '|u1', 'fortran_order': False, 'shape': %s, ",
                 cases[k].shape);
        const char *path = df_path(dir, "u8.npy");
        df_write_npy(path, 1, header, v, sizeof v);
        ds_data d;
        load_ok(path, &d);
        assert_shape(&d, cases[k].n, cases[k].c, cases[k].h, cases[k].w);
        assert_rows_u8(&d, v);
        ds_data_free(&d);
    }
}

static void test_npy_versions_2_and_3(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    double x[4 * 6];
    float x32[4 * 6];
    tu_fill_normal(x, 24, tu_seed() + 2);
    for (int i = 0; i < 24; i++) x32[i] = (float)x[i];
    for (int major = 2; major <= 3; major++) {
        const char *p32 = df_path(dir, "v32.npy"), *p64 = df_path(dir, "v64.npy");
        df_write_npy(p32, major, "'descr': '<f4', 'fortran_order': False, 'shape': (4, 6), ", x32,
                     sizeof x32);
        df_write_npy(p64, major, "'descr': '<f8', 'fortran_order': False, 'shape': (4, 6), ", x,
                     sizeof x);
        ds_data a, b;
        load_ok(p32, &a);
        load_ok(p64, &b);
        assert_int_equal(a.n, 4);
        assert_int_equal(a.d, 6);
        assert_int_equal(b.n, 4);
        assert_int_equal(b.d, 6);
        for (int i = 0; i < 24; i++)
            assert_true(value_at(&a, i) == x32[i] && value_at(&b, i) == x[i]);
        ds_data_free(&a);
        ds_data_free(&b);
    }
}

// ---- PNG ----

// count random c x h x w images: their pixels, and rows x = v / 127.5 - 1 with a few
// values pushed outside [-1, 1] (which must clamp to 0 and 255).
static void random_images(int64_t count, int c, int h, int w, unsigned char *pixels, double *x) {
    int64_t n = count * c * h * w;
    df_random_bytes(pixels, (size_t)n, tu_seed() + (uint64_t)(c * 1000 + h), 0, 255);
    for (int64_t i = 0; i < n; i++) x[i] = pixels[i] / 127.5 - 1.0;
    x[0] = -1.7, pixels[0] = 0;
    x[n - 1] = 3.0, pixels[n - 1] = 255;
}

static void png_samples_roundtrip(int c) {
    const char *dir = tu_tmpdir();
    enum { COUNT = 5, H = 9, W = 7, FIRST = 998 };
    unsigned char pixels[COUNT * 3 * H * W];
    double x[COUNT * 3 * H * W];
    random_images(COUNT, c, H, W, pixels, x);
    assert_int_equal(ds_png_write_samples(dir, x, COUNT, FIRST, c, H, W), 0);
    // 998 and 999 land in 000000/, 1000..1002 in 001000/.
    assert_true(tu_file_exists(df_path(dir, "000000/000998.png")));
    assert_true(tu_file_exists(df_path(dir, "001000/001002.png")));
    assert_false(tu_file_exists(df_path(dir, "000000/001000.png")));
    ds_data a, b;
    load_ok(df_path(dir, "000000"), &a);
    load_ok(df_path(dir, "001000"), &b);
    assert_shape(&a, 2, c, H, W);
    assert_shape(&b, 3, c, H, W);
    assert_rows_u8(&a, pixels);
    assert_rows_u8(&b, pixels + 2 * c * H * W);
    ds_data_free(&a);
    ds_data_free(&b);
}

static void test_png_grey_roundtrip(void **state) {
    (void)state;
    png_samples_roundtrip(1);
}

static void test_png_rgb_roundtrip(void **state) {
    (void)state;
    png_samples_roundtrip(3);
}

static void test_png_grid(void **state) {
    (void)state;
    enum { COUNT = 5, COLS = 3, C = 3, H = 4, W = 6 };
    unsigned char pixels[COUNT * C * H * W];
    double x[COUNT * C * H * W];
    random_images(COUNT, C, H, W, pixels, x);
    const char *dir = tu_tmpdir();
    assert_int_equal(ds_png_write_grid(df_path(dir, "grid.png"), x, COUNT, COLS, C, H, W), 0);
    ds_data g;
    load_ok(dir, &g);
    const int gh = 2 * (H + 2) + 2, gw = COLS * (W + 2) + 2;
    assert_shape(&g, 1, C, gh, gw);
    // Each grid pixel is either inside image k (its value) or border / empty (white).
    for (int ch = 0; ch < C; ch++)
        for (int y = 0; y < gh; y++)
            for (int i = 0; i < gw; i++) {
                int row = (y - 2) / (H + 2), col = (i - 2) / (W + 2);
                int yy = (y - 2) % (H + 2), xx = (i - 2) % (W + 2);
                int k = row * COLS + col;
                int inside = y >= 2 && i >= 2 && yy < H && xx < W && k < COUNT;
                unsigned char want = inside ? pixels[((k * C + ch) * H + yy) * W + xx] : 255;
                assert_true(value_at(&g, ((int64_t)ch * gh + y) * gw + i) == unit_of(want));
            }
    ds_data_free(&g);
}

// RGBA and grey+alpha PNGs (written with libpng's simplified API) load without alpha.
static void test_png_alpha_dropped(void **state) {
    (void)state;
    enum { H = 5, W = 4 };
    unsigned char rgba[H * W * 4], ga[H * W * 2];
    df_random_bytes(rgba, sizeof rgba, tu_seed() + 3, 0, 255);
    df_random_bytes(ga, sizeof ga, tu_seed() + 4, 0, 255);
    const struct {
        const char *name;
        unsigned char *pix;
        png_uint_32 format;
        int c;
    } cases[] = {{"rgba", rgba, PNG_FORMAT_RGBA, 3}, {"ga", ga, PNG_FORMAT_GA, 1}};
    for (int k = 0; k < 2; k++) {
        const char *dir = tu_tmpdir();
        png_image img = {.version = PNG_IMAGE_VERSION, .width = W, .height = H};
        img.format = cases[k].format;
        assert_true(png_image_write_to_file(&img, df_path(dir, "a.png"), 0, cases[k].pix, 0, NULL));
        ds_data d;
        load_ok(dir, &d);
        assert_shape(&d, 1, cases[k].c, H, W);
        int stride = cases[k].c + 1;
        for (int ch = 0; ch < cases[k].c; ch++)
            for (int p = 0; p < H * W; p++)
                assert_true(value_at(&d, ch * H * W + p) == unit_of(cases[k].pix[p * stride + ch]));
        ds_data_free(&d);
    }
}

// A 16-bit grey PNG of v * 257 reads back as v; a palette PNG reads back as its RGB.
static void test_png_16bit_and_palette(void **state) {
    (void)state;
    enum { H = 3, W = 5 };
    unsigned char v[H * W], index[H * W], colours[4 * 3];
    uint16_t grey16[H * W];
    df_random_bytes(v, sizeof v, tu_seed() + 9, 0, 255);
    df_random_bytes(index, sizeof index, tu_seed() + 10, 0, 3);
    df_random_bytes(colours, sizeof colours, tu_seed() + 11, 0, 255);
    for (int p = 0; p < H * W; p++) grey16[p] = (uint16_t)(v[p] * 257);
    const char *dir16 = tu_tmpdir();
    png_image img = {.version = PNG_IMAGE_VERSION, .width = W, .height = H};
    img.format = PNG_FORMAT_LINEAR_Y;
    assert_true(png_image_write_to_file(&img, df_path(dir16, "a.png"), 0, grey16, 0, NULL));
    ds_data d;
    load_ok(dir16, &d);
    assert_shape(&d, 1, 1, H, W);
    assert_rows_u8(&d, v);
    ds_data_free(&d);

    const char *dirp = tu_tmpdir(); // dir16 is done with: tu_tmpdir reuses its buffer
    png_image pal = {.version = PNG_IMAGE_VERSION, .width = W, .height = H};
    pal.format = PNG_FORMAT_RGB_COLORMAP;
    pal.colormap_entries = 4;
    assert_true(png_image_write_to_file(&pal, df_path(dirp, "p.png"), 0, index, 0, colours));
    load_ok(dirp, &d);
    assert_shape(&d, 1, 3, H, W);
    for (int ch = 0; ch < 3; ch++)
        for (int p = 0; p < H * W; p++)
            assert_true(value_at(&d, ch * H * W + p) == unit_of(colours[index[p] * 3 + ch]));
    ds_data_free(&d);
}

// A palette PNG with a tRNS chunk (palette alpha) reads back as its palette's RGB, the
// alpha dropped as for RGBA images (it was refused as "4 channels").
static void test_png_palette_with_transparency(void **state) {
    (void)state;
    enum { H = 4, W = 3, ENTRIES = 5 };
    unsigned char index[H * W], colours[ENTRIES * 4];
    df_random_bytes(index, sizeof index, tu_seed() + 12, 0, ENTRIES - 1);
    df_random_bytes(colours, sizeof colours, tu_seed() + 13, 0, 255);
    for (int e = 0; e < ENTRIES; e++) colours[4 * e + 3] = (unsigned char)(40 * e + 1); // alpha
    const char *dir = tu_tmpdir();
    png_image pal = {.version = PNG_IMAGE_VERSION, .width = W, .height = H};
    pal.format = PNG_FORMAT_RGBA_COLORMAP;
    pal.colormap_entries = ENTRIES;
    assert_true(png_image_write_to_file(&pal, df_path(dir, "t.png"), 0, index, 0, colours));
    ds_data d;
    load_ok(dir, &d);
    assert_shape(&d, 1, 3, H, W);
    for (int ch = 0; ch < 3; ch++)
        for (int p = 0; p < H * W; p++)
            assert_true(value_at(&d, ch * H * W + p) == unit_of(colours[index[p] * 4 + ch]));
    ds_data_free(&d);
}

// An interlaced (Adam7) RGB PNG, written here with libpng, reads back exactly.
static void test_png_interlaced(void **state) {
    (void)state;
    enum { H = 11, W = 13 };
    unsigned char rgb[H * W * 3];
    df_random_bytes(rgb, sizeof rgb, tu_seed() + 12, 0, 255);
    const char *dir = tu_tmpdir();
    FILE *f = fopen(df_path(dir, "i.png"), "wb");
    assert_non_null(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    assert_non_null(info);
    png_init_io(png, f);
    png_set_IHDR(png, info, W, H, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_ADAM7,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_bytep rows[H];
    for (int y = 0; y < H; y++) rows[y] = rgb + y * W * 3;
    png_set_rows(png, info, rows);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    png_destroy_write_struct(&png, &info);
    assert_int_equal(fclose(f), 0);
    ds_data d;
    load_ok(dir, &d);
    assert_shape(&d, 1, 3, H, W);
    for (int ch = 0; ch < 3; ch++)
        for (int p = 0; p < H * W; p++)
            assert_true(value_at(&d, ch * H * W + p) == unit_of(rgb[p * 3 + ch]));
    ds_data_free(&d);
}

// ---- IDX and CIFAR-10 ----

static void idx_roundtrip(int images_gz, int labels_gz) {
    const char *dir = tu_tmpdir();
    enum { N = 7, H = 5, W = 4 };
    unsigned char images[N * H * W], labels[N];
    df_random_bytes(images, sizeof images, tu_seed() + 5, 0, 255);
    df_random_bytes(labels, sizeof labels, tu_seed() + 6, 0, 9);
    const int dims[3] = {N, H, W};
    const char *ipath = df_path(dir, images_gz ? "x-images-idx3-ubyte.gz" : "x-images-idx3-ubyte");
    df_write_idx(ipath, images_gz, 3, dims, images);
    df_write_idx(df_path(dir, labels_gz ? "x-labels-idx1-ubyte.gz" : "x-labels-idx1-ubyte"),
                 labels_gz, 1, dims, labels);
    ds_data d;
    load_ok(ipath, &d);
    assert_shape(&d, N, 1, H, W);
    assert_int_equal(d.d, H * W);
    assert_rows_u8(&d, images);
    assert_non_null(d.labels);
    for (int i = 0; i < N; i++) assert_int_equal(d.labels[i], labels[i]);
    ds_data_free(&d);
}

static void test_idx_raw_and_gz(void **state) {
    (void)state;
    idx_roundtrip(0, 0);
    idx_roundtrip(1, 1);
    idx_roundtrip(1, 0); // labels found without the images' .gz
}

static void test_idx_rows_without_labels(void **state) {
    (void)state;
    unsigned char v[9 * 10];
    df_random_bytes(v, sizeof v, tu_seed() + 7, 0, 255);
    const int dims[2] = {9, 10};
    const char *path = df_path(tu_tmpdir(), "rows.idx.gz");
    df_write_idx(path, 1, 2, dims, v);
    ds_data d;
    load_ok(path, &d);
    assert_shape(&d, 9, 0, 0, 0);
    assert_int_equal(d.d, 10);
    assert_null(d.labels);
    assert_rows_u8(&d, v);
    ds_data_free(&d);
}

static void test_cifar_two_files(void **state) {
    (void)state;
    enum { REC = 3073, NA = 3, NB = 2 };
    static unsigned char bytes[(NA + NB) * REC];
    df_random_bytes(bytes, sizeof bytes, tu_seed() + 8, 0, 255);
    for (int i = 0; i < NA + NB; i++) bytes[i * REC] %= 10;
    const char *dir = tu_tmpdir();
    char paths[2200];
    snprintf(paths, sizeof paths, "%s,%s", df_path(dir, "a.bin"), df_path(dir, "b.bin"));
    df_write(df_path(dir, "a.bin"), bytes, NA * REC);
    df_write(df_path(dir, "b.bin"), bytes + NA * REC, NB * REC);
    ds_data d;
    load_ok(paths, &d);
    assert_shape(&d, NA + NB, 3, 32, 32);
    for (int i = 0; i < NA + NB; i++) {
        assert_int_equal(d.labels[i], bytes[i * REC]);
        for (int j = 0; j < 3072; j++)
            assert_true(value_at(&d, i * 3072 + j) == unit_of(bytes[i * REC + 1 + j]));
    }
    ds_data_free(&d);
    load_ok(df_path(dir, "b.bin"), &d); // a single batch
    assert_int_equal(d.n, NB);
    assert_int_equal(d.labels[0], bytes[NA * REC]);
    ds_data_free(&d);
}

// ---- Fashion-MNIST ----

static void test_fashion_mnist(void **state) {
    (void)state;
    if (!tu_file_exists(DS_DEFAULT_DATA)) {
        printf("test_fashion_mnist: skipped: %s is absent (install dataset-fashion-mnist)\n",
               DS_DEFAULT_DATA);
        skip();
    }
    ds_data d;
    load_ok(DS_DEFAULT_DATA, &d);
    assert_shape(&d, 60000, 1, 28, 28);
    assert_int_equal(d.d, 784);
    assert_non_null(d.labels);
    assert_int_equal(d.labels[0], 9); // "ankle boot"
    int64_t counts[10] = {0};
    for (int64_t i = 0; i < d.n; i++) counts[d.labels[i]]++;
    for (int k = 0; k < 10; k++) assert_int_equal(counts[k], 6000); // balanced classes
    double lo = 1, hi = -1;
    for (int64_t i = 0; i < d.n * d.d; i++)
        lo = fmin(lo, value_at(&d, i)), hi = fmax(hi, value_at(&d, i));
    assert_true(lo == -1.0 && hi == 1.0);
    ds_data_free(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_npy_float_shapes),
        cmocka_unit_test(test_npy_uint8_by_hand),
        cmocka_unit_test(test_npy_versions_2_and_3),
        cmocka_unit_test(test_png_grey_roundtrip),
        cmocka_unit_test(test_png_rgb_roundtrip),
        cmocka_unit_test(test_png_grid),
        cmocka_unit_test(test_png_alpha_dropped),
        cmocka_unit_test(test_png_16bit_and_palette),
        cmocka_unit_test(test_png_palette_with_transparency),
        cmocka_unit_test(test_png_interlaced),
        cmocka_unit_test(test_idx_raw_and_gz),
        cmocka_unit_test(test_idx_rows_without_labels),
        cmocka_unit_test(test_cifar_two_files),
        cmocka_unit_test(test_fashion_mnist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
