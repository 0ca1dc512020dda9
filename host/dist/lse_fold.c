// The merge of two partial softmax states (log-sum-exp), the reduction of data sharding.
#include <math.h>
#include <string.h>

#include "dist.h"

// With lmax the larger maximum, each side is rescaled by exp(lmax_side - lmax); zl, the
// sum of w (l - lmax_side), moves to the new maximum as s (zl + (lmax_side - lmax) z).
void ds_lse_fold(const double *early, const double *late, double *out, int64_t d) {
    double ez = early[DS_LSE_Z], lz = late[DS_LSE_Z];
    if (ez <= 0 || lz <= 0) { // one side holds no rows: the other is the state
        const double *src = ez <= 0 ? late : early;
        if (src != out) memcpy(out, src, (size_t)(DS_LSE_HEAD + d) * sizeof *out);
        return;
    }
    double lmax = fmax(early[DS_LSE_LMAX], late[DS_LSE_LMAX]);
    double le = early[DS_LSE_LMAX] - lmax, ll = late[DS_LSE_LMAX] - lmax;
    double se = exp(le), sl = exp(ll);
    double zl = se * (early[DS_LSE_ZL] + le * ez) + sl * (late[DS_LSE_ZL] + ll * lz);
    double top = late[DS_LSE_LMAX] > early[DS_LSE_LMAX] ? late[DS_LSE_TOP] : early[DS_LSE_TOP];
    out[DS_LSE_LMAX] = lmax, out[DS_LSE_Z] = se * ez + sl * lz, out[DS_LSE_ZL] = zl;
    out[DS_LSE_TOP] = top;
    for (int64_t j = DS_LSE_HEAD; j < DS_LSE_HEAD + d; j++) out[j] = se * early[j] + sl * late[j];
}
