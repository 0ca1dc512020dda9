// Window sums by prefix sums in double: each sum is a difference of two prefix sums, so
// its rounding is ~1e-16 of the line's total, not of the window's (the patch distances
// are sums of squares, at most the image's total: an absolute error ~1e-16 |x|^2).
#include "patch_box.h"

// out[t * so] = sum of in[s * si] over s in [t + from, t + from + len) within [0, n),
// for t in [0, count); prefix holds n + 1 doubles.
static void line_sums(const double *in, int64_t n, int64_t si, int64_t from, int64_t len,
                      int64_t count, double *out, int64_t so, double *prefix) {
    prefix[0] = 0;
    for (int64_t s = 0; s < n; s++) prefix[s + 1] = prefix[s] + in[s * si];
    for (int64_t t = 0; t < count; t++) {
        int64_t lo = t + from, hi = t + from + len;
        lo = lo < 0 ? 0 : lo > n ? n : lo;
        hi = hi < 0 ? 0 : hi > n ? n : hi;
        out[t * so] = prefix[hi] - prefix[lo];
    }
}

void ds_box_sums(const double *in, int64_t h, int64_t w, int64_t from, int64_t len, int64_t h_out,
                 int64_t w_out, double *out, double *work) {
    double *rows = work, *prefix = work + h_out * w; // rows: h_out x w, column sums first
    for (int64_t j = 0; j < w; j++) line_sums(in + j, h, w, from, len, h_out, rows + j, w, prefix);
    for (int64_t i = 0; i < h_out; i++)
        line_sums(rows + i * w, w, 1, from, len, w_out, out + i * w_out, 1, prefix);
}
