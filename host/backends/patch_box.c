// Window sums by prefix sums in double: each sum is a difference of two prefix sums, so
// its rounding is ~1e-16 of the line's total, not of the window's (the patch distances
// are sums of squares, at most the image's total: an absolute error ~1e-16 |x|^2). The
// column pass runs along whole rows (contiguous, vectorised); the row pass takes each
// output's bounds from a table built once per call.
#include "patch_box.h"

// The clipped bounds [lo[t], hi[t]) of output t's window within [0, n).
static void bounds(int64_t n, int64_t from, int64_t len, int64_t count, int64_t *lo, int64_t *hi) {
    for (int64_t t = 0; t < count; t++) {
        int64_t a = t + from, b = t + from + len;
        lo[t] = a < 0 ? 0 : a > n ? n : a;
        hi[t] = b < 0 ? 0 : b > n ? n : b;
    }
}

int64_t ds_box_work_len(int64_t h, int64_t w) {
    return 2 * h * w + 4 * (h > w ? h : w) + 1;
}

void ds_box_sums(const double *in, int64_t h, int64_t w, int64_t from, int64_t len, int64_t h_out,
                 int64_t w_out, double *out, double *work) {
    // prefix: (h + 1) x w column prefix sums; cols: h_out x w column window sums; then
    // one row of prefix sums and the bounds of both passes
    double *prefix = work, *cols = prefix + (h + 1) * w, *line = cols + h_out * w;
    int64_t *lo = (int64_t *)(line + w + 1), *hi = lo + (h_out > w_out ? h_out : w_out);
    for (int64_t j = 0; j < w; j++) prefix[j] = 0;
    for (int64_t i = 0; i < h; i++)
        for (int64_t j = 0; j < w; j++) prefix[(i + 1) * w + j] = prefix[i * w + j] + in[i * w + j];
    bounds(h, from, len, h_out, lo, hi);
    for (int64_t t = 0; t < h_out; t++) {
        const double *top = prefix + hi[t] * w, *bottom = prefix + lo[t] * w;
        for (int64_t j = 0; j < w; j++) cols[t * w + j] = top[j] - bottom[j];
    }
    bounds(w, from, len, w_out, lo, hi);
    for (int64_t i = 0; i < h_out; i++) {
        line[0] = 0;
        for (int64_t j = 0; j < w; j++) line[j + 1] = line[j] + cols[i * w + j];
        for (int64_t t = 0; t < w_out; t++) out[i * w_out + t] = line[hi[t]] - line[lo[t]];
    }
}
