// The linear_features model (Vastola, "Generalization through variance", ICLR 2025): one
// trained model of the paper's linear-feature denoiser, transcribed from the authors' code
// (github.com/john-vastola/gtv-iclr25: functions/linear_functions_1d.py and _2d.py,
// functions/general_functions.py, the notebooks of figures 2 and 3).
//
// VP process (get_time_funcs, option 'VP'): alpha(t) = exp(-(beta_min t + beta_d t^2 / 2)),
// beta_min = 0.1, beta_d = 19.9, sig_sq(t) = 1 - alpha^2, x_t = alpha x0 + sqrt(sig_sq) n,
// t in [eps, T], T = 1. In diffsamp's convention x = x_t / alpha and sigma = sqrt(sig_sq) /
// alpha, so alpha = 1 / sqrt(1 + sigma^2) and t(sigma) solves beta_min t + beta_d t^2 / 2 =
// log(1 + sigma^2) / 2.
//
// Features (phi_gauss, get_phi_crossed_func_*d): per coordinate F Gaussian densities
// N(v; mu_k, s) with centres mu_k = linspace(-1.5, 1.5, F) and s = half their spacing; in
// time F densities with centres linspace(eps, T, F) and s = half their spacing, evaluated
// at the VP time t itself. phi is their tensor product, F^d F features, the coordinates'
// indices first and time last (index ((k_1 F + k_2) F + k_t) in 2-D, as numpy's reshape).
//
// Training (train_phi_denoise): P draws, each a uniform training row x0_p, a time t_p
// uniform on [eps, T] and fresh noise; with the weight l = alpha^2 / sig_sq (the 1-D code
// adds 1e-8 to sig_sq, the 2-D code does not; followed here), Sigma = (1/P) sum_p l_p phi_p
// phi_p^T and A = (1/P) sum_p l_p x0_p phi_p^T, then W = A (Sigma + ridge I)^-1 (ridge
// 0.1). The denoiser is D(x_t, t) = W phi(x_t, t), an estimate of x0: in diffsamp's
// convention D(x; sigma) = W phi(x / sqrt(1 + sigma^2), t(sigma)).
//
// The draws come from the Philox stream of the seed: draw p takes the four raw outputs of
// (seed, row p, block 0) for its row (the first two, 53 bits) and its time (the last two),
// and its noise from the normals of (seed, row p, columns 4 .. 4 + d - 1).
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "ds_error.h"
#include "ds_philox.h"
#include "linear_features.h"

#define VP_BETA_MIN 0.1
#define VP_BETA_D 19.9
#define VP_T 1.0
// Draws whose features are gathered into one block for the covariance's DSYRK.
#define DRAW_BLOCK 256

int64_t linear_features_count(int64_t d, int64_t per_axis) {
    int64_t count = per_axis;
    for (int64_t a = 0; a < d; a++) count *= per_axis;
    return count;
}

// The root of beta_d t^2 / 2 + beta_min t - b = 0 in the form without cancellation.
double linear_features_time(double sigma) {
    double b = 0.5 * log1p(sigma * sigma);
    return 2 * b / (VP_BETA_MIN + sqrt(VP_BETA_MIN * VP_BETA_MIN + 2 * VP_BETA_D * b));
}

int linear_features_check(const char *who, int64_t d, int64_t per_axis, int64_t draws,
                          double cutoff, double ridge, double range) {
    if (d < 1 || d > 2)
        return ds_fail("%s: data of d = %lld (expected d = 1 or 2: the paper's F^d x F "
                       "Gaussian-bump features are solved in closed form for 1-D and 2-D data)",
                       who, (long long)d);
    if (per_axis < 2 || per_axis > LINEAR_FEATURES_MAX_AXIS ||
        linear_features_count(d, per_axis) > LINEAR_FEATURES_MAX)
        return ds_fail("%s: %lld features per axis (expected 2 .. %d, and F^%lld x F <= %d "
                       "features in all)",
                       who, (long long)per_axis, LINEAR_FEATURES_MAX_AXIS, (long long)d,
                       LINEAR_FEATURES_MAX);
    if (draws < 1 || draws > 100000000)
        return ds_fail("%s: %lld draws (expected 1 .. 100000000)", who, (long long)draws);
    if (!(cutoff > 0 && cutoff < VP_T))
        return ds_fail("%s: time cutoff %g (expected 0 < eps < T = 1)", who, cutoff);
    if (!(ridge > 0) || !isfinite(ridge))
        return ds_fail("%s: ridge %g (expected a finite value > 0)", who, ridge);
    if (!(range > 0) || !isfinite(range))
        return ds_fail("%s: feature range %g (expected a finite value > 0)", who, range);
    return 0;
}

// The Gaussian density with mean mu and standard deviation s at v (scipy's norm.pdf).
static double bump(double v, double mu, double s) {
    double z = (v - mu) / s;
    return exp(-0.5 * z * z) / (s * 2.5066282746310002);
}

// phi (F^d F) at the VP coordinates xv (d) and time t, in the authors' order.
static void features(int64_t d, int64_t per_axis, double range, double cutoff, const double *xv,
                     double t, double *phi) {
    double axes[2][LINEAR_FEATURES_MAX_AXIS], times[LINEAR_FEATURES_MAX_AXIS];
    double dx = 2 * range / (double)(per_axis - 1), dt = (VP_T - cutoff) / (double)(per_axis - 1);
    for (int64_t k = 0; k < per_axis; k++) {
        for (int64_t a = 0; a < d; a++) axes[a][k] = bump(xv[a], -range + dx * (double)k, 0.5 * dx);
        times[k] = bump(t, cutoff + dt * (double)k, 0.5 * dt);
    }
    int64_t spatial = linear_features_count(d, per_axis) / per_axis;
    for (int64_t s = 0; s < spatial; s++) {
        double p = d == 1 ? axes[0][s] : axes[0][s / per_axis] * axes[1][s % per_axis];
        for (int64_t k = 0; k < per_axis; k++) phi[s * per_axis + k] = p * times[k];
    }
}

void linear_features_row(const ds_model *m, const double *x, double sigma, double *out) {
    double phi[LINEAR_FEATURES_MAX], xv[2];
    int64_t d = m->d, count = linear_features_count(d, m->features_per_axis);
    double alpha = 1 / sqrt(1 + sigma * sigma);
    for (int64_t j = 0; j < d; j++) xv[j] = alpha * x[j];
    features(d, m->features_per_axis, m->feature_range, m->feature_cutoff, xv,
             linear_features_time(sigma), phi);
    for (int64_t j = 0; j < d; j++) {
        const double *w = m->feature_weights + j * count;
        double s = 0;
        for (int64_t f = 0; f < count; f++) s += w[f] * phi[f];
        out[j] = s;
    }
}

// A double in [0, 1) from 53 bits of two raw Philox outputs.
static double unit_uniform(uint32_t hi, uint32_t lo) {
    return ((double)(hi >> 5) * 67108864.0 + (double)(lo >> 6)) * 0x1p-53;
}

// Draw p: its features scaled by sqrt(l) into g (F), and sqrt(l) x0 into b (d).
static void draw(const ds_data *data, const ds_model *m, int64_t p, double *g, double *b) {
    int64_t d = data->d, count = linear_features_count(d, m->features_per_axis);
    ds_philox_u4 r = ds_philox_block(m->feature_seed, p, 0);
    int64_t row = (int64_t)(unit_uniform(r.v[0], r.v[1]) * (double)data->n);
    if (row >= data->n) row = data->n - 1;
    double t = m->feature_cutoff + (VP_T - m->feature_cutoff) * unit_uniform(r.v[2], r.v[3]);
    double integral = VP_BETA_MIN * t + 0.5 * VP_BETA_D * t * t, alpha = exp(-integral);
    double sig_sq = -expm1(-2 * integral), xv[2];
    double root = sqrt(alpha * alpha / (sig_sq + (d == 1 ? 1e-8 : 0)));
    for (int64_t j = 0; j < d; j++) {
        double x0 = ds_data_value(data, row, j);
        xv[j] = alpha * x0 + sqrt(sig_sq) * ds_philox_normal(m->feature_seed, p, 4 + j);
        b[j] = root * x0;
    }
    features(d, m->features_per_axis, m->feature_range, m->feature_cutoff, xv, t, g);
    for (int64_t f = 0; f < count; f++) g[f] *= root;
}

// Sigma (F x F, upper triangle) and A^T (F x d), each times P, over blocks of draws.
static int accumulate(const ds_data *data, const ds_model *m, double *sigma, double *at) {
    int64_t d = data->d, count = linear_features_count(d, m->features_per_axis);
    double *g = ds_try_alloc((size_t)(DRAW_BLOCK * count), sizeof(double), "linear_features fit");
    if (!g) return -1;
    double b[2];
    for (int64_t first = 0; first < m->feature_draws; first += DRAW_BLOCK) {
        int64_t rows =
            m->feature_draws - first < DRAW_BLOCK ? m->feature_draws - first : DRAW_BLOCK;
        for (int64_t i = 0; i < rows; i++) {
            double *gi = g + i * count;
            draw(data, m, first + i, gi, b);
            // l phi x0^T = (sqrt(l) phi) (sqrt(l) x0)^T; gi holds sqrt(l) phi, b sqrt(l) x0.
            for (int64_t f = 0; f < count; f++)
                for (int64_t j = 0; j < d; j++) at[f * d + j] += gi[f] * b[j];
        }
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)count, (int)rows, 1.0, g,
                    (int)count, 1.0, sigma, (int)count);
    }
    free(g);
    return 0;
}

int linear_features_fit(const ds_data *data, const ds_fit_opts *o, ds_model *out) {
    int64_t d = data->d, per_axis = o->features_per_axis ? o->features_per_axis : d == 1 ? 16 : 10;
    DS_TRY(linear_features_check("linear_features", d, per_axis, o->feature_draws,
                                 o->feature_cutoff, o->feature_ridge, o->feature_range));
    out->features_per_axis = per_axis, out->feature_draws = o->feature_draws;
    out->feature_cutoff = o->feature_cutoff, out->feature_ridge = o->feature_ridge;
    out->feature_range = o->feature_range, out->feature_seed = o->seed;
    int64_t count = linear_features_count(d, per_axis);
    double *sigma = ds_try_alloc((size_t)(count * count), sizeof(double), "linear_features fit");
    double *at =
        sigma ? ds_try_alloc((size_t)(count * d), sizeof(double), "linear_features fit") : NULL;
    out->feature_weights =
        at ? ds_try_alloc((size_t)(count * d), sizeof(double), "linear_features fit") : NULL;
    int rc = out->feature_weights ? accumulate(data, out, sigma, at) : -1;
    if (!rc) {
        // (Sigma + ridge I) W^T = A^T: Sigma is positive semidefinite, so with the ridge
        // the matrix is positive definite and Cholesky solves it.
        double inv_p = 1 / (double)out->feature_draws;
        for (int64_t f = 0; f < count; f++) {
            for (int64_t g = f; g < count; g++) sigma[f * count + g] *= inv_p;
            sigma[f * count + f] += out->feature_ridge;
            for (int64_t j = 0; j < d; j++) at[f * d + j] *= inv_p;
        }
        lapack_int info = LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', (lapack_int)count, (lapack_int)d,
                                        sigma, (lapack_int)count, at, (lapack_int)d);
        if (info)
            rc = ds_fail("linear_features: the Cholesky solve failed (LAPACKE_dposv info %d)",
                         (int)info);
    }
    for (int64_t f = 0; !rc && f < count; f++)
        for (int64_t j = 0; j < d; j++) out->feature_weights[j * count + f] = at[f * d + j];
    free(sigma);
    free(at);
    return rc;
}
