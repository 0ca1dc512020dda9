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
    return 3 * m->d + 9 * hw + (h > w ? h : w) + 1;
}

// sq (hw) = the squares of v (channels x hw) summed over the channels.
static void channel_squares(const double *v, int64_t channels, int64_t hw, double *sq) {
    for (int64_t p = 0; p < hw; p++) sq[p] = 0;
    for (int64_t c = 0; c < channels; c++)
        for (int64_t p = 0; p < hw; p++) sq[p] += v[c * hw + p] * v[c * hw + p];
}

typedef struct {
    double *top, *z, *acc; // per pixel: running maximum, sum of weights, weighted values
} softmax_state;

// Folds candidate value column q of y (channels x hw) with logit l into pixel p's softmax.
static void fold(softmax_state *s, int64_t channels, int64_t hw, int64_t p, double l,
                 const double *y, int64_t q) {
    if (l < s->top[p] - DS_PATCH_SKIP) return;
    if (l > s->top[p]) {
        double shrink = exp(s->top[p] - l);
        s->z[p] *= shrink;
        for (int64_t c = 0; c < channels; c++) s->acc[c * hw + p] *= shrink;
        s->top[p] = l;
    }
    double e = exp(l - s->top[p]);
    s->z[p] += e;
    for (int64_t c = 0; c < channels; c++) s->acc[c * hw + p] += e * y[c * hw + q];
}

void cpu_els_row(const ds_model *m, const float *y, const float *xf, double sigma, float *out,
                 double *work) {
    int64_t n = m->data.n, ch = m->channels, h = m->height, w = m->width, hw = h * w, d = m->d;
    int64_t patch = ds_patch_at(m, sigma), half = patch / 2;
    double scale = 1.0 / (2.0 * sigma * sigma);
    double *x = work, *yk = x + d, *nx = yk + d, *ny = nx + hw, *sq = ny + hw, *g = sq + hw;
    double *dots = g + hw, *box = dots + hw;
    softmax_state s = {box + hw + (h > w ? h : w) + 1, NULL, NULL};
    s.z = s.top + hw, s.acc = s.z + hw;
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
                for (int64_t i = 0; i < hv; i++)
                    for (int64_t j = 0; j < wv; j++) {
                        int64_t p = (i0 + i) * w + j0 + j;
                        double dot = 0;
                        for (int64_t c = 0; c < ch; c++)
                            dot += x[c * hw + p] * yk[c * hw + p + shift];
                        g[i * wv + j] = dot;
                    }
                ds_box_sums(g, hv, wv, -half, patch, hv, wv, dots, box);
                for (int64_t i = 0; i < hv; i++)
                    for (int64_t j = 0; j < wv; j++) {
                        int64_t p = (i0 + i) * w + j0 + j;
                        double dist = nx[p] + ny[p + shift] - 2 * dots[i * wv + j];
                        fold(&s, ch, hw, p, -dist * scale, yk, p + shift);
                    }
            }
    }
    for (int64_t e = 0; e < d; e++) out[e] = (float)(s.acc[e] / s.z[e % hw]);
}
