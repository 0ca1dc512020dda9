// The JSON writer and run.json: escaping, nesting, and a record read back by Python's
// json module (an independent parser) with every value compared.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ds_version.h"
#include "run_json.h"
#include "testutil.h"

#define PYTHON "/usr/bin/python3"

static void test_escape(void **state) {
    (void)state;
    FILE *f = tmpfile();
    ds_json_escape(f, "a\"b\\c\nd\te\x01\x1f\x7f caf\xc3\xa9 /");
    char *s = tu_slurp(f);
    assert_string_equal(s, "\"a\\\"b\\\\c\\nd\\te\\u0001\\u001f\\u007f caf\xc3\xa9 /\"");
    free(s);
    fclose(f);
}

static void test_nesting(void **state) {
    (void)state;
    FILE *f = tmpfile();
    ds_json j;
    ds_json_init(&j, f);
    ds_json_object(&j, NULL);
    ds_json_array(&j, "a");
    ds_json_int(&j, NULL, -3);
    ds_json_object(&j, NULL);
    ds_json_end(&j);
    ds_json_array(&j, NULL);
    ds_json_end(&j);
    ds_json_end(&j);
    ds_json_real(&j, "nan", 0.0 / 0.0);
    ds_json_bool(&j, "t", 1);
    ds_json_str(&j, "none", NULL);
    ds_json_end(&j);
    assert_true(j.ok);
    assert_int_equal(j.depth, 0);
    char *s = tu_slurp(f);
    assert_string_equal(s, "{\n  \"a\": [\n    -3,\n    {},\n    []\n  ],\n  \"nan\": null,\n  "
                           "\"t\": true,\n  \"none\": null\n}\n");
    free(s);
    // Misuse is recorded: a key inside an array, a value without a key in an object,
    // closing more than was opened.
    ds_json_init(&j, f);
    ds_json_array(&j, NULL);
    ds_json_int(&j, "k", 1);
    assert_false(j.ok);
    ds_json_init(&j, f);
    ds_json_object(&j, NULL);
    ds_json_int(&j, NULL, 1);
    assert_false(j.ok);
    ds_json_init(&j, f);
    ds_json_end(&j);
    assert_false(j.ok);
    fclose(f);
}

static int have_python(void) {
    if (access(PYTHON, X_OK) == 0) return 1;
    printf("skipped: %s not found\n", PYTHON);
    return 0;
}

// Random strings of every ASCII byte 1..127 and some UTF-8 survive a round trip
// through Python's json parser.
static void test_random_strings_parse_back(void **state) {
    (void)state;
    if (!have_python()) {
        skip();
        return;
    }
    const char *dir = tu_tmpdir();
    char json_path[600], hex_path[600];
    snprintf(json_path, sizeof json_path, "%s/s.json", dir);
    snprintf(hex_path, sizeof hex_path, "%s/s.hex", dir);
    FILE *jf = fopen(json_path, "w"), *hf = fopen(hex_path, "w");
    ds_json j;
    ds_json_init(&j, jf);
    ds_json_array(&j, NULL);
    double u[40 * 24];
    tu_fill_uniform(u, 40 * 24, tu_seed(), 0, 1);
    for (int s = 0; s < 40; s++) {
        char str[64];
        int n = 0;
        for (int c = 0; c < 24; c++) {
            int v = 1 + (int)(u[s * 24 + c] * 127);
            if (v == 127 && c % 2) { // a two-byte UTF-8 character (U+00E9)
                str[n++] = (char)0xc3;
                str[n++] = (char)0xa9;
            } else
                str[n++] = (char)v;
        }
        str[n] = '\0';
        ds_json_str(&j, NULL, str);
        for (int c = 0; c < n; c++) fprintf(hf, "%02x", (unsigned char)str[c]);
        fprintf(hf, "\n");
    }
    ds_json_end(&j);
    assert_true(j.ok);
    fclose(jf);
    fclose(hf);
    assert_int_equal(tu_system(PYTHON " -c \"import json,sys; a=json.load(open('%s')); "
                                      "b=[bytes.fromhex(h).decode() for h in open('%s').read()."
                                      "split()]; sys.exit(0 if a==b and len(a)==40 else 1)\"",
                               json_path, hex_path),
                     0);
}

static int count_tmp_files(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

static void test_run_json_fields(void **state) {
    (void)state;
    if (!have_python()) {
        skip();
        return;
    }
    double u[24];
    tu_fill_uniform(u, 24, tu_seed() ^ 77, 0, 1);
    const char *solver = "heun", *odd = "quote\" back\\ tab\t";
    int64_t steps = 1 + (int64_t)(u[0] * 100);
    double sigma_max = 1 + 100 * u[1];
    int quiet = 1;
    cli_opt opts[] = {{"solver", CLI_STR, &solver, ""},
                      {"odd", CLI_STR, &odd, ""},
                      {"steps", CLI_INT, &steps, ""},
                      {"sigma-max", CLI_REAL, &sigma_max, ""},
                      {"quiet", CLI_FLAG, &quiet, ""}};
    ds_model m;
    memset(&m, 0, sizeof m);
    m.kind = DS_MODEL_GMM, m.d = 784, m.channels = 1, m.height = 28, m.width = 28;
    m.k = 10, m.r = 784, m.sigma_data = u[2], m.data_bytes = 47040016;
    m.data_checksum = 0x8000000000000001ull + (uint64_t)(u[3] * 1e9);
    snprintf(m.data_path, sizeof m.data_path, "/data/x.npy");
    double sigmas[8];
    for (int i = 0; i < 8; i++) sigmas[i] = 80 * u[4 + i];
    char *argv[] = {"sample", "--steps", "7"};
    ds_run_info r = {.command = "sample",
                     .argc = 3,
                     .argv = argv,
                     .opts = opts,
                     .n_opts = 5,
                     .model_path = "models/gmm",
                     .model = &m,
                     .backend = "cpu",
                     .device = "Some CPU",
                     .seed = 0xFFFFFFFFFFFFFFF0ull,
                     .n_samples = 1000,
                     .batch = 100,
                     .batches_resumed = 4,
                     .samples_resumed = 400,
                     .nfe = 35,
                     .sigmas = sigmas,
                     .n_sigmas = 8,
                     .times = {u[12], u[13], 2.0, u[15], 9.0}};
    const char *dir = tu_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/run.json", dir);
    assert_int_equal(ds_run_json_write(path, &r), 0);
    assert_int_equal(count_tmp_files(dir), 0);
    // The checks, as a Python script (no shell quoting).
    char script[600];
    snprintf(script, sizeof script, "%s/check.py", dir);
    FILE *py = fopen(script, "w");
    fprintf(py, "import json, sys\nr = json.load(open('%s'))\nc, m = r['config'], r['model']\n",
            path);
    fprintf(py,
            "ok = (c['solver'] == 'heun' and c['odd'] == 'quote\" back\\\\ tab\\t' and\n"
            "  c['steps'] == %lld and c['sigma-max'] == %.17g and c['quiet'] is True and\n"
            "  m['kind'] == 'gmm' and m['dim'] == 784 and m['image_shape'] == [1, 28, 28] and\n"
            "  m['components'] == 10 and m['data_bytes'] == 47040016 and\n"
            "  int(m['data_checksum'], 16) == %llu and m['sigma_data'] == %.17g and\n"
            "  r['seed'] == %llu and r['samples'] == 1000 and r['nfe_per_sample'] == 35 and\n"
            "  r['samples_per_second'] == 300.0 and r['seconds']['load'] == %.17g and\n"
            "  r['version'] == '%s' and r['command_line'] == ['sample', '--steps', '7'] and\n"
            "  r['sigmas'] == [",
            (long long)steps, sigma_max, (unsigned long long)m.data_checksum, m.sigma_data,
            (unsigned long long)r.seed, u[12], ds_version());
    for (int i = 0; i < 8; i++) fprintf(py, "%.17g, ", sigmas[i]);
    fprintf(py, "])\nsys.exit(0 if ok else 1)\n");
    fclose(py);
    assert_int_equal(tu_system(PYTHON " %s", script), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_nesting),
        cmocka_unit_test(test_random_strings_parse_back),
        cmocka_unit_test(test_run_json_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
