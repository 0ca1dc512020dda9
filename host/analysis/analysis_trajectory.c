// Trajectory geometry: deviation from the chord, angles between successive steps,
// variance in the top principal components, and convergence to the final sample.
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ds_analysis.h"
#include "ds_error.h"
#include "fit_common.h"
#include "threads.h"

static double dist(const double *a, const double *b, int64_t d) {
    double s = 0;
    for (int64_t j = 0; j < d; j++) s += (a[j] - b[j]) * (a[j] - b[j]);
    return sqrt(s);
}

static double norm(const double *a, int64_t d) {
    return sqrt(cblas_ddot((int)d, a, 1, a, 1));
}

// Distance of each point p_s from the line through p_0 and p_last, over |p_last - p_0|.
static void chord_deviation(const double *p, int64_t steps, int64_t d, double *dev, double *work) {
    const double *a = p, *c = p + (steps - 1) * d;
    double *u = work, *v = work + d;
    for (int64_t j = 0; j < d; j++) u[j] = c[j] - a[j];
    double len2 = cblas_ddot((int)d, u, 1, u, 1), len = sqrt(len2);
    for (int64_t s = 0; s < steps; s++) {
        const double *x = p + s * d;
        for (int64_t j = 0; j < d; j++) v[j] = x[j] - a[j];
        double t = len2 > 0 ? cblas_ddot((int)d, v, 1, u, 1) / len2 : 0;
        for (int64_t j = 0; j < d; j++) v[j] -= t * u[j];
        dev[s] = len > 0 ? norm(v, d) / len : NAN;
    }
}

// Angle between successive steps, 2 atan2(|u^ - v^|, |u^ + v^|) (exact near 0 and 180
// degrees, unlike acos of the cosine).
static void step_angles(const double *p, int64_t steps, int64_t d, double *angle, double *work) {
    double *u = work, *v = work + d;
    for (int64_t s = 0; s + 2 < steps; s++) {
        const double *x0 = p + s * d, *x1 = x0 + d, *x2 = x1 + d;
        for (int64_t j = 0; j < d; j++) {
            u[j] = x1[j] - x0[j];
            v[j] = x2[j] - x1[j];
        }
        double nu = norm(u, d), nv = norm(v, d);
        if (nu == 0 || nv == 0) {
            angle[s] = NAN;
            continue;
        }
        double diff = 0, sum = 0;
        for (int64_t j = 0; j < d; j++) {
            double a = u[j] / nu, b = v[j] / nv;
            diff += (a - b) * (a - b);
            sum += (a + b) * (a + b);
        }
        angle[s] = 2.0 * atan2(sqrt(diff), sqrt(sum)) * (180.0 / M_PI);
    }
}

// Fraction of the variance of the points in their top 1, 2, 3 principal components, from
// the eigenvalues of the steps x steps Gram matrix of the centred points.
static int pca_fractions(double *p, int64_t steps, int64_t d, double *frac, double *gram,
                         double *vecs, double *w) {
    double raw = cblas_ddot((int)(steps * d), p, 1, p, 1);
    for (int64_t j = 0; j < d; j++) {
        double m = 0;
        for (int64_t s = 0; s < steps; s++) m += p[s * d + j];
        m /= (double)steps;
        for (int64_t s = 0; s < steps; s++) p[s * d + j] -= m;
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)steps, (int)steps, (int)d, 1.0, p,
                (int)d, p, (int)d, 0.0, gram, (int)steps);
    double residual;
    DS_TRY(fit_decompose("trajectory Gram matrix", gram, steps, steps, w, vecs, &residual));
    double total = 0, top = 0;
    for (int64_t s = 0; s < steps; s++) total += w[s];
    // Points that coincide leave only the rounding of their mean (~steps eps |p|): below a
    // spread of 1e-10 of their norm a sample counts as not moving, with no fractions.
    int still = !(total > 1e-20 * raw);
    for (int k = 0; k < 3; k++) { // w descends
        if (k < steps) top += w[k];
        frac[k] = still ? NAN : top / total;
    }
    return 0;
}

// Gathers sample i's points (strided over the b samples) into p (count x d).
static void gather(const double *src, int64_t count, int64_t b, int64_t d, int64_t i, double *p) {
    for (int64_t s = 0; s < count; s++)
        memcpy(p + s * d, src + (s * b + i) * d, sizeof(double) * d);
}

static int sample_geometry(const ds_traj_view *t, const ds_traj_geometry *g, int64_t i,
                           double *work) {
    int64_t S = t->steps, d = t->d, nd = t->n_denoised;
    double *p = work, *vec = p + S * d, *gram = vec + 2 * d, *vecs = gram + S * S;
    double *w = vecs + S * S;
    gather(t->x, S, t->b, d, i, p);
    const double *last = p + (S - 1) * d;
    for (int64_t s = 0; s < S; s++) g->dist_x[i * S + s] = dist(p + s * d, last, d);
    for (int64_t s = 0; s < nd; s++)
        g->dist_denoised[i * nd + s] = dist(t->denoised + (s * t->b + i) * d, last, d);
    chord_deviation(p, S, d, g->deviation + i * S, vec);
    if (S > 2) step_angles(p, S, d, g->angle + i * (S - 2), vec);
    return pca_fractions(p, S, d, g->pca_frac + i * 3, gram, vecs, w);
}

int ds_traj_geometry_compute(const ds_traj_view *t, ds_traj_geometry *g) {
    memset(g, 0, sizeof *g);
    int64_t S = t->steps, B = t->b, d = t->d;
    if (S < 2 || B < 1 || d < 1)
        return ds_fail("trajectory: %lld points of %lld samples of dimension %lld (expected at "
                       "least 2 points, 1 sample, dimension 1)",
                       (long long)S, (long long)B, (long long)d);
    if (t->n_denoised != S && t->n_denoised != S - 1)
        return ds_fail("trajectory: %lld denoised points for %lld points (expected %lld or %lld)",
                       (long long)t->n_denoised, (long long)S, (long long)S, (long long)(S - 1));
    g->steps = S;
    g->b = B;
    g->n_denoised = t->n_denoised;
    g->deviation = ds_try_alloc((size_t)(B * S), sizeof(double), "trajectory");
    g->angle = ds_try_alloc((size_t)(B * (S > 2 ? S - 2 : 1)), sizeof(double), "trajectory");
    g->pca_frac = ds_try_alloc((size_t)(B * 3), sizeof(double), "trajectory");
    g->dist_x = ds_try_alloc((size_t)(B * S), sizeof(double), "trajectory");
    g->dist_denoised = ds_try_alloc((size_t)(B * S), sizeof(double), "trajectory");
    // One work row per thread, allocated here so that a failure is this thread's error.
    int threads = ds_threads_for((double)B * (double)S * (double)(S + 3) * (double)d);
    size_t row = (size_t)(S * d + 2 * d + 2 * S * S + S);
    double *works = ds_try_alloc((size_t)threads * row, sizeof(double), "trajectory");
    if (!g->deviation || !g->angle || !g->pca_frac || !g->dist_x || !g->dist_denoised || !works) {
        free(works);
        ds_traj_geometry_free(g);
        return -1;
    }
    int64_t failed = -1; // a failing sample (errors are recorded per thread)
#pragma omp parallel num_threads(threads)
    {
        double *work = works + (size_t)omp_get_thread_num() * row;
#pragma omp for schedule(dynamic)
        for (int64_t i = 0; i < B; i++)
            if (sample_geometry(t, g, i, work) != 0) {
#pragma omp atomic write
                failed = i;
            }
    }
    free(works);
    if (failed < 0) return 0;
    ds_traj_geometry_free(g);
    return ds_fail("trajectory: the eigendecomposition of sample %lld's Gram matrix failed",
                   (long long)failed);
}

void ds_traj_geometry_free(ds_traj_geometry *g) {
    free(g->deviation);
    free(g->angle);
    free(g->pca_frac);
    free(g->dist_x);
    free(g->dist_denoised);
    memset(g, 0, sizeof *g);
}
