// The cpu rows of the patch models els (host/backends/cpu_els.c) and pspc (cpu_pspc.c),
// run by cpu_local.c over a batch: the float32 training rows y (n x d) of model m, one
// float32 query x (d) at sigma into out (d), with work_len(m) doubles of work. Distances,
// weights and sums are formed in double from the float32 values.
#ifndef DS_CPU_PATCH_H
#define DS_CPU_PATCH_H

#include <stdint.h>
#include <string.h>

#include "ds_model.h"

// e^x for x in [-707, 0] (callers clamp below: e^-707 ~ 1e-307 stands for 0, in a loop of
// its own, since a clamp here stops GCC vectorising the loops over this function):
// branch-free, x = k ln 2 + r, |r| <= ln 2 / 2 (ln 2 split in two, fdlibm's), e^r by
// its Taylor series to r^11 (remainder < 7e-15 relative), times 2^k through the
// exponent bits.
static inline double ds_exp_neg(double x) {
    double kd = x * 0x1.71547652b82fep0 + 0x1.8p52; // round(x / ln 2) in the low bits
    uint64_t kbits, pbits;
    memcpy(&kbits, &kd, sizeof kd);
    kd -= 0x1.8p52;
    double r = x - kd * 0x1.62e42feep-1 - kd * 0x1.a39ef35793c76p-33;
    double p = 1.0 / 39916800;
    p = p * r + 1.0 / 3628800, p = p * r + 1.0 / 362880, p = p * r + 1.0 / 40320;
    p = p * r + 1.0 / 5040, p = p * r + 1.0 / 720, p = p * r + 1.0 / 120, p = p * r + 1.0 / 24;
    p = p * r + 1.0 / 6, p = p * r + 0.5, p = p * r + 1.0, p = p * r + 1.0;
    memcpy(&pbits, &p, sizeof p);
    pbits += (kbits - 0x4338000000000000ull) << 52;
    memcpy(&p, &pbits, sizeof p);
    return p;
}

// x clamped below at -707, the domain of ds_exp_neg.
static inline double ds_exp_arg(double x) {
    return x > -707.0 ? x : -707.0;
}

void cpu_els_row(const ds_model *m, const float *y, const float *x, double sigma, float *out,
                 double *work);
int64_t cpu_els_work_len(const ds_model *m);
void cpu_pspc_row(const ds_model *m, const float *y, const float *x, double sigma, float *out,
                  double *work);
int64_t cpu_pspc_work_len(const ds_model *m);

#endif
