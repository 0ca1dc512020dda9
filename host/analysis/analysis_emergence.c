// Outline first (Wang & Vastola, "Diffusion models generate images like painters"): the
// noise level at which each principal component of the data settles in the denoising
// trajectory D(x_i; sigma_i), its rank correlation with the component's variance, and the
// Gaussian model's closed form for it.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ds_analysis.h"
#include "ds_error.h"

// The closed form. Gaussian data N(mu, Sigma), Sigma = U diag(lambda) U^T: the denoiser
// is D(x; s) = mu + Sigma (Sigma + s^2 I)^-1 (x - mu), so along eigenvector u_j the
// coordinate a = u_j.(x - mu) of the probability-flow ODE dx/ds = (x - D) / s obeys
// da/ds = a s / (lambda + s^2), hence a(s) = a(s0) sqrt((lambda + s^2) / (lambda + s0^2)),
// and the denoised coordinate is
//     d(s) = lambda / (lambda + s^2) a(s) = lambda a(s0) / sqrt((lambda + s^2)(lambda + s0^2)).
// Its final value is d(0) = sqrt(lambda) a(s0) / sqrt(lambda + s0^2), and d(s) / d(0) =
// (1 + s^2 / lambda)^-1/2 whatever the start. With g = d(0) / sqrt(lambda) (the final
// coordinate in standard deviations), the distance to the final value in standard
// deviations is |g| (1 - (1 + s^2 / lambda)^-1/2), increasing in s: it falls to tol at
//     s_e^2 = lambda ((1 - tol / |g|)^-2 - 1)        (|g| > tol),
// and never exceeds tol when |g| <= tol (settled from the start). So s_e = sqrt(lambda)
// h(|g|) with h decreasing: components of larger variance emerge at larger sigma, in
// proportion to their standard deviation. From noise x = s0 n (the samplers' start),
// g = sqrt(lambda) (s0 n_j - u_j.mu) / sqrt((lambda + s0^2) lambda) ~ N(0, 1) to within
// lambda / s0^2 + |u_j.mu| / s0, so the median of s_e over samples is sqrt(lambda)
// h(0.6745), 0.6745 the median of |N(0, 1)| (h is monotone, so medians map to medians).
double ds_emergence_gaussian(double lambda, double tol, double g, double sigma_max) {
    double a = fabs(g);
    if (!(a > tol)) return sigma_max;
    double r = 1.0 - tol / a, s = sqrt(lambda * (1.0 / (r * r) - 1.0));
    return s < sigma_max ? s : sigma_max;
}

// Ranks 1..n of v (ties get their mean rank), by sorting (value, index) pairs.
typedef struct {
    double v;
    int64_t i;
} keyed;

static int cmp_keyed(const void *a, const void *b) {
    double x = ((const keyed *)a)->v, y = ((const keyed *)b)->v;
    return (x > y) - (x < y);
}

static void ranks(const double *v, int64_t n, keyed *work, double *rank) {
    for (int64_t i = 0; i < n; i++) work[i] = (keyed){v[i], i};
    qsort(work, (size_t)n, sizeof *work, cmp_keyed);
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j + 1 < n && work[j + 1].v == work[i].v) j++;
        for (int64_t t = i; t <= j; t++) rank[work[t].i] = 0.5 * (double)(i + j) + 1.0;
        i = j + 1;
    }
}

int ds_spearman(const double *a, const double *b, int64_t n, double *rho) {
    *rho = NAN;
    if (n < 2) return 0;
    for (int64_t i = 0; i < n; i++)
        if (isnan(a[i]) || isnan(b[i])) return 0;
    keyed *work = ds_try_alloc((size_t)n, sizeof *work, "rank correlation");
    double *ra = ds_try_alloc((size_t)(2 * n), sizeof(double), "rank correlation"), *rb = ra + n;
    if (!work || !ra) {
        free(work);
        free(ra);
        return -1;
    }
    ranks(a, n, work, ra);
    ranks(b, n, work, rb);
    double mean = 0.5 * (double)(n + 1), sab = 0, saa = 0, sbb = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = ra[i] - mean, y = rb[i] - mean;
        sab += x * y, saa += x * x, sbb += y * y;
    }
    free(work);
    free(ra);
    if (saa > 0 && sbb > 0) *rho = sab / sqrt(saa * sbb);
    return 0;
}

// The emergence sigma of one coordinate: dev[0 .. m) its distance to the final value in
// standard deviations at sigmas[0 .. m) (dev[m - 1] = 0 at the final point). The last
// point farther than tol and the next one bracket the crossing, interpolated linearly in
// log dev against log sigma: exact for a power law dev ~ sigma^p, which the Gaussian's
// |g| (1 - (1 + s^2 / lambda)^-1/2) ~ |g| s^2 / (2 lambda) is below sqrt(lambda) (linear
// interpolation of the convex curve would put the crossing too low). Where the next point
// has dev = 0 or sigma = 0 (the final sample), linearly in sigma. None farther: sigmas[0].
static double settle_sigma(const double *dev, const double *sigmas, int64_t m, double tol,
                           int *at_start) {
    int64_t last = -1;
    for (int64_t i = 0; i < m; i++)
        if (dev[i] > tol) last = i;
    *at_start = last < 0;
    if (last < 0) return sigmas[0];
    if (last == m - 1) return sigmas[m - 1];
    double s0 = sigmas[last], s1 = sigmas[last + 1], e0 = dev[last], e1 = dev[last + 1];
    if (s1 > 0 && e1 > 0) {
        double t = (log(e0) - log(tol)) / (log(e0) - log(e1));
        return exp(log(s0) + t * (log(s1) - log(s0)));
    }
    return s0 + (e0 - tol) / (e0 - e1) * (s1 - s0);
}

int ds_emergence_compute(const ds_traj_view *t, const double *sigmas, const ds_pca *p, double tol,
                         ds_emergence *out) {
    memset(out, 0, sizeof *out);
    int64_t S = t->steps, B = t->b, d = t->d, nd = t->n_denoised, k = p->k;
    if (S < 2 || B < 1 || (nd != S && nd != S - 1) || d != p->d)
        return ds_fail("emergence: a trajectory of %lld points (%lld denoised) of %lld samples of "
                       "dimension %lld for principal components of dimension %lld (expected at "
                       "least 2 points, points or points - 1 denoised, the same dimension)",
                       (long long)S, (long long)nd, (long long)B, (long long)d, (long long)p->d);
    if (!(tol > 0)) return ds_fail("emergence: tolerance %g (expected > 0)", tol);
    for (int64_t j = 0; j < k; j++)
        if (!(p->eigvals[j] > 1e-12 * p->eigvals[0]))
            return ds_fail("emergence: principal component %lld has variance %g, 1e-12 of the "
                           "first or less (expected fewer components, --pca-k < %lld)",
                           (long long)(j + 1), p->eigvals[j], (long long)(j + 1));
    // The coordinates compared with the final sample's: the denoised points, and the final
    // point itself (distance 0) unless it was denoised too.
    int64_t m = S;
    double *z = ds_try_alloc((size_t)((nd + 1) * B * k), sizeof(double), "projected trajectory");
    double *dev = ds_try_alloc((size_t)m, sizeof(double), "emergence");
    out->b = B, out->k = k;
    out->sigma = ds_try_alloc((size_t)(B * k), sizeof(double), "emergence sigmas");
    out->final = ds_try_alloc((size_t)(B * k), sizeof(double), "emergence sigmas");
    out->median = ds_try_alloc((size_t)(4 * k), sizeof(double), "emergence sigmas");
    int rc = z && dev && out->sigma && out->final && out->median ? 0 : -1;
    if (!rc) rc = ds_pca_project(p, t->denoised, nd * B, z);
    if (!rc) rc = ds_pca_project(p, t->x + (S - 1) * B * d, B, z + nd * B * k);
    const double *zf = z ? z + nd * B * k : NULL;
    if (!rc) out->q25 = out->median + k, out->q75 = out->q25 + k, out->at_start = out->q75 + k;
    for (int64_t j = 0; j < k && !rc; j++) {
        double sd = sqrt(p->eigvals[j]);
        int64_t starts = 0;
        for (int64_t i = 0; i < B; i++) {
            double f = zf[i * k + j];
            for (int64_t s = 0; s < nd; s++) dev[s] = fabs(z[(s * B + i) * k + j] - f) / sd;
            if (nd < S) dev[S - 1] = 0;
            int at_start;
            out->sigma[i * k + j] = settle_sigma(dev, sigmas, m, tol, &at_start);
            out->final[i * k + j] = f / sd;
            starts += at_start;
        }
        ds_stats st;
        rc = ds_stats_strided(out->sigma + j, B, k, &st);
        out->median[j] = st.q50, out->q25[j] = st.q25, out->q75[j] = st.q75;
        out->at_start[j] = (double)starts / (double)B;
    }
    if (!rc) rc = ds_spearman(out->median, p->eigvals, k, &out->spearman);
    free(z);
    free(dev);
    if (rc) ds_emergence_free(out);
    return rc;
}

void ds_emergence_free(ds_emergence *e) {
    free(e->sigma);
    free(e->final);
    free(e->median);
    memset(e, 0, sizeof *e);
}
