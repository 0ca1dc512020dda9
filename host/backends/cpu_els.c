// The cpu els row (Kamb & Ganguli's equivariant local score machine; the formula is in
// host/backends/ref_patch.c). Every output pixel p has a softmax over every image k and
// position q. The patch distance is expanded,
//   |patch_p(x) - patch_q(y)|^2 = |patch_p(x)|^2 + |patch_q(y)|^2 - 2 patch_p(x).patch_q(y),
// the squared norms are window sums of the per-pixel squares (once per query, once per
// image), and for each displacement q - p the dot products of all pairs (p, p + delta)
// are one window sum of the product image x(u) . y(u + delta) over the pixels where both
// are inside (zero elsewhere: the zero padding). One image then costs (HW)^2 (C + a few)
// operations whatever the patch, instead of (HW)^2 C P^2 for the direct distances. In
// double: the expansion loses ~1e-16 of |patch|^2, so logits ~1e-16 |patch|^2 /
// (2 sigma^2) (1e-9 at sigma = 0.002 for unit pixels), where float32 would lose 1e-7.
// For small patches (C P^2 <= ELS_GEMM_LEN, images up to ELS_GEMM_PIXELS) the dot
// products of all pairs are one DGEMM of the query's and the image's patches (HW x C P^2
// each) instead, and each pixel's candidates are then contiguous: their weights are one
// vectorised pass, their sums BLAS dot products. |patch_p(x)|^2 is the same for all of
// pixel p's candidates, so it drops out of its softmax.
#include <cblas.h>
#include <math.h>

#include "cpu_patch.h"
#include "patch_box.h"

// Patches with at most this many values (C P^2) take the DGEMM path (timed once on the
// 2-core shared machine at Fashion-MNIST size, one thread: faster than the window sums
// up to C P^2 = 9, about equal at 25, slower beyond, where the window sums' cost stays
// flat).
#define ELS_GEMM_LEN 16
// and images of at most this many pixels: its HW x HW product is 32 MB per thread there.
#define ELS_GEMM_PIXELS 2048

static int uses_gemm(const ds_model *m, int64_t patch) {
    return m->channels * patch * patch <= ELS_GEMM_LEN &&
           (int64_t)m->height * m->width <= ELS_GEMM_PIXELS;
}

// The largest C P^2 of the DGEMM path over the model's patches (0: none uses it).
static int64_t gemm_len(const ds_model *m) {
    int64_t most = 0;
    for (int64_t k = 0; k < (m->patch_steps ? m->patch_steps : 1); k++) {
        int64_t patch = m->patch_steps ? (int64_t)m->patch_schedule[2 * k + 1] : m->patch_size;
        int64_t len = m->channels * patch * patch;
        if (uses_gemm(m, patch) && len > most) most = len;
    }
    return most;
}

int64_t cpu_els_work_len(const ds_model *m) {
    int64_t h = m->height, w = m->width, hw = h * w, len = gemm_len(m);
    // x, the softmax state, a row of weights; then each path's own
    int64_t windows = 6 * hw, gemm = len ? 2 * hw + 2 * hw * len + hw * hw : 0;
    return 3 * m->d + 3 * hw + ds_box_work_len(h, w) + (windows > gemm ? windows : gemm);
}

// out (hw x channels patch^2) = the patches of v (channels x h x w) centred on each
// pixel, zero outside the image.
static void patches_of(const double *v, int64_t channels, int64_t h, int64_t w, int64_t patch,
                       double *out) {
    int64_t half = patch / 2, len = channels * patch * patch;
    for (int64_t p = 0; p < h * w; p++) {
        double *o = out + p * len;
        for (int64_t c = 0; c < channels; c++)
            for (int64_t a = p / w - half; a <= p / w + half; a++)
                for (int64_t b = p % w - half; b <= p % w + half; b++)
                    *o++ = a < 0 || a >= h || b < 0 || b >= w ? 0 : v[(c * h + a) * w + b];
    }
}

// sq (hw) = the squares of v (channels x hw) summed over the channels.
static void channel_squares(const double *v, int64_t channels, int64_t hw, double *sq) {
    for (int64_t p = 0; p < hw; p++) sq[p] = 0;
    for (int64_t c = 0; c < channels; c++)
        for (int64_t p = 0; p < hw; p++) sq[p] += v[c * hw + p] * v[c * hw + p];
}

typedef struct {
    int64_t channels, hw;
    double *top, *z, *acc; // per pixel: running maximum, sum of weights, weighted values
    double *e;             // one row of weights
} softmax_state;

// Folds candidates into the softmax of the len pixels p0 ..: logit l[j] for pixel p0 + j,
// with value column p0 + j + shift of y (channels x hw). A new maximum rescales its
// pixel first (rare after the first images), so the weights loop has no branch.
static void fold_run(softmax_state *s, int64_t p0, int64_t len, const double *l, const double *y,
                     int64_t shift) {
    int64_t hw = s->hw;
    double *top = s->top + p0, *z = s->z + p0, *e = s->e;
    for (int64_t j = 0; j < len; j++)
        if (l[j] > top[j]) {
            double shrink = ds_exp_neg(ds_exp_arg(top[j] - l[j]));
            z[j] *= shrink;
            for (int64_t c = 0; c < s->channels; c++) s->acc[c * hw + p0 + j] *= shrink;
            top[j] = l[j];
        }
    for (int64_t j = 0; j < len; j++) e[j] = ds_exp_arg(l[j] - top[j]);
    for (int64_t j = 0; j < len; j++) {
        e[j] = ds_exp_neg(e[j]);
        z[j] += e[j];
    }
    for (int64_t c = 0; c < s->channels; c++) {
        double *acc = s->acc + c * hw + p0;
        const double *v = y + c * hw + p0 + shift;
        for (int64_t j = 0; j < len; j++) acc[j] += e[j] * v[j];
    }
}

// The window-sum path (any patch): candidates arrive by displacement.
static void windows_row(const ds_model *m, const float *y, const double *x, int64_t patch,
                        double scale, softmax_state *s, double *work) {
    int64_t n = m->data.n, ch = m->channels, h = m->height, w = m->width, hw = h * w, d = m->d;
    int64_t half = patch / 2;
    double *yk = work, *nx = yk + d, *ny = nx + hw, *sq = ny + hw, *g = sq + hw;
    double *dots = g + hw, *logit = dots + hw, *box = logit + hw;
    channel_squares(x, ch, hw, sq);
    ds_box_sums(sq, h, w, -half, patch, h, w, nx, box);
    for (int64_t k = 0; k < n; k++) {
        for (int64_t e = 0; e < d; e++) yk[e] = y[k * d + e];
        channel_squares(yk, ch, hw, sq);
        ds_box_sums(sq, h, w, -half, patch, h, w, ny, box);
        for (int64_t di = 1 - h; di < h; di++)
            for (int64_t dj = 1 - w; dj < w; dj++) {
                // pixels p with p + (di, dj) inside: rows i0 .. i0 + hv - 1, columns j0 ..
                int64_t i0 = di < 0 ? -di : 0, j0 = dj < 0 ? -dj : 0;
                int64_t hv = h - (di < 0 ? -di : di), wv = w - (dj < 0 ? -dj : dj);
                int64_t shift = di * w + dj;
                for (int64_t i = 0; i < hv; i++) {
                    double *gi = g + i * wv;
                    const double *xi = x + (i0 + i) * w + j0, *yi = yk + (i0 + i) * w + j0 + shift;
                    for (int64_t j = 0; j < wv; j++) gi[j] = xi[j] * yi[j];
                    for (int64_t c = 1; c < ch; c++)
                        for (int64_t j = 0; j < wv; j++) gi[j] += xi[c * hw + j] * yi[c * hw + j];
                }
                ds_box_sums(g, hv, wv, -half, patch, hv, wv, dots, box);
                for (int64_t i = 0; i < hv; i++) {
                    int64_t p0 = (i0 + i) * w + j0;
                    for (int64_t j = 0; j < wv; j++)
                        logit[j] = (2 * dots[i * wv + j] - nx[p0 + j] - ny[p0 + j + shift]) * scale;
                    fold_run(s, p0, wv, logit, yk, shift);
                }
            }
    }
}

// The DGEMM path (small patches): all of image k's candidates of pixel p in row p of
// the product; logits without the pixel's own |patch_p(x)|^2.
static void gemm_row(const ds_model *m, const float *y, const double *x, int64_t patch,
                     double scale, softmax_state *s, double *work) {
    int64_t n = m->data.n, ch = m->channels, h = m->height, w = m->width, hw = h * w, d = m->d;
    int64_t len = ch * patch * patch;
    double *yk = work, *ny = yk + d, *sq = ny + hw, *qx = sq + hw, *qy = qx + hw * len;
    double *dots = qy + hw * len, *box = dots + hw * hw;
    patches_of(x, ch, h, w, patch, qx);
    for (int64_t k = 0; k < n; k++) {
        for (int64_t e = 0; e < d; e++) yk[e] = y[k * d + e];
        channel_squares(yk, ch, hw, sq);
        ds_box_sums(sq, h, w, -(patch / 2), patch, h, w, ny, box);
        patches_of(yk, ch, h, w, patch, qy);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)hw, (int)hw, (int)len, 2.0, qx,
                    (int)len, qy, (int)len, 0.0, dots, (int)hw);
        for (int64_t p = 0; p < hw; p++) {
            double *l = dots + p * hw, top = -INFINITY;
            for (int64_t q = 0; q < hw; q++) l[q] = (l[q] - ny[q]) * scale;
            for (int64_t q = 0; q < hw; q++) top = l[q] > top ? l[q] : top;
            if (top > s->top[p]) {
                double shrink = ds_exp_neg(ds_exp_arg(s->top[p] - top));
                s->z[p] *= shrink;
                for (int64_t c = 0; c < ch; c++) s->acc[c * hw + p] *= shrink;
                s->top[p] = top;
            }
            top = s->top[p];
            for (int64_t q = 0; q < hw; q++) l[q] = ds_exp_arg(l[q] - top);
            for (int64_t q = 0; q < hw; q++) l[q] = ds_exp_neg(l[q]);
            s->z[p] += cblas_dasum((int)hw, l, 1); // weights >= 0: their sum
            for (int64_t c = 0; c < ch; c++)
                s->acc[c * hw + p] += cblas_ddot((int)hw, l, 1, yk + c * hw, 1);
        }
    }
}

void cpu_els_row(const ds_model *m, const float *y, const float *xf, double sigma, float *out,
                 double *work) {
    int64_t hw = m->height * m->width, d = m->d, patch = ds_patch_at(m, sigma);
    double scale = 1.0 / (2.0 * sigma * sigma), *x = work;
    softmax_state s = {m->channels, hw, x + d, x + d + hw, x + d + 2 * hw, x + 2 * d + 2 * hw};
    for (int64_t e = 0; e < d; e++) x[e] = xf[e], s.acc[e] = 0;
    for (int64_t p = 0; p < hw; p++) s.top[p] = -INFINITY, s.z[p] = 0;
    double *rest = s.e + hw;
    if (uses_gemm(m, patch))
        gemm_row(m, y, x, patch, scale, &s, rest);
    else
        windows_row(m, y, x, patch, scale, &s, rest);
    for (int64_t e = 0; e < d; e++) out[e] = (float)(s.acc[e] / s.z[e % hw]);
}
