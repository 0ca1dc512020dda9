// The chunk steps of the cpu denoisers' streaming softmax (cpu_softmax.h).
#include <math.h>
#include <string.h>

#include "cpu_softmax.h"
#include "empirical_refine.h"

// At most 1/REFINE_SHARE of a chunk's rows are refined per query (see refine()).
#define REFINE_SHARE 32

static inline float bits_to_float(uint32_t b) {
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

// exp(x) for x <= 0 in float (0 below -87), as 2^n p(r) with Cephes' expf polynomial,
// relative error about 2e-7. Written so that the weight loop vectorises without
// -ffast-math: glibc's expf is not vectorised, and float compares in ?: keep the loop
// from vectorising (trapping math), so the clamp at -87 compares bit patterns (for
// x <= 0 a larger pattern is a more negative number). A positive x, which only the float
// logits of refined rows can give (their weights are replaced, see cpu_softmax_chunk()),
// counts as 0: beyond 88 the exponent field would overflow into a NaN or garbage.
static inline float exp_nonpos(float x) {
    const uint32_t limit = 0xC2AE0000u; // -87.0f
    uint32_t xb;
    memcpy(&xb, &x, sizeof xb);
    xb = xb < 0x80000000u ? 0u : xb;
    uint32_t keep = xb > limit ? 0u : 0xFFFFFFFFu;
    float xc = bits_to_float(xb > limit ? limit : xb);
    float t = xc * 1.44269504088896341f + 12582912.0f; // round to nearest via 1.5 * 2^23
    float n = t - 12582912.0f;
    float r = xc - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    float v = p * bits_to_float((uint32_t)((int32_t)n + 127) << 23);
    uint32_t vb;
    memcpy(&vb, &v, sizeof vb);
    return bits_to_float(vb & keep);
}

// Reductions below keep LANES independent partial sums or maxima, so that they
// vectorise (or at least pipeline) without reassociating floating-point operations.
enum { LANES = 8 };

double cpu_dot_f64(const double *x, const float *y, int64_t k) {
    double s[LANES] = {0};
    int64_t j = 0;
    for (; j + LANES <= k; j += LANES)
        for (int l = 0; l < LANES; l++) s[l] += x[j + l] * y[j + l];
    for (; j < k; j++) s[0] += x[j] * y[j];
    for (int l = 1; l < LANES; l++) s[0] += s[l];
    return s[0];
}

// Recomputes in double the t of the chunk rows that may lie within DS_REFINE_WINDOW logits
// of the maximum given the SGEMM error bound; returns their count, or 0 when the error
// bound is negligible or more than 1/REFINE_SHARE of the rows qualify (the softmax is
// then broad, the error per logit < 1e-5 on our data, and independent errors average).
static inline int64_t refine(const float *dot, int64_t c, const cpu_chunk *ch, const cpu_query *q,
                             double tmax_f, cpu_refine_buf *rb) {
    if (q->eps * q->inv_s2 < DS_REFINE_MIN_ERROR) return 0;
    const double *hs = ch->hs;
    double cut = tmax_f - (DS_REFINE_WINDOW / q->inv_s2 + 2 * q->eps);
    int64_t n = 0, cap = c / REFINE_SHARE + 1;
    for (int64_t j = 0; j < c; j++) {
        if ((double)dot[j] - hs[j] < cut) continue;
        if (n == cap) return 0;
        rb->idx[n] = j, rb->dot[n] = dot[j], n++;
    }
    for (int64_t k = 0; k < n; k++)
        rb->t[k] = cpu_dot_f64(q->x, ch->y + rb->idx[k] * ch->ld, ch->k) - hs[rb->idx[k]];
    return n;
}

// max_j dot[j] - hs[j].
static inline double max_t(const float *dot, const double *hs, int64_t c) {
    double m[LANES];
    for (int k = 0; k < LANES; k++) m[k] = -INFINITY;
    int64_t j = 0;
    for (; j + LANES <= c; j += LANES)
        for (int k = 0; k < LANES; k++) {
            double t = (double)dot[j + k] - hs[j + k];
            m[k] = t > m[k] ? t : m[k];
        }
    for (; j < c; j++) m[0] = fmax(m[0], (double)dot[j] - hs[j]);
    for (int k = 1; k < LANES; k++) m[0] = fmax(m[0], m[k]);
    return m[0];
}

// dot[j] <- exp((dot[j] - hs[j] - tmax) inv_s2) in float; returns their sum, and in
// *suml the sum of w l (for the entropy) when suml is not NULL.
static inline double weights(float *dot, const double *hs, int64_t c, double tmax, double inv_s2,
                             double *suml) {
    double z[LANES] = {0}, zl[LANES] = {0};
    if (suml)
        for (int64_t j = 0; j < c; j++) {
            double l = ((double)dot[j] - hs[j] - tmax) * inv_s2;
            float w = exp_nonpos((float)l);
            dot[j] = w;
            zl[j % LANES] += w * l;
        }
    else
        for (int64_t j = 0; j < c; j++)
            dot[j] = exp_nonpos((float)(((double)dot[j] - hs[j] - tmax) * inv_s2));
    int64_t j = 0;
    for (; j + LANES <= c; j += LANES)
        for (int k = 0; k < LANES; k++) z[k] += dot[j + k];
    for (; j < c; j++) z[0] += dot[j];
    for (int k = 1; k < LANES; k++) z[0] += z[k], zl[0] += zl[k];
    if (suml) *suml = zl[0];
    return z[0];
}

// Static, called through cpu_softmax_chunk below: an exported multiversioned function's
// ifunc resolver escapes -fvisibility=hidden, and a static one's stays local.
CPU_VECTOR_CLONES static cpu_row_state softmax_chunk(float *dot, int64_t c, const cpu_chunk *ch,
                                                     const cpu_query *q, int want_entropy,
                                                     cpu_refine_buf *rb) {
    const double *hs = ch->hs;
    double inv_s2 = q->inv_s2, tmax_f = max_t(dot, hs, c);
    cpu_row_state st = {tmax_f, 0, 0, ch->first};
    int64_t n = refine(dot, c, ch, q, tmax_f, rb);
    if (n) {
        st.tmax = -INFINITY;
        for (int64_t k = 0; k < n; k++)
            if (rb->t[k] > st.tmax) st.tmax = rb->t[k], st.top = ch->first + rb->idx[k];
    } else {
        for (int64_t j = 0; j < c; j++)
            if ((double)dot[j] - hs[j] == tmax_f) {
                st.top = ch->first + j;
                break;
            }
    }
    st.z = weights(dot, hs, c, st.tmax, inv_s2, want_entropy ? &st.zl : NULL);
    // The refined rows replace their weights from the float products.
    for (int64_t k = 0; k < n; k++) {
        int64_t j = rb->idx[k];
        double l = (rb->t[k] - st.tmax) * inv_s2, w = exp(l);
        double l_old = ((double)rb->dot[k] - hs[j] - st.tmax) * inv_s2;
        st.z += w - dot[j];
        if (want_entropy) st.zl += w * l - dot[j] * l_old;
        dot[j] = (float)w;
    }
    return st;
}

void cpu_softmax_fold(cpu_row_state *a, const cpu_row_state *b, double inv_s2, double *scale_a,
                      double *scale_b) {
    double tmax = b->tmax > a->tmax ? b->tmax : a->tmax;
    double la = (a->tmax - tmax) * inv_s2, lb = (b->tmax - tmax) * inv_s2;
    double sa = a->z > 0 ? exp(la) : 0.0, sb = b->z > 0 ? exp(lb) : 0.0;
    a->zl =
        (a->z > 0 ? sa * (a->zl + la * a->z) : 0.0) + (b->z > 0 ? sb * (b->zl + lb * b->z) : 0.0);
    a->z = a->z * sa + b->z * sb;
    if (b->tmax > a->tmax) a->top = b->top;
    a->tmax = tmax;
    *scale_a = sa;
    *scale_b = sb;
}

cpu_row_state cpu_softmax_chunk(float *dot, int64_t c, const cpu_chunk *ch, const cpu_query *q,
                                int want_entropy, cpu_refine_buf *rb) {
    return softmax_chunk(dot, c, ch, q, want_entropy, rb);
}
