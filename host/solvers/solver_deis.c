// DEIS tAB (Zhang & Chen), as diff-sampler's deis_sampler: Adams-Bashforth on the slope
// dx/dsigma with the slope interpolated by a polynomial in the VP time t, so step i
// adds sum_j c_j slope_{i-j} with c_j = integral over the step of L_j(t) dsigma, L_j the
// Lagrange basis on t_i, ..., t_{i-order+1}.
#include <math.h>

#include "ds_error.h"
#include "multistep.h"

// diff-sampler's VP time (edm2t): sigma(t) = sqrt(exp(beta_d t^2 / 2 + beta_min t) - 1)
// through (t, sigma) = (1, 80) and (1e-3, 0.002), whatever the schedule's own ends.
typedef struct {
    double beta_min, beta_d;
} vp_time;

static vp_time vp_time_diff_sampler(void) {
    const double eps_s = 1e-3, sigma_min = 0.002, sigma_max = 80;
    vp_time v;
    v.beta_d =
        2 * (log(sigma_min * sigma_min + 1) / eps_s - log(sigma_max * sigma_max + 1)) / (eps_s - 1);
    v.beta_min = log(sigma_max * sigma_max + 1) - 0.5 * v.beta_d;
    return v;
}

static double vp_t_of_sigma(vp_time v, double sigma) {
    return (sqrt(v.beta_min * v.beta_min + 2 * v.beta_d * log(sigma * sigma + 1)) - v.beta_min) /
           v.beta_d;
}

static double vp_t_map(const void *v, double sigma) {
    return vp_t_of_sigma(*(const vp_time *)v, sigma);
}

// dsigma/dt, written as diff-sampler's integrand: -0.5 (log alpha)' / sqrt(alpha (1 - alpha))
// with alpha = 1 / (1 + sigma^2).
static double vp_dsigma_dt(vp_time v, double t) {
    double alpha = exp(-0.5 * t * t * v.beta_d - t * v.beta_min);
    return 0.5 * (t * v.beta_d + v.beta_min) / sqrt(alpha * (1 - alpha));
}

// diff-sampler's rule: n equally spaced points from t_cur to t_next (ends included),
// each weighted (t_next - t_cur) / n.
static void riemann_coefficients(vp_time v, const double *nodes, int order, double t_cur,
                                 double t_next, int n, double *w) {
    for (int j = 0; j < order; j++) w[j] = 0;
    for (int k = 0; k < n; k++) {
        double t = k == n - 1 ? t_next : t_cur + k * ((t_next - t_cur) / (n - 1));
        double f = vp_dsigma_dt(v, t);
        for (int j = 0; j < order; j++) w[j] += f * ms_lagrange(nodes, order, j, t);
    }
    for (int j = 0; j < order; j++) w[j] *= (t_next - t_cur) / n;
}

static void deis_weights(const ds_solver_opts *o, const double *sigmas, int i, int order,
                         double *w) {
    if (order == 1) {
        w[0] = sigmas[i + 1] - sigmas[i];
        return;
    }
    vp_time v = vp_time_diff_sampler();
    double nodes[MS_HISTORY_MAX];
    for (int k = 0; k < order; k++) nodes[k] = vp_t_of_sigma(v, sigmas[i - k]);
    if (o->deis_riemann)
        riemann_coefficients(v, nodes, order, nodes[0], vp_t_of_sigma(v, sigmas[i + 1]),
                             o->deis_riemann, w);
    else
        ms_lagrange_integral(nodes, order, sigmas[i], sigmas[i + 1], vp_t_map, &v, w);
}

int solver_deis(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                ds_batch *x) {
    if (o->deis_riemann < 0 || o->deis_riemann == 1)
        return ds_fail("solver deis: deis_riemann must be 0 (accurate) or >= 2 points (got %d)",
                       o->deis_riemann);
    return ms_adams_bashforth(c, o, sigmas, n, x, deis_weights);
}
