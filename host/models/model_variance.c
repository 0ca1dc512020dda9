// The variance model ("generalisation through variance", Vastola, ICLR 2025): the
// denoiser a network typically learns when its training target is the noisy
// denoising-score-matching (DSM) proxy instead of the exact score.
//
// At noise sigma the empirical posterior over the N training rows y_i is
// w_i(x) = softmax_i(-|x - y_i|^2 / (2 sigma^2)). The DSM target for a query x is a draw
// x0 ~ p(x0 | x) = sum_i w_i delta(x0 - y_i): its mean is the empirical denoiser D(x) and
// its covariance Cov(x) = sum_i w_i u_i u_i^T, u_i = y_i - D(x). In score units (the proxy
// -(x - x0) / sigma^2) the covariance is the paper's C(x) = Cov(x) / sigma^4, zero on a
// training row at small sigma and largest in the gaps between rows, where the target is
// most uncertain.
//
// A denoiser fitted to finitely many proxy draws (the paper's naive estimator; kappa = 1/n
// for n draws per point, and for its expressive linear model kappa plays the role of the
// features-per-sample ratio F/P) is D plus a zero-mean fluctuation whose covariance is
// kappa Cov(x). In the paper's Gaussian (second-cumulant) approximation one trained model
// is one draw of that fluctuation. This model is such a draw, fixed by a seed:
//
//   D_var(x; sigma) = D(x; sigma) + sqrt(kappa) sum_i sqrt(w_i) u_i z_i(sigma),
//
// z_i unit normals. Over the z, E[D_var] = D and Cov[D_var(x)] = kappa sum_i w_i u_i u_i^T
// = kappa Cov(x) exactly, and between two queries the covariance is the kernel
// V(x, x') = kappa sum_i sqrt(w_i(x) w_i(x')) u_i(x) u_i(x')^T (positive semidefinite,
// smooth in x): the V-kernel of this estimator, whose diagonal is the proxy variance that
// fills the gaps. kappa = 0 is the empirical model. The draw is smooth in sigma too: with
// u = ln(sigma) / W, b = floor(u) and f = u - b, z_i(sigma) = cos(pi f / 2) n(i, b) +
// sin(pi f / 2) n(i, b + 1), n the Philox normals of the seed, so z_i has unit variance at
// every sigma and the draws at sigmas more than two bins apart are independent. W splits
// EDM's range 0.002 .. 80 into 16 bins (a network's noise-level features have a finite
// width too).
#include <math.h>

#include "ds_model.h"
#include "ds_philox.h"

#define VARIANCE_BINS_EDM 16.0
// Bin indices are shifted so that the Philox column is >= 0 for any sigma >= 1e-300.
#define VARIANCE_BIN_OFFSET 2048

void ds_variance_z(const ds_model *m, double sigma, double *z) {
    const double width = log(80.0 / 0.002) / VARIANCE_BINS_EDM, pi = 3.14159265358979323846;
    double u = log(sigma) / width, b = floor(u), f = u - b;
    double ca = cos(0.5 * pi * f), sa = sin(0.5 * pi * f);
    int64_t col = (int64_t)b + VARIANCE_BIN_OFFSET;
    for (int64_t i = 0; i < m->data.n; i++)
        z[i] = ca * ds_philox_normal(m->variance_seed, i, col) +
               sa * ds_philox_normal(m->variance_seed, i, col + 1);
}
