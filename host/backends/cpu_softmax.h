// The streaming softmax of the cpu denoisers over chunks of training rows, shared by the
// empirical denoiser (cpu_empirical.c: one softmax per query) and the local models
// (cpu_local.c: one per query and output pixel). A chunk's logits are l_j = t_j inv_s2
// with t_j = dot_j - hs_j, dot_j an SGEMM product x.y_j of the query with row j (over
// k coordinates: the whole row, or a local model's packed mask support) and hs_j a
// double the caller keeps (|y_j|^2 / 2 over the same coordinates). The rows whose logits
// may lie within DS_REFINE_WINDOW of the chunk's maximum, given the SGEMM error bound,
// have their product recomputed in double (empirical_refine.h).
#ifndef DS_CPU_SOFTMAX_H
#define DS_CPU_SOFTMAX_H

#include <stdint.h>

// The hot loops are compiled for AVX-512 and AVX2 besides the baseline and picked when the
// library loads (function multiversioning). The operations and their order are the same
// (explicit lanes, no contraction under -std=c11), so every version gives the same bits.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CPU_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CPU_VECTOR_CLONES
#endif

// The log-sum-exp state of one query over a set of training rows, in units of t.
typedef struct {
    double tmax; // maximum of t (-inf: no rows yet)
    double z;    // sum of exp(l - lmax)
    double zl;   // sum of exp(l - lmax) (l - lmax), for the entropy
    int64_t top; // training row of the maximum
} cpu_row_state;

// One query as the chunk pass sees it.
typedef struct {
    const double *x; // the query's k coordinates in double
    double inv_s2;   // the logit of t
    double eps;      // bound on the SGEMM error of x.y over the chunk's rows
} cpu_query;

// The rows of one chunk.
typedef struct {
    const float *y;   // row j at y + j * ld, its k coordinates first
    int64_t ld, k;    // row stride, product length
    const double *hs; // hs_j of each row
    int64_t first;    // training row of row 0 (for the top index)
} cpu_chunk;

// Candidate rows of a chunk whose logits are recomputed in double (c entries each).
typedef struct {
    int64_t *idx; // position in the chunk
    float *dot;   // the SGEMM product
    double *t;    // dot - hs in double
} cpu_refine_buf;

// The state of the c rows of chunk ch from the products dot[0..c); overwrites dot with
// the float weights exp(l - lmax of the chunk); with want_entropy, fills zl.
cpu_row_state cpu_softmax_chunk(float *dot, int64_t c, const cpu_chunk *ch, const cpu_query *q,
                                int want_entropy, cpu_refine_buf *rb);

// Folds the state b of later training rows into a; *scale_a and *scale_b are the
// factors that bring the two weighted sums to the new maximum.
void cpu_softmax_fold(cpu_row_state *a, const cpu_row_state *b, double inv_s2, double *scale_a,
                      double *scale_b);

// x.y in double for a float row y of k values.
double cpu_dot_f64(const double *x, const float *y, int64_t k);

#endif
