// The cpu pspc row (Niedoba et al.'s patch-based posterior mean; the formula is in
// host/backends/ref_patch.c). The distances of all patches of one image are one window
// sum of its per-pixel squared differences (O(HW) whatever the patch). Output pixel u is
//   sum_k y_k(u) S_k(u) / count(u),  S_k(u) = sum over the patches a holding u of w_ka,
// with w_ka the softmax weight of image k at patch a; S_k is again a window sum, of the
// weights. The weights need each patch's maximum and normaliser first: two passes over
// the images (the second recomputes the distances, O(HW) each), so one image costs
// O(HW C) per pass instead of the direct O(positions P^2 C).
#include <math.h>

#include "cpu_patch.h"
#include "patch_box.h"

// A patch whose logit for an image is this far below the patch's maximum gives it a
// weight under e^-50: skipped in the second pass (at most N of them per patch, a
// relative 1e-17 for 60,000 images).
#define SKIP 50.0

int64_t cpu_pspc_work_len(const ds_model *m) {
    int64_t h = m->height, w = m->width, hw = h * w;
    return 3 * m->d + 6 * hw + ds_box_work_len(h, w);
}

typedef struct {
    const ds_model *m;
    int64_t patch, h_pos, w_pos; // the patches' side and their top-left corners
    double *x, *yk, *sq, *box;
} pspc_work;

// dist (h_pos x w_pos) = |patch(x) - patch(y_k)|^2 of every patch; y_k into wk->yk.
static void distances(pspc_work *wk, const float *y, int64_t k, double *dist) {
    const ds_model *m = wk->m;
    int64_t d = m->d, hw = m->height * m->width;
    for (int64_t e = 0; e < d; e++) wk->yk[e] = y[k * d + e];
    for (int64_t p = 0; p < hw; p++) wk->sq[p] = 0;
    for (int64_t e = 0; e < d; e++) {
        double diff = wk->x[e] - wk->yk[e];
        wk->sq[e % hw] += diff * diff;
    }
    ds_box_sums(wk->sq, m->height, m->width, 0, wk->patch, wk->h_pos, wk->w_pos, dist, wk->box);
}

void cpu_pspc_row(const ds_model *m, const float *y, const float *xf, double sigma, float *out,
                  double *work) {
    int64_t n = m->data.n, h = m->height, w = m->width, hw = h * w, d = m->d;
    int64_t patch = ds_patch_at(m, sigma);
    pspc_work wk = {m, patch, h - patch + 1, w - patch + 1, work, work + d, work + 2 * d, NULL};
    int64_t positions = wk.h_pos * wk.w_pos;
    double scale = 1.0 / (2.0 * sigma * sigma), *acc = wk.sq + hw, *dist = acc + d;
    double *top = dist + hw, *z = top + hw, *weight = z + hw, *spread = weight + hw;
    wk.box = spread + hw;
    for (int64_t e = 0; e < d; e++) wk.x[e] = xf[e], acc[e] = 0;
    for (int64_t a = 0; a < positions; a++) top[a] = -INFINITY, z[a] = 0;
    for (int64_t k = 0; k < n; k++) { // pass 1: each patch's maximum logit and normaliser
        distances(&wk, y, k, dist);
        for (int64_t a = 0; a < positions; a++) {
            double l = -dist[a] * scale;
            if (l > top[a]) z[a] *= exp(top[a] - l), top[a] = l;
            z[a] += exp(l - top[a]);
        }
    }
    for (int64_t k = 0; k < n; k++) { // pass 2: the normalised weights, spread to pixels
        distances(&wk, y, k, dist);
        int any = 0;
        for (int64_t a = 0; a < positions; a++) {
            double l = -dist[a] * scale;
            weight[a] = l < top[a] - SKIP ? 0 : exp(l - top[a]) / z[a];
            any |= weight[a] > 0;
        }
        if (!any) continue;
        ds_box_sums(weight, wk.h_pos, wk.w_pos, 1 - patch, patch, h, w, spread, wk.box);
        for (int64_t e = 0; e < d; e++) acc[e] += spread[e % hw] * wk.yk[e];
    }
    for (int64_t a = 0; a < positions; a++) weight[a] = 1;
    ds_box_sums(weight, wk.h_pos, wk.w_pos, 1 - patch, patch, h, w, spread, wk.box);
    for (int64_t e = 0; e < d; e++) out[e] = (float)(acc[e] / spread[e % hw]);
}
