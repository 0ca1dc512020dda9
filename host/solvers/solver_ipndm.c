// iPNDM: Adams-Bashforth in sigma on the slope dx/dsigma, with the fixed weights of
// equal steps (ipndm) or the variable-step weights (ipndm_v), as diff-sampler's
// ipndm_sampler and ipndm_v_sampler. ipndm_v with variant "exact" integrates the
// Lagrange basis in sigma instead of diff-sampler's closed forms, whose order-4 weights
// are wrong (docs/compat.md).
#include <string.h>

#include "ds_error.h"
#include "multistep.h"

static void ipndm_weights(const ds_solver_opts *o, const double *sigmas, int i, int order,
                          double *w) {
    (void)o;
    static const double table[4][4] = {
        {1, 0, 0, 0},
        {3.0 / 2, -1.0 / 2, 0, 0},
        {23.0 / 12, -16.0 / 12, 5.0 / 12, 0},
        {55.0 / 24, -59.0 / 24, 37.0 / 24, -9.0 / 24},
    };
    double h = sigmas[i + 1] - sigmas[i];
    for (int j = 0; j < order; j++) w[j] = h * table[order - 1][j];
}

// diff-sampler's closed forms of the variable-step Adams-Bashforth weights; h0 is the
// current step and h1, h2, h3 the previous ones (all negative).
static void ipndm_v_weights(const ds_solver_opts *o, const double *sigmas, int i, int order,
                            double *w) {
    (void)o;
    double h0 = sigmas[i + 1] - sigmas[i];
    double h1 = i >= 1 ? sigmas[i] - sigmas[i - 1] : 0;
    double h2 = i >= 2 ? sigmas[i - 1] - sigmas[i - 2] : 0;
    double h3 = i >= 3 ? sigmas[i - 2] - sigmas[i - 3] : 0;
    double c[4] = {1, 0, 0, 0};
    if (order >= 2) {
        c[0] = (2 + h0 / h1) / 2;
        c[1] = -(h0 / h1) / 2;
    }
    if (order >= 3) {
        double t1 = (1 - h0 / (3 * (h0 + h1)) * (h0 * (h0 + h1)) / (h1 * (h1 + h2))) / 2;
        c[0] += t1;
        c[1] -= (1 + h1 / h2) * t1;
        c[2] = t1 * h1 / h2;
    }
    if (order >= 4) {
        double t2 = ((1 - h0 / (3 * (h0 + h1))) / 2 +
                     (1 - h0 / (2 * (h0 + h1))) * h0 / (6 * (h0 + h1 + h2))) *
                    (h0 * (h0 + h1) * (h0 + h1 + h2)) / (h1 * (h1 + h2) * (h1 + h2 + h3));
        double q = h1 * (h1 + h2) / (h2 * (h2 + h3));
        c[0] += t2;
        c[1] -= (1 + h1 / h2 + q) * t2;
        c[2] += (h1 / h2 + q * (1 + h2 / h3)) * t2;
        c[3] = -t2 * q * h1 / h2;
    }
    for (int j = 0; j < order; j++) w[j] = h0 * c[j];
}

// The variable-step Adams-Bashforth weights: integrals of the Lagrange basis on
// sigma_i, ..., sigma_{i-order+1} over the step (k-diffusion's lms uses the same).
static void ipndm_v_exact_weights(const ds_solver_opts *o, const double *sigmas, int i, int order,
                                  double *w) {
    (void)o;
    double nodes[MS_HISTORY_MAX];
    for (int k = 0; k < order; k++) nodes[k] = sigmas[i - k];
    ms_lagrange_integral(nodes, order, sigmas[i], sigmas[i + 1], NULL, NULL, w);
}

int solver_ipndm(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                 ds_batch *x) {
    return ms_adams_bashforth(c, o, sigmas, n, x, ipndm_weights);
}

int solver_ipndm_v(ds_solver_ctx *c, const ds_solver_opts *o, const double *sigmas, int n,
                   ds_batch *x) {
    const char *v = o->variant;
    // The default variant (bh2, meant for unipc) selects diff-sampler's weights here.
    if (v && strcmp(v, "exact") && strcmp(v, "diff-sampler") && strcmp(v, "bh2"))
        return ds_fail("solver ipndm_v: unknown variant '%s' (expected diff-sampler or exact)", v);
    int exact = v && !strcmp(v, "exact");
    return ms_adams_bashforth(c, o, sigmas, n, x, exact ? ipndm_v_exact_weights : ipndm_v_weights);
}
