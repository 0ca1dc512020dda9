// The cpu els row (Kamb & Ganguli's equivariant local score machine; the formula is in
// host/backends/ref_patch.c). Every output pixel p has a softmax over every image k and
// position q, in double from the float rows, by one of two paths:
// - direct (small patches, C P^2 <= ELS_DIRECT_LEN): pixel p's hw candidates in image k
//   at a time, each distance summed term by term from zero-padded copies of the query
//   and the image, 32 candidates in vector registers over the terms (branch-free: the
//   padding is the boundary). C P^2 multiply-adds per candidate, rounding ~1e-16 of the
//   distance itself.
// - row pairs (larger patches): the distance expanded (row_pair_row below), C P + a few
//   multiply-adds per candidate.
// Then one vectorised softmax step per pixel and image over its hw logits
// (fold_candidates). No N x H x W array is formed.
#include <math.h>
#include <string.h>

#include "cpu_patch.h"
#include "cpu_softmax.h"
#include "patch_box.h"

// Patches with at most this many values (C P^2) take the direct path (its cost grows
// with C P^2, the row pairs' with C P plus a few; measured in bench/RESULTS.md: direct is
// faster for grey 3 x 3 patches, the row pairs for RGB 3 x 3 and from 5 x 5).
#define ELS_DIRECT_LEN 16

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
} softmax_state;

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
// makes the boundary branch-free).
CPU_VECTOR_CLONES static void direct_logits(const double *xpad, const double *ypad, padded_shape ps,
                                            int64_t p, double scale, double *l) {
    int64_t hp = ps.hp, wp = ps.wp, run = ps.run, pi = p / ps.w, pj = p % ps.w, q;
    int64_t terms = 0, off[ELS_DIRECT_LEN];
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
}

// Pixel p's softmax step over n candidates of one image: logits l (overwritten by their
// weights), channel c's values at v + c stride.
CPU_VECTOR_CLONES static void fold_candidates(softmax_state *s, int64_t p, double *l, int64_t n,
                                              const double *v, int64_t stride) {
    int64_t hw = s->hw, q;
    double part[LANES], top = -INFINITY;
    for (int k = 0; k < LANES; k++) part[k] = -INFINITY;
    for (q = 0; q + LANES <= n; q += LANES)
        for (int k = 0; k < LANES; k++) part[k] = l[q + k] > part[k] ? l[q + k] : part[k];
    for (; q < n; q++) top = l[q] > top ? l[q] : top;
    for (int k = 0; k < LANES; k++) top = part[k] > top ? part[k] : top;
    if (top > s->top[p]) {
        double shrink = ds_exp_neg(ds_exp_arg(s->top[p] - top));
        s->z[p] *= shrink;
        for (int64_t c = 0; c < s->channels; c++) s->acc[c * hw + p] *= shrink;
        s->top[p] = top;
    }
    top = s->top[p];
    for (q = 0; q < n; q++) l[q] = ds_exp_arg(l[q] - top); // -inf: e^-707
    for (q = 0; q < n; q++) l[q] = ds_exp_neg(l[q]);
    s->z[p] += lane_sum(l, n);
    for (int64_t c = 0; c < s->channels; c++) s->acc[c * hw + p] += lane_dot(l, v + c * stride, n);
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
        for (int64_t p = 0; p < s->hw; p++) {
            direct_logits(xpad, ypad, ps, p, scale, l);
            // the values: the image's padded pixels at the same q'
            fold_candidates(s, p, l, ps.run, ypad + (patch / 2) * (ps.wp + 1), ps.hp * ps.wp);
        }
    }
}

// The row-pair path (larger patches). The distance is expanded,
//   |patch_p(x) - patch_q(y)|^2 = |patch_p(x)|^2 + |patch_q(y)|^2 - 2 D(p, q),
// the squared norms window sums of the per-pixel squares (once per query, once per image).
// For a pair of rows (pi, qi), R(u, v) = sum_c sum_a x_c(pi + a, u) y_c(qi + a, v) over
// the patch's rows a inside both images is a sum of P outer products of image rows, and
// D(p, q) = sum_b R(pj + b, qj + b) a window sum along R's diagonals (zero outside the
// image: the zero padding), taken as a difference of diagonal prefix sums. One candidate
// then costs C P + a few multiply-adds (vectorised along the rows) instead of C P^2. The
// expansion loses ~1e-16 of |patch|^2, so logits ~1e-16 |patch|^2 / (2 sigma^2) (1e-9 at
// sigma = 0.002 for unit pixels), where float32 would lose 1e-7.
typedef struct {
    int64_t channels, h, w, half;
    int64_t ws; // the rows' copies: w rounded up to PAIR_COLUMNS, zero beyond w
    int64_t wp; // R's padded side: w + 2 half + 1, at least half + 1 + ws
} row_pairs;

// Columns of R formed at a time: PAIR_COLUMNS / LANES vector registers per row.
#define PAIR_COLUMNS (4 * LANES)

static row_pairs row_pairs_of(const ds_model *m, int64_t patch) {
    int64_t half = patch / 2, w = m->width;
    int64_t ws = (w + PAIR_COLUMNS - 1) / PAIR_COLUMNS * PAIR_COLUMNS, wp = w + 2 * half + 1;
    return (row_pairs){m->channels, m->height, w,
                       half,        ws,        wp > half + 1 + ws ? wp : half + 1 + ws};
}

// out (channels x h x ws) = v (channels x h x w) with its rows zero-padded to ws.
static void pad_rows(const double *v, row_pairs rp, double *out) {
    for (int64_t r = 0; r < rp.channels * rp.h; r++)
        for (int64_t j = 0; j < rp.ws; j++) out[r * rp.ws + j] = j < rp.w ? v[r * rp.w + j] : 0;
}

// prefix (wp x wp) = the diagonal prefix sums of R for rows (pi, qi), R at offset half + 1
// and zero around it; x and y their padded rows. R's rows are formed PAIR_COLUMNS
// columns at a time in vector registers over the patch's rows and the channels.
CPU_VECTOR_CLONES static void diagonal_prefix(const double *x, const double *y, row_pairs rp,
                                              int64_t pi, int64_t qi, double *prefix) {
    int64_t h = rp.h, ws = rp.ws, wp = rp.wp, o = rp.half + 1;
    int64_t a0 = -rp.half, a1 = rp.half; // the patch's rows inside both images
    a0 = a0 > -pi ? a0 : -pi, a0 = a0 > -qi ? a0 : -qi;
    a1 = a1 < h - 1 - pi ? a1 : h - 1 - pi, a1 = a1 < h - 1 - qi ? a1 : h - 1 - qi;
    for (int64_t e = 0; e < wp * wp; e++) prefix[e] = 0;
    for (int64_t u = 0; u < rp.w; u++)
        for (int64_t v0 = 0; v0 < ws; v0 += PAIR_COLUMNS) {
            lanes acc[PAIR_COLUMNS / LANES] = {{0}};
            for (int64_t a = a0; a <= a1; a++)
                for (int64_t c = 0; c < rp.channels; c++) {
                    double xu = x[(c * h + pi + a) * ws + u];
                    const double *yr = y + (c * h + qi + a) * ws + v0;
                    for (int j = 0; j < PAIR_COLUMNS / LANES; j++) {
                        lanes yv;
                        memcpy(&yv, yr + j * LANES, sizeof yv);
                        acc[j] += xu * yv;
                    }
                }
            memcpy(prefix + (u + o) * wp + o + v0, acc, sizeof acc);
        }
    for (int64_t u = 1; u < wp; u++)
        for (int64_t v = 1; v < wp; v++) prefix[u * wp + v] += prefix[(u - 1) * wp + v - 1];
}

// The row-pair path: per image k and query row pi, the logits of pixels (pi, .) over all
// hw positions (one row of l per pixel), then each pixel's softmax step.
CPU_VECTOR_CLONES static void row_pair_row(const ds_model *m, const float *y, const double *x,
                                           int64_t patch, double scale, softmax_state *s,
                                           double *work) {
    int64_t n = m->data.n, ch = m->channels, h = m->height, w = m->width, hw = h * w, d = m->d;
    int64_t half = patch / 2, reach = 2 * half + 1;
    row_pairs rp = row_pairs_of(m, patch);
    double *yk = work, *xr = yk + d, *yr = xr + ch * h * rp.ws, *nx = yr + ch * h * rp.ws;
    double *ny = nx + hw, *sq = ny + hw, *prefix = sq + hw, *l = prefix + rp.wp * rp.wp;
    double *box = l + w * hw;
    pad_rows(x, rp, xr);
    channel_squares(x, ch, hw, sq);
    ds_box_sums(sq, h, w, -half, patch, h, w, nx, box);
    for (int64_t k = 0; k < n; k++) {
        for (int64_t e = 0; e < d; e++) yk[e] = y[k * d + e];
        pad_rows(yk, rp, yr);
        channel_squares(yk, ch, hw, sq);
        ds_box_sums(sq, h, w, -half, patch, h, w, ny, box);
        for (int64_t pi = 0; pi < h; pi++) {
            for (int64_t qi = 0; qi < h; qi++) {
                diagonal_prefix(xr, yr, rp, pi, qi, prefix);
                // D(pj, qj) = prefix(pj + reach, qj + reach) - prefix(pj, qj)
                for (int64_t pj = 0; pj < w; pj++) {
                    const double *hi = prefix + (pj + reach) * rp.wp + reach,
                                 *lo = prefix + pj * rp.wp, *nyq = ny + qi * w;
                    double *lp = l + pj * hw + qi * w, nxp = nx[pi * w + pj];
                    for (int64_t qj = 0; qj < w; qj++)
                        lp[qj] = (2 * (hi[qj] - lo[qj]) - nxp - nyq[qj]) * scale;
                }
            }
            for (int64_t pj = 0; pj < w; pj++)
                fold_candidates(s, pi * w + pj, l + pj * hw, hw, yk, hw);
        }
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
    // x and the softmax state; then each path's own (the row pairs': the image, both
    // padded copies of the rows, three rows of squares and norms, R's prefix sums, w rows
    // of logits, box sums)
    int64_t pairs = 0;
    for (int64_t k = 0; k < (m->patch_steps ? m->patch_steps : 1); k++) {
        int64_t patch = m->patch_steps ? (int64_t)m->patch_schedule[2 * k + 1] : m->patch_size;
        row_pairs rp = row_pairs_of(m, patch);
        int64_t len = m->d + 2 * m->channels * h * rp.ws + 3 * hw + rp.wp * rp.wp + w * hw +
                      ds_box_work_len(h, w);
        if (!uses_direct(m, patch) && len > pairs) pairs = len;
    }
    return 2 * m->d + 2 * hw + (pairs > direct ? pairs : direct);
}

void cpu_els_row(const ds_model *m, const float *y, const float *xf, double sigma, float *out,
                 double *work) {
    int64_t hw = m->height * m->width, d = m->d, patch = ds_patch_at(m, sigma);
    double scale = 1.0 / (2.0 * sigma * sigma), *x = work;
    softmax_state s = {m->channels, hw, x + d, x + d + hw, x + d + 2 * hw};
    for (int64_t e = 0; e < d; e++) x[e] = xf[e], s.acc[e] = 0;
    for (int64_t p = 0; p < hw; p++) s.top[p] = -INFINITY, s.z[p] = 0;
    double *rest = s.acc + d;
    if (uses_direct(m, patch))
        direct_row(m, y, xf, patch, scale, &s, rest);
    else
        row_pair_row(m, y, x, patch, scale, &s, rest);
    for (int64_t e = 0; e < d; e++) out[e] = (float)(s.acc[e] / s.z[e % hw]);
}
