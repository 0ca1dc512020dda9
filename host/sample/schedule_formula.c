// The closed-form time schedules: EDM's polynomial one, uniform in log sigma, uniform in
// VP time.
#include <math.h>
#include <string.h>

#include "ds_error.h"
#include "schedule_formula.h"

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

int ds_schedule_check_range(const ds_schedule_opts *o) {
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
    DS_TRY(ds_schedule_check_range(o));
    int m = (int)o->steps + (o->final_zero ? 0 : 1);
    *n = m + (o->final_zero ? 1 : 0);
    double *s = ds_try_alloc((size_t)*n, sizeof(double), "schedule");
    if (!s) return -1;
    for (int i = 0; i < m; i++) s[i] = m == 1 ? o->sigma_max : sigma(o, (double)i / (m - 1));
    s[0] = o->sigma_max;
    if (m > 1) s[m - 1] = o->sigma_min;
    *sigmas = s;
    return 0;
}

int ds_schedule_formula(const ds_schedule_opts *o, double **sigmas, int *n) {
    if (!strcmp(o->kind, "edm")) return build_formula(o, edm_sigma, sigmas, n);
    if (!strcmp(o->kind, "logsnr")) return build_formula(o, logsnr_sigma, sigmas, n);
    if (!strcmp(o->kind, "vp")) return build_formula(o, vp_sigma, sigmas, n);
    return ds_fail("schedule '%s' has no closed form (expected edm, logsnr or vp)", o->kind);
}
