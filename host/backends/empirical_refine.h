// When the float32 backends (cpu, cuda) recompute the empirical denoiser's logits in
// double. A logit is t / sigma^2 with t = x.y - |y|^2/2; the SGEMM error of x.y (up to
// DS_DOT_ERROR_FACTOR |x| max|y|) is divided by sigma^2, so at small sigma the rows whose
// logits may lie within DS_REFINE_WINDOW of a query's maximum have x.y recomputed in
// double, unless the error bound is below DS_REFINE_MIN_ERROR logits.
#ifndef DS_EMPIRICAL_REFINE_H
#define DS_EMPIRICAL_REFINE_H

#define DS_REFINE_WINDOW 12.0    // logits below the maximum: weights < 6e-6 keep float logits
#define DS_REFINE_MIN_ERROR 1e-7 // logit error bound below which nothing is refined
// Observed SGEMM errors of x.y reach 8 u |x||y| on Fashion-MNIST (d = 784); twice that.
#define DS_DOT_ERROR_FACTOR (16.0 * 0x1p-24)

#endif
