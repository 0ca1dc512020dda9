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
#include <math.h>

#include "cpu_patch.h"
#include "patch_box.h"

int64_t cpu_els_work_len(const ds_model *m) {
    int64_t h = m->height, w = m->width, hw = h * w;
    return 3 * m->d + 9 * hw + ds_box_work_len(h, w);
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
            double shrink = ds_exp_neg(top[j] - l[j]);
            z[j] *= shrink;
            for (int64_t c = 0; c < s->channels; c++) s->acc[c * hw + p0 + j] *= shrink;
            top[j] = l[j];
        }
    for (int64_t j = 0; j < len; j++) {
        e[j] = ds_exp_neg(l[j] - top[j]);
        z[j] += e[j];
    }
    for (int64_t c = 0; c < s->channels; c++) {
        double *acc = s->acc + c * hw + p0;
        const double *v = y + c * hw + p0 + shift;
        for (int64_t j = 0; j < len; j++) acc[j] += e[j] * v[j];
    }
}

void cpu_els_row(const ds_model *m, const float *y, const float *xf, double sigma, float *out,
                 double *work) {
    int64_t n = m->data.n, ch = m->channels, h = m->height, w = m->width, hw = h * w, d = m->d;
    int64_t patch = ds_patch_at(m, sigma), half = patch / 2;
    double scale = 1.0 / (2.0 * sigma * sigma);
    double *x = work, *yk = x + d, *nx = yk + d, *ny = nx + hw, *sq = ny + hw, *g = sq + hw;
    double *dots = g + hw, *logit = dots + hw;
    softmax_state s = {ch, hw, logit + hw, NULL, NULL, NULL};
    s.z = s.top + hw, s.e = s.z + hw, s.acc = s.e + hw;
    double *box = s.acc + d;
    for (int64_t e = 0; e < d; e++) x[e] = xf[e], s.acc[e] = 0;
    for (int64_t p = 0; p < hw; p++) s.top[p] = -INFINITY, s.z[p] = 0;
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
                    fold_run(&s, p0, wv, logit, yk, shift);
                }
            }
    }
    for (int64_t e = 0; e < d; e++) out[e] = (float)(s.acc[e] / s.z[e % hw]);
}
