// Time schedules: the dispatch by kind (the closed forms in schedule_formula.c, GITS in
// schedule_gits.c), and the sigma list files.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "ds_error.h"
#include "ds_io.h"
#include "ds_schedule.h"
#include "schedule_formula.h"

void ds_schedule_opts_default(ds_schedule_opts *o) {
    memset(o, 0, sizeof *o);
    o->kind = "edm";
    o->steps = 18;
    o->sigma_min = 0.002;
    o->sigma_max = 80;
    o->rho = 7;
    o->final_zero = 1;
    ds_gits_opts_default(&o->gits);
}

static const char *kinds[] = {"edm", "logsnr", "vp", "file", "list", "gits"};

int ds_schedule_known(const char *kind) {
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(kind, kinds[i])) return 1;
    return 0;
}

int ds_schedule_build(const ds_schedule_opts *o, ds_solver_ctx *ctx, const ds_solver_opts *solver,
                      double **sigmas, int *n) {
    *sigmas = NULL;
    *n = 0;
    if (!strcmp(o->kind, "edm") || !strcmp(o->kind, "logsnr") || !strcmp(o->kind, "vp"))
        return ds_schedule_formula(o, sigmas, n);
    if (!strcmp(o->kind, "file")) {
        if (!o->path) return ds_fail("schedule file: no path given (--sigmas FILE)");
        return ds_schedule_read(o->path, sigmas, n);
    }
    if (!strcmp(o->kind, "list")) {
        if (!o->list) return ds_fail("schedule list: no sigmas given");
        DS_TRY(ds_schedule_check(o->list, o->n_list, "schedule list"));
        *sigmas = ds_try_alloc((size_t)o->n_list, sizeof(double), "schedule list");
        if (!*sigmas) return -1;
        memcpy(*sigmas, o->list, (size_t)o->n_list * sizeof(double));
        *n = o->n_list;
        return 0;
    }
    if (!strcmp(o->kind, "gits")) {
        DS_TRY(ds_schedule_check_range(o));
        if (!ctx || !solver) return ds_fail("schedule gits needs a model and a solver");
        DS_TRY(ds_schedule_gits(ctx, solver, &o->gits, o, sigmas, n));
        return ds_schedule_check(*sigmas, *n, "schedule gits");
    }
    return ds_fail("unknown schedule '%s' (expected edm, logsnr, vp, file, list or gits)", o->kind);
}

// Sigmas are counted from 1 in the messages, as lines are.
int ds_schedule_check(const double *s, int n, const char *what) {
    if (n < 2) return ds_fail("%s: %d sigmas (expected at least 2)", what, n);
    for (int i = 0; i < n; i++) {
        if (s[i] == 0 && i + 1 < n)
            return ds_fail("%s: sigma %d of %d is 0 (only the last sigma may be 0)", what, i + 1,
                           n);
        if (s[i] != 0 && !(s[i] >= DS_SIGMA_LOWEST && s[i] <= DS_SIGMA_HIGHEST))
            return ds_fail("%s: sigma %d of %d is %g (expected %g to %g, or a last 0)", what,
                           i + 1, n, s[i], DS_SIGMA_LOWEST, DS_SIGMA_HIGHEST);
        if (i > 0 && !(s[i] < s[i - 1]))
            return ds_fail("%s: sigmas must decrease strictly (sigma %d of %d = %g follows %g)",
                           what, i + 1, n, s[i], s[i - 1]);
    }
    return 0;
}

// Parses one line: 1 with *v set, 0 for a blank or comment line, -1 on bad text. A '#'
// starts a comment, at the start of a line or after the number (as in model.txt).
static int parse_line(char *line, double *v) {
    char *p = line, *hash = strchr(line, '#');
    if (hash) *hash = '\0';
    while (*p == ' ' || *p == '\t') p++;
    if (*p == '\0' || *p == '\n' || *p == '\r') return 0;
    char *end;
    *v = strtod(p, &end); // out of the double range: +-HUGE_VAL or 0, refused by the check
    if (end == p) return -1;
    while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n') end++;
    return *end == '\0' ? 1 : -1;
}

int ds_schedule_read(const char *path, double **sigmas, int *n) {
    *sigmas = NULL;
    *n = 0;
    DS_TRY(ds_check_regular(path, "a sigma list, one number per line", NULL));
    FILE *f = fopen(path, "r");
    if (!f) return ds_fail("%s: cannot open the sigma list (%s)", path, strerror(errno));
    int cap = 64, count = 0, line_no = 0, rc = 0;
    double *s = ds_try_alloc((size_t)cap, sizeof(double), path);
    if (!s) {
        fclose(f);
        return -1;
    }
    char *line = NULL; // getline: lines of any length, never split
    size_t line_cap = 0;
    for (ssize_t len; !rc && (len = getline(&line, &line_cap, f)) >= 0;) {
        line_no++;
        double v;
        // A NUL byte would end the line early: "80\0junk" must not read as 80.
        int got = memchr(line, '\0', (size_t)len) ? -1 : parse_line(line, &v);
        if (got < 0) rc = ds_fail("%s:%d: expected one number per line", path, line_no);
        if (got <= 0) continue;
        if (count == cap) {
            double *grown = realloc(s, sizeof(double) * (size_t)(cap *= 2));
            if (!grown) {
                rc = ds_fail("%s: out of memory reading the sigma list", path);
                continue;
            }
            s = grown;
        }
        s[count++] = v;
    }
    if (!rc && ferror(f))
        rc = ds_fail("%s: cannot read the sigma list (%s)", path, strerror(errno));
    free(line);
    fclose(f);
    if (!rc) rc = ds_schedule_check(s, count, path);
    if (rc) {
        free(s);
        return -1;
    }
    *sigmas = s;
    *n = count;
    return 0;
}

int ds_schedule_write(const char *path, const double *sigmas, int n) {
    ds_atomic_file af;
    DS_TRY(ds_atomic_open(&af, path));
    for (int i = 0; i < n; i++) fprintf(af.f, "%.17g\n", sigmas[i]);
    return ds_atomic_commit(&af);
}
