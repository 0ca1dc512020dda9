// Result tables of the analysis commands: aligned text for the terminal, CSV for plots.
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ds_analysis.h"
#include "ds_error.h"
#include "ds_io.h"

// Appends cell (NULL: its allocation failed); a failure marks the table failed.
static void push(ds_table *t, char *cell) {
    if (!cell || t->failed) {
        free(cell);
        t->failed = 1;
        return;
    }
    if (t->cells == t->cap) {
        int64_t cap = t->cap ? 2 * t->cap : 64;
        char **grown = realloc(t->cell, sizeof(char *) * (size_t)cap);
        if (!grown) {
            free(cell);
            t->failed = 1;
            return;
        }
        t->cell = grown, t->cap = cap;
    }
    t->cell[t->cells++] = cell;
}

void ds_table_init(ds_table *t, const char *header) {
    memset(t, 0, sizeof *t);
    const char *p = header;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char *cell = ds_try_alloc(len + 1, 1, "a result table");
        if (cell) memcpy(cell, p, len);
        push(t, cell);
        t->cols++;
        if (!comma) break;
        p = comma + 1;
    }
}

void ds_table_add(ds_table *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *cell = ds_try_alloc((size_t)len + 1, 1, "a result table");
    va_start(ap, fmt);
    if (cell) vsnprintf(cell, (size_t)len + 1, fmt, ap);
    va_end(ap);
    push(t, cell);
}

static int check_filled(const ds_table *t) {
    return t->failed ? ds_fail("a result table ran out of memory while it was filled") : 0;
}

int ds_table_print(const ds_table *t, FILE *f) {
    DS_TRY(check_filled(t));
    size_t *width = ds_try_alloc((size_t)t->cols, sizeof(size_t), "a result table");
    if (!width) return -1;
    for (int64_t i = 0; i < t->cells; i++) {
        size_t len = strlen(t->cell[i]);
        if (len > width[i % t->cols]) width[i % t->cols] = len;
    }
    for (int64_t i = 0; i < t->cells; i++) {
        int c = (int)(i % t->cols);
        fprintf(f, "%*s%s", (int)width[c], t->cell[i], c == t->cols - 1 ? "\n" : "  ");
    }
    if (t->cells % t->cols) fputc('\n', f);
    free(width);
    return 0;
}

// One CSV field: quoted (with quotes doubled) when it holds a comma, quote or newline.
static void csv_field(FILE *f, const char *cell) {
    if (!strpbrk(cell, ",\"\n")) {
        fputs(cell, f);
        return;
    }
    fputc('"', f);
    for (const char *c = cell; *c; c++) {
        if (*c == '"') fputc('"', f);
        fputc(*c, f);
    }
    fputc('"', f);
}

int ds_table_write_csv(const ds_table *t, const char *path) {
    DS_TRY(check_filled(t));
    ds_atomic_file af;
    DS_TRY(ds_atomic_open(&af, path));
    for (int64_t i = 0; i < t->cells; i++) {
        csv_field(af.f, t->cell[i]);
        fputc((i + 1) % t->cols ? ',' : '\n', af.f);
    }
    if (t->cells % t->cols) fputc('\n', af.f);
    return ds_atomic_commit(&af);
}

void ds_table_free(ds_table *t) {
    for (int64_t i = 0; i < t->cells; i++) free(t->cell[i]);
    free(t->cell);
    memset(t, 0, sizeof *t);
}
