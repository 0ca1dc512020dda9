// The cpu els row (Kamb & Ganguli's equivariant local score machine; the formula is in
// host/backends/ref_patch.c). Every output pixel p has a softmax over every image k and
// position q, in double from the float rows, by one of two paths:
// - direct (small patches, C P^2 <= ELS_DIRECT_LEN): pixel p's hw candidates in image k
//   at a time, each distance summed term by term from zero-padded copies of the query
//   and the image, one pass along the image rows per term (vectorised, branch-free),
//   then one vectorised softmax step over the hw logits. C P^2 multiply-adds per
//   candidate, rounding ~1e-16 of the distance itself.
// - window sums (any patch): the patch distance is expanded,
//     |patch_p(x) - patch_q(y)|^2 = |patch_p(x)|^2 + |patch_q(y)|^2 - 2 patch_p(x).patch_q(y),
//   the squared norms are window sums of the per-pixel squares (once per query, once per
//   image), and for each displacement q - p the dot products of all pairs (p, p + delta)
//   are one window sum of the product image x(u) . y(u + delta) over the pixels where
//   both are inside (zero elsewhere: the zero padding). One image then costs (HW)^2 (C +
//   a few) operations whatever the patch. The expansion loses ~1e-16 of |patch|^2, so
//   logits ~1e-16 |patch|^2 / (2 sigma^2) (1e-9 at sigma = 0.002 for unit pixels), where
//   float32 would lose 1e-7.
#include <math.h>
#include <string.h>

#include "cpu_patch.h"
#include "cpu_softmax.h"
#include "patch_box.h"

// Patches with at most this many values (C P^2) take the direct path (its cost grows
// with C P^2, the window sums' does not; the crossover measured in bench/RESULTS.md).
#define ELS_DIRECT_LEN 64

static int uses_direct(const ds_model *m, int64_t patch) {
    return m->channels * patch * patch <= ELS_DIRECT_LEN;
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

// Lanes of the explicit partial sums below (vectorised in a fixed order: every
// CPU_VECTOR_CLONES version gives the same bits).
#define LANES 8
typedef double lanes __attribute__((vector_size(LANES * sizeof(double))));
#define BLOCKS 4

// sum_q a[q] over n values, in LANES partial sums.
static inline double lane_sum(const double *a, int64_t n) {
    double part[LANES] = {0}, sum = 0;
    int64_t q = 0;
    for (; q + LANES <= n; q += LANES)
        for (int k = 0; k < LANES; k++) part[k] += a[q + k];
    for (; q < n; q++) sum += a[q];
    for (int k = 0; k < LANES; k++) sum += part[k];
    return sum;
}

// sum_q a[q] b[q] over n values, in LANES partial sums.
static inline double lane_dot(const double *a, const double *b, int64_t n) {
    double part[LANES] = {0}, sum = 0;
    int64_t q = 0;
    for (; q + LANES <= n; q += LANES)
        for (int k = 0; k < LANES; k++) part[k] += a[q + k] * b[q + k];
    for (; q < n; q++) sum += a[q] * b[q];
    for (int k = 0; k < LANES; k++) sum += part[k];
    return sum;
}

// The direct path's images: zero-padded by half = P / 2 on every side, hp x wp per
// channel; its candidates run in the padded row layout q' = qi wp + qj (qj < wp, the
// columns qj >= w out of the image: logit -inf).
typedef struct {
    int64_t channels, h, w, patch, hp, wp, run; // run = h wp candidates
} padded_shape;

static padded_shape padded_of(const ds_model *m, int64_t patch) {
    int64_t hp = m->height + patch - 1, wp = m->width + patch - 1;
    return (padded_shape){m->channels, m->height, m->width, patch, hp, wp, m->height * wp};
}

// Doubles of one padded image: the channels, and patch values of slack (the last terms'
// reads along the row layout run up to patch - 2 past the end).
static int64_t padded_len(padded_shape ps) {
    return ps.channels * ps.hp * ps.wp + ps.patch;
}

// out (padded) = v (channels x h x w) with its zero border.
static void pad_floats(const float *v, padded_shape ps, double *out) {
    int64_t half = ps.patch / 2;
    for (int64_t e = 0; e < padded_len(ps); e++) out[e] = 0;
    for (int64_t c = 0; c < ps.channels; c++)
        for (int64_t i = 0; i < ps.h; i++)
            for (int64_t j = 0; j < ps.w; j++)
                out[(c * ps.hp + i + half) * ps.wp + j + half] = v[(c * ps.h + i) * ps.w + j];
}

// l (run) = -scale |patch_p(x) - patch_q(y)|^2 for every candidate q' of one image: term
// by term, each term one contiguous pass over the row layout (vectorised; the padding
// makes the boundary branch-free). Then pixel p's softmax step over them: l becomes
// their weights, the values the image's padded pixels at the same q'.
CPU_VECTOR_CLONES static void direct_pixel(const double *xpad, const double *ypad, padded_shape ps,
                                           int64_t p, double scale, double *l, softmax_state *s) {
    int64_t hp = ps.hp, wp = ps.wp, run = ps.run, pi = p / ps.w, pj = p % ps.w, q;
    int64_t half = ps.patch / 2, terms = 0, off[ELS_DIRECT_LEN];
    double xv[ELS_DIRECT_LEN];
    for (int64_t c = 0; c < ps.channels; c++)
        for (int64_t a = 0; a < ps.patch; a++)
            for (int64_t b = 0; b < ps.patch; b++, terms++)
                xv[terms] = xpad[(c * hp + pi + a) * wp + pj + b],
                off[terms] = (c * hp + a) * wp + b;
    // BLOCKS x LANES candidates at a time, their distances in vector registers over the
    // terms (independent chains of additions, so the loop is not bound by their latency)
    for (q = 0; q + BLOCKS * LANES <= run; q += BLOCKS * LANES) {
        lanes acc[BLOCKS] = {{0}};
        for (int64_t t = 0; t < terms; t++)
            for (int j = 0; j < BLOCKS; j++) {
                lanes yt;
                memcpy(&yt, ypad + off[t] + q + j * LANES, sizeof yt);
                lanes diff = xv[t] - yt;
                acc[j] += diff * diff;
            }
        for (int j = 0; j < BLOCKS; j++) {
            acc[j] *= -scale;
            memcpy(l + q + j * LANES, &acc[j], sizeof acc[j]);
        }
    }
    for (; q < run; q++) {
        double acc = 0;
        for (int64_t t = 0; t < terms; t++) {
            double diff = xv[t] - ypad[off[t] + q];
            acc += diff * diff;
        }
        l[q] = -scale * acc;
    }
    for (int64_t qi = 0; qi < ps.h; qi++)
        for (int64_t qj = ps.w; qj < wp; qj++) l[qi * wp + qj] = -INFINITY;
    double part[LANES], top = -INFINITY;
    for (int k = 0; k < LANES; k++) part[k] = -INFINITY;
    for (q = 0; q + LANES <= run; q += LANES)
        for (int k = 0; k < LANES; k++) part[k] = l[q + k] > part[k] ? l[q + k] : part[k];
    for (; q < run; q++) top = l[q] > top ? l[q] : top;
    for (int k = 0; k < LANES; k++) top = part[k] > top ? part[k] : top;
    int64_t hw = s->hw;
    if (top > s->top[p]) {
        double shrink = ds_exp_neg(ds_exp_arg(s->top[p] - top));
        s->z[p] *= shrink;
        for (int64_t c = 0; c < ps.channels; c++) s->acc[c * hw + p] *= shrink;
        s->top[p] = top;
    }
    top = s->top[p];
    for (q = 0; q < run; q++) l[q] = ds_exp_arg(l[q] - top); // out of the image: e^-707
    for (q = 0; q < run; q++) l[q] = ds_exp_neg(l[q]);
    s->z[p] += lane_sum(l, run);
    for (int64_t c = 0; c < ps.channels; c++)
        s->acc[c * hw + p] += lane_dot(l, ypad + (c * hp + half) * wp + half, run);
}

// The direct path (small patches): pixel p's candidates of image k at a time, C P^2
// multiply-adds per candidate.
static void direct_row(const ds_model *m, const float *y, const float *x, int64_t patch,
                       double scale, softmax_state *s, double *work) {
    padded_shape ps = padded_of(m, patch);
    int64_t len = padded_len(ps), d = m->d;
    double *xpad = work, *ypad = xpad + len, *l = ypad + len;
    pad_floats(x, ps, xpad);
    for (int64_t k = 0; k < m->data.n; k++) {
        pad_floats(y + k * d, ps, ypad);
        for (int64_t p = 0; p < s->hw; p++) direct_pixel(xpad, ypad, ps, p, scale, l, s);
    }
}

// The direct path's work for its largest patch: two padded images and a row of logits
// (0: no patch of the model takes it).
static int64_t direct_work(const ds_model *m) {
    int64_t most = 0;
    for (int64_t k = 0; k < (m->patch_steps ? m->patch_steps : 1); k++) {
        int64_t patch = m->patch_steps ? (int64_t)m->patch_schedule[2 * k + 1] : m->patch_size;
        padded_shape ps = padded_of(m, patch);
        int64_t len = 2 * padded_len(ps) + ps.run;
        if (uses_direct(m, patch) && len > most) most = len;
    }
    return most;
}

int64_t cpu_els_work_len(const ds_model *m) {
    int64_t h = m->height, w = m->width, hw = h * w, direct = direct_work(m);
    // x, the softmax state, a row of weights; then each path's own
    int64_t windows = m->d + 6 * hw + ds_box_work_len(h, w);
    return 2 * m->d + 3 * hw + (windows > direct ? windows : direct);
}

void cpu_els_row(const ds_model *m, const float *y, const float *xf, double sigma, float *out,
                 double *work) {
    int64_t hw = m->height * m->width, d = m->d, patch = ds_patch_at(m, sigma);
    double scale = 1.0 / (2.0 * sigma * sigma), *x = work;
    softmax_state s = {m->channels, hw, x + d, x + d + hw, x + d + 2 * hw, x + 2 * d + 2 * hw};
    for (int64_t e = 0; e < d; e++) x[e] = xf[e], s.acc[e] = 0;
    for (int64_t p = 0; p < hw; p++) s.top[p] = -INFINITY, s.z[p] = 0;
    double *rest = s.e + hw;
    if (uses_direct(m, patch))
        direct_row(m, y, xf, patch, scale, &s, rest);
    else
        windows_row(m, y, x, patch, scale, &s, rest);
    for (int64_t e = 0; e < d; e++) out[e] = (float)(s.acc[e] / s.z[e % hw]);
}
