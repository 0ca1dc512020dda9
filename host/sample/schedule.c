// Time schedules: EDM's polynomial one, uniform in log sigma, uniform in VP time, a
// list from a file, and the dispatch to GITS.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_error.h"
#include "ds_io.h"
#include "ds_schedule.h"

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

// EDM: (smax^(1/rho) + u (smin^(1/rho) - smax^(1/rho)))^rho.
static double edm_sigma(const ds_schedule_opts *o, double u) {
    double a = pow(o->sigma_max, 1 / o->rho), b = pow(o->sigma_min, 1 / o->rho);
    return pow(a + u * (b - a), o->rho);
}

static double logsnr_sigma(const ds_schedule_opts *o, double u) {
    return exp(log(o->sigma_max) + u * (log(o->sigma_min) - log(o->sigma_max)));
}

// Uniform in VP time t from 1 down to eps_s = 1e-3, with sigma(t) = sqrt(exp(beta_d t^2 / 2
// + beta_min t) - 1) and beta_d, beta_min fitted so that sigma(1) = sigma_max and
// sigma(eps_s) = sigma_min (diff-sampler's time_uniform schedule with rho = 1).
static double vp_sigma(const ds_schedule_opts *o, double u) {
    const double eps = 1e-3;
    double lmax = log1p(o->sigma_max * o->sigma_max), lmin = log1p(o->sigma_min * o->sigma_min);
    double beta_d = 2 * (lmin / eps - lmax) / (eps - 1), beta_min = lmax - 0.5 * beta_d;
    double t = 1 + u * (eps - 1);
    return sqrt(expm1(0.5 * beta_d * t * t + beta_min * t));
}

static int check_range(const ds_schedule_opts *o) {
    if (o->steps < 1)
        return ds_fail("schedule: --steps must be >= 1 (got %lld)", (long long)o->steps);
    if (o->steps > 1000000)
        return ds_fail("schedule: --steps %lld is too many (expected at most 1000000)",
                       (long long)o->steps);
    if (!(o->sigma_min > 0) || !(o->sigma_max > o->sigma_min) || !isfinite(o->sigma_max))
        return ds_fail("schedule: need 0 < sigma_min < sigma_max (got %g, %g)", o->sigma_min,
                       o->sigma_max);
    if (o->sigma_min < DS_SIGMA_LOWEST || o->sigma_max > DS_SIGMA_HIGHEST)
        return ds_fail("schedule: sigma_min and sigma_max must lie in [%g, %g] (got %g, %g)",
                       DS_SIGMA_LOWEST, DS_SIGMA_HIGHEST, o->sigma_min, o->sigma_max);
    if (!(o->rho > 0)) return ds_fail("schedule: --rho must be > 0 (got %g)", o->rho);
    return 0;
}

// The closed-form kinds: m points from sigma_max to sigma_min (m = 1: sigma_max alone),
// then 0 when asked.
static int build_formula(const ds_schedule_opts *o,
                         double (*sigma)(const ds_schedule_opts *, double), double **sigmas,
                         int *n) {
    DS_TRY(check_range(o));
    int m = (int)o->steps + (o->final_zero ? 0 : 1);
    *n = m + (o->final_zero ? 1 : 0);
    double *s = ds_alloc((size_t)*n, sizeof(double));
    for (int i = 0; i < m; i++) s[i] = m == 1 ? o->sigma_max : sigma(o, (double)i / (m - 1));
    s[0] = o->sigma_max;
    if (m > 1) s[m - 1] = o->sigma_min;
    *sigmas = s;
    return 0;
}

int ds_schedule_build(const ds_schedule_opts *o, ds_solver_ctx *ctx, const ds_solver_opts *solver,
                      double **sigmas, int *n) {
    *sigmas = NULL;
    *n = 0;
    if (!strcmp(o->kind, "edm")) return build_formula(o, edm_sigma, sigmas, n);
    if (!strcmp(o->kind, "logsnr")) return build_formula(o, logsnr_sigma, sigmas, n);
    if (!strcmp(o->kind, "vp")) return build_formula(o, vp_sigma, sigmas, n);
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
        DS_TRY(check_range(o));
        if (!ctx || !solver) return ds_fail("schedule gits needs a model and a solver");
        DS_TRY(ds_schedule_gits(ctx, solver, &o->gits, o, sigmas, n));
        return ds_schedule_check(*sigmas, *n, "schedule gits");
    }
    return ds_fail("unknown schedule '%s' (expected edm, logsnr, vp, file, list or gits)", o->kind);
}

int ds_schedule_check(const double *s, int n, const char *what) {
    if (n < 2) return ds_fail("%s: %d sigmas (expected at least 2)", what, n);
    for (int i = 0; i < n; i++) {
        if (s[i] == 0 && i + 1 < n)
            return ds_fail("%s: sigma %d is 0 (only the last sigma may be 0)", what, i);
        if (s[i] != 0 && !(s[i] >= DS_SIGMA_LOWEST && s[i] <= DS_SIGMA_HIGHEST))
            return ds_fail("%s: sigma %d is %g (expected %g to %g, or a last 0)", what, i, s[i],
                           DS_SIGMA_LOWEST, DS_SIGMA_HIGHEST);
        if (i > 0 && !(s[i] < s[i - 1]))
            return ds_fail("%s: sigmas must decrease strictly (sigma %d = %g follows %g)", what, i,
                           s[i], s[i - 1]);
    }
    return 0;
}

// Parses one line: 1 with *v set, 0 for a blank or comment line, -1 on bad text.
static int parse_line(char *line, double *v) {
    char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (*p == '\0' || *p == '\n' || *p == '\r' || *p == '#') return 0;
    char *end;
    *v = strtod(p, &end); // out of the double range: +-HUGE_VAL or 0, refused by the check
    if (end == p) return -1;
    while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n') end++;
    return *end == '\0' ? 1 : -1;
}

int ds_schedule_read(const char *path, double **sigmas, int *n) {
    *sigmas = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f) return ds_fail("%s: cannot open the sigma list (%s)", path, strerror(errno));
    int cap = 64, count = 0, line_no = 0, rc = 0;
    double *s = ds_alloc((size_t)cap, sizeof(double));
    char line[512];
    while (!rc && fgets(line, sizeof line, f)) {
        line_no++;
        double v;
        int got = parse_line(line, &v);
        if (got < 0) rc = ds_fail("%s:%d: expected one number per line", path, line_no);
        if (got <= 0) continue;
        if (count == cap) s = realloc(s, sizeof(double) * (size_t)(cap *= 2));
        if (!s) ds_die("out of memory reading %s", path);
        s[count++] = v;
    }
    if (!rc && ferror(f))
        rc = ds_fail("%s: cannot read the sigma list (%s)", path, strerror(errno));
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
