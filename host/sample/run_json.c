// run.json and the JSON writer it uses.
#include <math.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ds_error.h"
#include "ds_io.h"
#include "ds_version.h"
#include "run_json.h"

void ds_json_init(ds_json *j, FILE *f) {
    memset(j, 0, sizeof *j);
    j->f = f;
    j->ok = 1;
}

void ds_json_escape(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f); // UTF-8 bytes pass through
    }
    fputc('"', f);
}

// Separator, indentation and key before a value; checks that keys are used exactly
// inside objects (the root and array elements take none).
static void begin_value(ds_json *j, const char *key) {
    int in_object = j->depth > 0 && j->close[j->depth] == '}';
    if ((key != NULL) != in_object) j->ok = 0;
    if (j->depth > 0 && j->count[j->depth] > 0) fputc(',', j->f);
    if (j->depth > 0) fprintf(j->f, "\n%*s", 2 * j->depth, "");
    if (key) ds_json_escape(j->f, key), fputs(": ", j->f);
    j->count[j->depth]++;
}

static void open_nested(ds_json *j, const char *key, char bracket) {
    begin_value(j, key);
    fputc(bracket, j->f);
    if (j->depth == DS_JSON_MAX_DEPTH) {
        j->ok = 0;
        return;
    }
    j->depth++;
    j->count[j->depth] = 0;
    j->close[j->depth] = bracket == '{' ? '}' : ']';
}

void ds_json_object(ds_json *j, const char *key) {
    open_nested(j, key, '{');
}

void ds_json_array(ds_json *j, const char *key) {
    open_nested(j, key, '[');
}

void ds_json_end(ds_json *j) {
    if (j->depth == 0) {
        j->ok = 0;
        return;
    }
    char close = j->close[j->depth];
    int empty = j->count[j->depth] == 0;
    j->depth--;
    if (!empty) fprintf(j->f, "\n%*s", 2 * j->depth, "");
    fputc(close, j->f);
    if (j->depth == 0) fputc('\n', j->f);
}

void ds_json_str(ds_json *j, const char *key, const char *v) {
    begin_value(j, key);
    if (v)
        ds_json_escape(j->f, v);
    else
        fputs("null", j->f);
}

void ds_json_int(ds_json *j, const char *key, int64_t v) {
    begin_value(j, key);
    fprintf(j->f, "%lld", (long long)v);
}

void ds_json_u64(ds_json *j, const char *key, uint64_t v) {
    begin_value(j, key);
    fprintf(j->f, "%llu", (unsigned long long)v);
}

void ds_json_real(ds_json *j, const char *key, double v) {
    begin_value(j, key);
    if (isfinite(v))
        fprintf(j->f, "%.17g", v);
    else
        fputs("null", j->f);
}

void ds_json_bool(ds_json *j, const char *key, int v) {
    begin_value(j, key);
    fputs(v ? "true" : "false", j->f);
}

// Every option of the command with its value, typed as on the command line.
static void write_config(ds_json *j, const cli_opt *opts, int n) {
    ds_json_object(j, "config");
    for (int i = 0; i < n; i++) {
        const cli_opt *o = &opts[i];
        switch (o->type) {
        case CLI_STR:
            ds_json_str(j, o->name, *(const char **)o->value);
            break;
        case CLI_INT:
            ds_json_int(j, o->name, *(int64_t *)o->value);
            break;
        case CLI_REAL:
            ds_json_real(j, o->name, *(double *)o->value);
            break;
        case CLI_FLAG:
            ds_json_bool(j, o->name, *(int *)o->value);
            break;
        }
    }
    ds_json_end(j);
}

static void write_model(ds_json *j, const char *path, const ds_model *m) {
    ds_json_object(j, "model");
    ds_json_str(j, "path", path);
    if (m) {
        char checksum[32];
        snprintf(checksum, sizeof checksum, "%016llx", (unsigned long long)m->data_checksum);
        ds_json_str(j, "kind", ds_model_kind_name(m->kind));
        ds_json_int(j, "dim", m->d);
        ds_json_array(j, "image_shape");
        ds_json_int(j, NULL, m->channels);
        ds_json_int(j, NULL, m->height);
        ds_json_int(j, NULL, m->width);
        ds_json_end(j);
        if (m->kind != DS_MODEL_EMPIRICAL) {
            ds_json_int(j, "components", m->k);
            ds_json_int(j, "rank", m->r);
        }
        ds_json_real(j, "sigma_data", m->sigma_data);
        ds_json_str(j, "data_file", m->data_path);
        ds_json_int(j, "data_bytes", m->data_bytes);
        ds_json_str(j, "data_checksum", checksum);
    }
    ds_json_end(j);
}

static void write_times(ds_json *j, const ds_run_info *r) {
    const ds_run_times *t = &r->times;
    ds_json_object(j, "seconds");
    ds_json_real(j, "load", t->load);
    ds_json_real(j, "prepare", t->prepare);
    ds_json_real(j, "sample", t->sample);
    ds_json_real(j, "write", t->write);
    ds_json_real(j, "total", t->total);
    ds_json_end(j);
    int64_t computed = r->n_samples - r->samples_resumed;
    ds_json_real(j, "samples_per_second", t->sample > 0 ? (double)computed / t->sample : 0);
}

static void write_run(ds_json *j, const ds_run_info *r) {
    char when[32];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    ds_json_object(j, NULL);
    ds_json_str(j, "program", "diffsamp");
    ds_json_str(j, "version", ds_version());
    ds_json_str(j, "git_revision", ds_git_revision());
    ds_json_str(j, "created_utc", when);
    ds_json_str(j, "command", r->command);
    ds_json_array(j, "command_line");
    for (int i = 0; i < r->argc; i++) ds_json_str(j, NULL, r->argv[i]);
    ds_json_end(j);
    write_config(j, r->opts, r->n_opts);
    write_model(j, r->model_path, r->model);
    ds_json_str(j, "backend", r->backend);
    ds_json_str(j, "device", r->device);
    ds_json_u64(j, "seed", r->seed);
    ds_json_int(j, "samples", r->n_samples);
    ds_json_int(j, "batch", r->batch);
    ds_json_int(j, "batches_resumed", r->batches_resumed);
    ds_json_int(j, "samples_resumed", r->samples_resumed);
    ds_json_int(j, "nfe_per_sample", r->nfe);
    if (r->sigmas) {
        ds_json_array(j, "sigmas");
        for (int i = 0; i < r->n_sigmas; i++) ds_json_real(j, NULL, r->sigmas[i]);
        ds_json_end(j);
    }
    write_times(j, r);
    if (r->extra) r->extra(j, r->extra_user);
    ds_json_end(j);
}

int ds_run_json_write(const char *path, const ds_run_info *r) {
    ds_atomic_file af;
    DS_TRY(ds_atomic_open(&af, path));
    ds_json j;
    ds_json_init(&j, af.f);
    write_run(&j, r);
    if (!j.ok || j.depth != 0) {
        ds_atomic_abort(&af);
        return ds_fail("%s: malformed JSON record (unbalanced nesting or misplaced key)", path);
    }
    return ds_atomic_commit(&af);
}

// The first line of a text, without its end.
static void first_line(const char *text, char *buf, size_t size) {
    size_t n = strcspn(text, "\n");
    if (n >= size) n = size - 1;
    memcpy(buf, text, n);
    buf[n] = '\0';
}

static void cpu_model_name(char *buf, size_t size) {
    snprintf(buf, size, "cpu");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) || !colon) continue;
        char name[256];
        first_line(colon + 2, name, sizeof name);
        snprintf(buf, size, "%s (%ld cores)", name, sysconf(_SC_NPROCESSORS_ONLN));
        break;
    }
    fclose(f);
}

void ds_device_name(const char *backend, char *buf, size_t size) {
    if (strcmp(backend, "cuda") != 0) {
        cpu_model_name(buf, size);
        return;
    }
    // The devices' own listing; the backend runs on the first.
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    snprintf(buf, size, "cuda");
    if (!f) return;
    int listed = ds_cuda_print_devices(f) == 0; // else the name stays "cuda"
    fclose(f);
    if (listed && len) first_line(text, buf, size);
    free(text);
}
