// Bad input: every case must fail with one line that names the file and says what is
// wrong, leave no data behind, and (through the CLI) exit non-zero without output.
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data_files.h"
#include "png_chunks.h"
#include "ds_data.h"
#include "ds_error.h"

// ds_data_load(path) must fail with one line that contains who and what.
static void expect_fail(const char *path, const char *who, const char *what) {
    ds_data d;
    assert_int_equal(ds_data_load(path, &d), -1);
    const char *msg = ds_error();
    printf("  %s\n", msg);
    assert_null(strchr(msg, '\n'));
    if (!strstr(msg, who)) fail_msg("message does not name '%s': %s", who, msg);
    if (!strstr(msg, what)) fail_msg("message does not say '%s': %s", what, msg);
    assert_null(d.values);
    assert_null(d.labels);
    assert_int_equal(d.n, 0);
}

static void expect_npy_fail(int major, const char *header, const void *data, size_t n,
                            const char *what) {
    const char *path = df_path(tu_tmpdir(), "bad.npy");
    df_write_npy(path, major, header, data, n);
    expect_fail(path, path, what);
}

static const float finite4x4[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

// ---- .npy ----

static void test_npy_truncated_preamble(void **state) {
    (void)state;
    const char *path = df_path(tu_tmpdir(), "short.npy");
    df_write(path, "\x93NUMP", 5);
    expect_fail(path, path, "truncated");
}

static void test_npy_wrong_magic(void **state) {
    (void)state;
    const char *path = df_path(tu_tmpdir(), "text.npy");
    df_write(path, "this is not an array, just text\n", 32);
    expect_fail(path, path, "bad magic");
}

static void test_npy_data_shorter_than_header(void **state) {
    (void)state;
    expect_npy_fail(1, "'descr': '<f4', 'fortran_order': False, 'shape': (4, 4), ", finite4x4,
                    15 * sizeof(float), "header says");
}

static void test_npy_data_longer_than_header(void **state) {
    (void)state;
    expect_npy_fail(2, "'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), ", finite4x4,
                    sizeof finite4x4, "header says");
}

static void test_npy_shape_overflow(void **state) {
    (void)state;
    expect_npy_fail(1,
                    "'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, "
                    "16), ",
                    finite4x4, sizeof finite4x4, "overflow");
}

// Zero rows leave the element count at 0, so only the row width can overflow.
static void test_npy_zero_rows_huge_width(void **state) {
    (void)state;
    expect_npy_fail(1,
                    "'descr': '<f4', 'fortran_order': False, 'shape': (0, 4611686018427387904, "
                    "4), ",
                    finite4x4, 0, "overflows");
}

static void test_npy_unsupported_dtype(void **state) {
    (void)state;
    expect_npy_fail(1, "'descr': '<i4', 'fortran_order': False, 'shape': (4, 4), ", finite4x4,
                    sizeof finite4x4, "unsupported npy dtype '<i4'");
}

// The dtype is quoted in the message, which must stay one line (found by fuzzing).
static void test_npy_dtype_with_newline(void **state) {
    (void)state;
    expect_npy_fail(1, "'descr': '<f\n4', 'fortran_order': False, 'shape': (4, 4), ", finite4x4,
                    sizeof finite4x4, "unsupported npy dtype '<f?4'");
}

static void test_npy_big_endian(void **state) {
    (void)state;
    expect_npy_fail(3, "'descr': '>f4', 'fortran_order': False, 'shape': (4, 4), ", finite4x4,
                    sizeof finite4x4, "unsupported npy dtype '>f4'");
}

static void test_npy_fortran_order(void **state) {
    (void)state;
    expect_npy_fail(1, "'descr': '<f4', 'fortran_order': True, 'shape': (4, 4), ", finite4x4,
                    sizeof finite4x4, "fortran_order");
}

static void test_npy_nan(void **state) {
    (void)state;
    float x[16];
    memcpy(x, finite4x4, sizeof x);
    x[11] = NAN;
    expect_npy_fail(1, "'descr': '<f4', 'fortran_order': False, 'shape': (4, 4), ", x, sizeof x,
                    "element 11 is NaN");
}

static void test_npy_inf(void **state) {
    (void)state;
    double x[6] = {1, 2, 3, -INFINITY, 5, 6};
    expect_npy_fail(1, "'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), ", x, sizeof x,
                    "element 3 is Inf");
}

// Finite in float64 but Inf as float32 (found by fuzzing: the rows held Inf).
static void test_npy_beyond_float_range(void **state) {
    (void)state;
    double x[6] = {1, 2, 3, 4, -1e300, 6};
    expect_npy_fail(1, "'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), ", x, sizeof x,
                    "element 4 is -1e+300, outside the float32 range");
}

static void test_npy_empty(void **state) {
    (void)state;
    expect_npy_fail(1, "'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), ", NULL, 0,
                    "no data");
}

// ---- IDX ----

static const int dims3[3] = {3, 4, 4};

static void test_idx_truncated_raw(void **state) {
    (void)state;
    unsigned char v[48] = {1};
    const char *path = df_path(tu_tmpdir(), "t-images-idx3-ubyte");
    df_write_idx(path, 0, 3, dims3, v);
    assert_int_equal(truncate(path, 16 + 40), 0);
    expect_fail(path, path, "header says 48");
}

static void test_idx_truncated_gz(void **state) {
    (void)state;
    unsigned char v[3 * 64 * 64];
    df_random_bytes(v, sizeof v, tu_seed(), 0, 255);
    const int dims[3] = {3, 64, 64};
    const char *path = df_path(tu_tmpdir(), "t-images-idx3-ubyte.gz");
    df_write_idx(path, 1, 3, dims, v);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size / 2), 0);
    expect_fail(path, path, "IDX");
}

// A header asking for far more bytes than the .gz can hold fails before allocating.
static void test_idx_gz_header_too_large(void **state) {
    (void)state;
    const char *path = df_path(tu_tmpdir(), "huge-images-idx3-ubyte.gz");
    df_write_gz(path, "\x00\x00\x08\x03\x00\x01\x00\x00\x00\x00\x40\x00\x00\x00\x40\x00", 16);
    expect_fail(path, path, "more than a");
}

static void test_idx_bad_magic(void **state) {
    (void)state;
    const char *path = df_path(tu_tmpdir(), "train-images-idx3-ubyte");
    df_write(path, "\x01\x02\x08\x03 and then some bytes", 24);
    expect_fail(path, path, "not an IDX file");
}

static void test_idx_float_elements(void **state) {
    (void)state;
    const char *path = df_path(tu_tmpdir(), "floats-idx2");
    df_write(path, "\x00\x00\x0d\x02\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00", 16);
    expect_fail(path, path, "element type 0x0d");
}

static void test_idx_label_count_mismatch(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    unsigned char v[48] = {7}, labels[2] = {1, 2};
    const int two[1] = {2};
    df_write_idx(df_path(dir, "x-images-idx3-ubyte.gz"), 1, 3, dims3, v);
    df_write_idx(df_path(dir, "x-labels-idx1-ubyte.gz"), 1, 1, two, labels);
    expect_fail(df_path(dir, "x-images-idx3-ubyte.gz"), df_path(dir, "x-labels-idx1-ubyte.gz"),
                "one label per image");
}

// ---- CIFAR-10 ----

static void test_cifar_size_not_multiple(void **state) {
    (void)state;
    static unsigned char bytes[3073 + 100];
    const char *path = df_path(tu_tmpdir(), "data_batch_1.bin");
    df_write(path, bytes, sizeof bytes);
    expect_fail(path, path, "not a multiple of the 3073-byte");
}

static void test_cifar_bad_label(void **state) {
    (void)state;
    static unsigned char bytes[2 * 3073];
    bytes[3073] = 42;
    const char *path = df_path(tu_tmpdir(), "data_batch_2.bin");
    df_write(path, bytes, sizeof bytes);
    expect_fail(path, path, "record 1 has label 42");
}

static void test_cifar_missing_second_file(void **state) {
    (void)state;
    static unsigned char bytes[3073];
    const char *dir = tu_tmpdir();
    df_write(df_path(dir, "a.bin"), bytes, sizeof bytes);
    char list[2200];
    snprintf(list, sizeof list, "%s,%s", df_path(dir, "a.bin"), df_path(dir, "gone.bin"));
    expect_fail(list, df_path(dir, "gone.bin"), "cannot open");
}

// ---- PNG folders ----

static void test_png_empty_folder(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    df_write(df_path(dir, "notes.txt"), "no images here", 14);
    expect_fail(dir, dir, "no .png files");
}

static void test_png_mixed_sizes(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    double x[3 * 6 * 6];
    tu_fill_uniform(x, 3 * 6 * 6, tu_seed(), -1, 1);
    assert_int_equal(ds_png_write_image(df_path(dir, "a.png"), x, 1, 6, 6), 0);
    assert_int_equal(ds_png_write_image(df_path(dir, "b.png"), x, 1, 6, 5), 0);
    expect_fail(dir, df_path(dir, "b.png"), "share one size");
}

static void test_png_mixed_channels(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    double x[3 * 6 * 6];
    tu_fill_uniform(x, 3 * 6 * 6, tu_seed(), -1, 1);
    assert_int_equal(ds_png_write_image(df_path(dir, "a.png"), x, 3, 6, 6), 0);
    assert_int_equal(ds_png_write_image(df_path(dir, "b.png"), x, 1, 6, 6), 0);
    expect_fail(dir, df_path(dir, "b.png"), "share one size and channel count");
}

static void test_png_not_a_png(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    df_write(df_path(dir, "a.png"), "GIF89a, not a PNG at all", 24);
    expect_fail(dir, df_path(dir, "a.png"), "not a PNG file");
}

// A 1-byte IDAT under a header of 100000 x 80000 grey pixels (8 GB): refused from the
// header and the file size, before anything is allocated.
static void test_png_header_larger_than_file(void **state) {
    (void)state;
    unsigned char idat[64];
    uLongf zlen = sizeof idat;
    assert_int_equal(compress(idat, &zlen, (const Bytef *)"\0", 1), Z_OK);
    unsigned char png[128] = {0x89, 'P', 'N',  'G',  '\r', '\n', 0x1a, '\n', 0,    0,
                              0,    13,  'I',  'H',  'D',  'R',  0,    1,    0x86, 0xa0,
                              0,    1,   0x38, 0x80, 8,    0,    0,    0,    0};
    size_t n = 8 + 12 + 13;
    unsigned char *c = png + n;
    c[0] = c[1] = c[2] = 0, c[3] = (unsigned char)zlen;
    memcpy(c + 4, "IDAT", 4);
    memcpy(c + 8, idat, zlen);
    n += 12 + zlen;
    memcpy(png + n, "\0\0\0\0IEND\0\0\0\0", 12);
    n += 12;
    png_fix_crcs(png, n);
    const char *dir = tu_tmpdir();
    df_write(df_path(dir, "a.png"), png, n);
    expect_fail(dir, df_path(dir, "a.png"), "more than a");
}

static void test_png_truncated(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    double x[32 * 32];
    tu_fill_uniform(x, 32 * 32, tu_seed(), -1, 1);
    assert_int_equal(ds_png_write_image(df_path(dir, "a.png"), x, 1, 32, 32), 0);
    assert_int_equal(truncate(df_path(dir, "a.png"), 100), 0);
    expect_fail(dir, df_path(dir, "a.png"), "corrupt or truncated PNG");
}

// ---- paths ----

static void test_missing_file(void **state) {
    (void)state;
    const char *path = df_path(tu_tmpdir(), "nothing-here.npy");
    expect_fail(path, path, "No such file");
}

static void test_folder_where_file_expected(void **state) {
    (void)state;
    const char *path = df_path(tu_tmpdir(), "train.npy");
    assert_int_equal(mkdir(path, 0777), 0);
    expect_fail(path, path, "is a folder (expected a file");
}

// Devices and FIFOs are refused before they are opened: reading /dev/zero would not end
// and opening a FIFO with no writer would block.
static void test_not_a_regular_file(void **state) {
    (void)state;
    expect_fail("/dev/zero", "/dev/zero", "is not a regular file");
    const char *fifo = df_path(tu_tmpdir(), "pipe.npy");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    expect_fail(fifo, fifo, "is not a regular file");
    const char *dir = tu_tmpdir();
    assert_int_equal(mkfifo(df_path(dir, "a.png"), 0600), 0);
    expect_fail(dir, df_path(dir, "a.png"), "is not a regular file");
}

static void test_unrecognised_format(void **state) {
    (void)state;
    const char *path = df_path(tu_tmpdir(), "data.csv");
    df_write(path, "1,2,3\n4,5,6\n", 12);
    expect_fail(path, path, "unrecognised data format");
}

// ---- writers ----

static void test_png_write_under_a_file(void **state) {
    (void)state;
    const char *dir = tu_tmpdir();
    df_write(df_path(dir, "f.txt"), "x", 1);
    double x[4] = {0.1, -0.2, 0.3, -0.4};
    assert_int_equal(ds_png_write_grid(df_path(dir, "f.txt/g.png"), x, 1, 1, 1, 2, 2), -1);
    printf("  %s\n", ds_error());
    assert_non_null(strstr(ds_error(), df_path(dir, "f.txt")));
    assert_int_equal(ds_png_write_image(df_path(dir, "two.png"), x, 2, 1, 2), -1);
    printf("  %s\n", ds_error());
    assert_non_null(strstr(ds_error(), "expected 1 or 3 channels"));
    assert_false(tu_file_exists(df_path(dir, "two.png")));
}

// ---- the CLI ----

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

// diffsamp grid on bad data: non-zero exit, one line on stderr, no output file.
static void test_cli_bad_data(void **state) {
    (void)state;
    char out[600];
    snprintf(out, sizeof out, "%s", tu_tmpdir()); // tu_tmpdir reuses its buffer
    const char *dir = tu_tmpdir();
    const char *bad = df_path(dir, "bad.npy"), *err = df_path(dir, "stderr.txt");
    df_write(bad, "\x93NUMPY\x01\x00", 8);
    const char *png = df_path(out, "x.png");
    int rc = tu_system("'%s' grid --data '%s' --out '%s' 2>'%s'", tu_bin(), bad, png, err);
    assert_true(rc != 0);
    assert_false(tu_file_exists(png));
    assert_int_equal(count_entries(out), 0); // no temporary file left either
    FILE *f = fopen(err, "r");
    assert_non_null(f);
    char line[2048], next[8];
    assert_non_null(fgets(line, sizeof line, f));
    printf("  %s", line);
    assert_non_null(strstr(line, "diffsamp: "));
    assert_non_null(strstr(line, bad));
    assert_null(fgets(next, sizeof next, f)); // only one line
    fclose(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_npy_truncated_preamble),
        cmocka_unit_test(test_npy_wrong_magic),
        cmocka_unit_test(test_npy_zero_rows_huge_width),
        cmocka_unit_test(test_npy_data_shorter_than_header),
        cmocka_unit_test(test_npy_data_longer_than_header),
        cmocka_unit_test(test_npy_shape_overflow),
        cmocka_unit_test(test_npy_unsupported_dtype),
        cmocka_unit_test(test_npy_big_endian),
        cmocka_unit_test(test_npy_dtype_with_newline),
        cmocka_unit_test(test_npy_fortran_order),
        cmocka_unit_test(test_npy_nan),
        cmocka_unit_test(test_npy_inf),
        cmocka_unit_test(test_npy_beyond_float_range),
        cmocka_unit_test(test_npy_empty),
        cmocka_unit_test(test_idx_truncated_raw),
        cmocka_unit_test(test_idx_truncated_gz),
        cmocka_unit_test(test_idx_gz_header_too_large),
        cmocka_unit_test(test_idx_bad_magic),
        cmocka_unit_test(test_idx_float_elements),
        cmocka_unit_test(test_idx_label_count_mismatch),
        cmocka_unit_test(test_cifar_size_not_multiple),
        cmocka_unit_test(test_cifar_bad_label),
        cmocka_unit_test(test_cifar_missing_second_file),
        cmocka_unit_test(test_png_empty_folder),
        cmocka_unit_test(test_png_mixed_sizes),
        cmocka_unit_test(test_png_mixed_channels),
        cmocka_unit_test(test_png_not_a_png),
        cmocka_unit_test(test_png_truncated),
        cmocka_unit_test(test_png_header_larger_than_file),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_folder_where_file_expected),
        cmocka_unit_test(test_not_a_regular_file),
        cmocka_unit_test(test_unrecognised_format),
        cmocka_unit_test(test_png_write_under_a_file),
        cmocka_unit_test(test_cli_bad_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
