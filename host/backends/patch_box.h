// Window sums over a 2-D array, the step the cpu patch models share (host/backends/
// cpu_els.c, cpu_pspc.c): a patch distance is a window sum of per-pixel terms, so it costs
// O(1) per pixel whatever the patch (prefix sums along rows, then along columns).
#ifndef DS_PATCH_BOX_H
#define DS_PATCH_BOX_H

#include <stdint.h>

// out (h_out x w_out) at (i, j) = the sum of in (h x w, zero outside) over rows
// i + from .. i + from + len - 1 and the same columns. from = -half, len = 2 half + 1,
// out the size of in: the centred window, zero-padded (ls, els); from = 0, out
// (h - len + 1) x (w - len + 1): the patches inside (pspc); from = 1 - len over those,
// out h x w: each pixel's sum over the patches that hold it. work: ds_box_work_len of
// sizes that hold in and out.
void ds_box_sums(const double *in, int64_t h, int64_t w, int64_t from, int64_t len, int64_t h_out,
                 int64_t w_out, double *out, double *work);
// The doubles of work of ds_box_sums for in and out of at most h x w.
int64_t ds_box_work_len(int64_t h, int64_t w);

#endif
