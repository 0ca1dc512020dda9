// Helpers shared by the tests: random inputs, error measures, temp folders, the CLI.
#ifndef DS_TESTUTIL_H
#define DS_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
// cmocka.h needs the three headers above first.
#include <cmocka.h>

#include "ds_backend.h"
#include "ds_model.h"
#include "ds_sample.h"

// The seed of this test run: $DIFFSAMP_TEST_SEED, or fresh from the clock (printed
// once so that a failure can be replayed).
uint64_t tu_seed(void);
// Uniform in [lo, hi) / standard normal fill from a seed (splitmix64 + Box-Muller).
void tu_fill_uniform(double *x, int64_t n, uint64_t seed, double lo, double hi);
void tu_fill_normal(double *x, int64_t n, uint64_t seed);
// |a - ref| / |ref| in the L2 norm over n values.
double tu_rel_l2(const double *a, const double *ref, int64_t n);
double tu_max_abs_diff(const double *a, const double *b, int64_t n);
// Orthonormal columns of a d x r row-major matrix: Gram-Schmidt (twice, for accuracy)
// on standard normal columns from seed.
void tu_orthonormal_columns(double *u, int64_t d, int64_t r, uint64_t seed);
// An empirical model over n rows of dimension d (stored as given, in float64),
// with their mean; free with ds_model_free.
void tu_empirical_model(ds_model *m, const double *x, int64_t n, int64_t d);
// n images c x h x w, uniform in [-1, 1] and rounded to float32 (stored so), saved as
// dir/data.npy when dir is not NULL; free with ds_data_free.
ds_data tu_images(int64_t n, int c, int h, int w, uint64_t seed, const char *dir);
// count rows of the data set at path, drawn at random (with repetition) by seed, without
// labels; -1 (message in ds_error) when it cannot be read.
int tu_load_subset(const char *path, int64_t count, uint64_t seed, ds_data *out);
// The training row nearest to the d-vector q (float64 squared distances): its index,
// and the smallest and second smallest squared distances in *best, *second.
int64_t tu_nearest_row(const ds_data *data, const double *q, double *best, double *second);
// out = D(x; sigma) for `rows` rows of m on a fresh backend of that name (asserts success).
void tu_denoise(const char *backend, const ds_model *m, const double *x, int64_t rows, double sigma,
                double *out);
// The tolerance of the cpu local denoiser (pca_locality, ls; cpu_local.c) against ref on
// the float32 query it holds and float32 rows. Output pixel j is a softmax over the
// training rows with logits t_k / (sigma^2 T), t_k an SGEMM product q_j.y_k less a double
// half norm over the pixel's mask support S_j (q_j = the masked query). The products whose
// logits may lie within 12 of the maximum are recomputed in double from the exact float
// values, so those weights carry no SGEMM error, unless more than 1/32 of a chunk's rows
// qualify (cpu_softmax.c skips the refinement then, for speed). An unrefined product is
// off by at most eps_j = DS_DOT_ERROR_FACTOR |q_j| max_k |y_k on S_j| (the bound the
// backend assumes), so two logits by Delta_j = 2 eps_j / (sigma^2 T), each weight by a
// factor within e^{+-Delta_j}, and the pixel by at most (e^Delta_j - 1) sum_k w_k
// |y_kj - D_j| <= (e^Delta_j - 1) s_j, s_j^2 = sum_k w_k (y_kj - D_j)^2 (w from ref's
// softmax). A one-hot pixel (s_j = 0) is thus exact whatever sigma, and the bound is
// what a softmax shared between rows at small sigma may lose (8e-6 relative on a pixel
// balanced between 3 of 60 rows at sigma 0.002, seed 27441281612). What is left is float
// arithmetic as in the empirical denoiser (test_backend_ops.c, TOL_EMPIRICAL): float
// weights (exp polynomial 2e-7 relative), the float logits of the rows below the window
// (< e^-12 of the maximum each), double sums and the float output, a few u relative;
// measured <= 7e-7 (sigma 0.002 .. 80): TU_TOL_LOCAL_CPU |D| per row.
#define TU_TOL_LOCAL_CPU 5e-6
// That bound for one query row x (d values, float-exact) of model m at sigma, against
// ref's output row want: TU_TOL_LOCAL_CPU |want| + sqrt(sum_j ((e^Delta_j - 1) s_j)^2),
// an absolute L2 bound on the row's error (-1 when the mask cannot be built).
double tu_local_cpu_row_tol(const ds_model *m, const double *x, double sigma, const double *want);
// The relative L2 tolerance of a batch of rows so bounded: sqrt(sum_i tol_i^2) / |want|.
double tu_local_cpu_tol(const ds_model *m, const double *x, int64_t rows, const double *sigma,
                        int64_t n_sigma, const double *want);
// Covariance U diag(lam) U^T + residual (I - U U^T) of component c of a model, d x d.
void tu_component_cov(const ds_model *m, int64_t c, double *cov);
// A new empty folder under $TMPDIR (or /tmp); the path stays valid until exit, when the
// folder and all in it are removed (kept when $DIFFSAMP_TEST_KEEP is set).
const char *tu_tmpdir(void);
// Path of the diffsamp program under test ($DIFFSAMP_BIN).
const char *tu_bin(void);
// Runs a shell command, returns its exit status (stdout/stderr to the log).
int tu_system(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int tu_file_exists(const char *path);
// Everything written to the (read-write) stream f so far, as a string to free.
char *tu_slurp(FILE *f);
// Checks b->move_rows against plain indexing: a gather of scattered rows into a
// compact batch, a scatter back over other contents, and the identity lists (NULL), on
// float-exact random rows (a move is a copy, so the results must be equal).
void tu_check_move_rows(ds_backend *b, uint64_t seed);
// Certified landing through ds_sample_run on a fresh random empirical model
// (tu_landing_model: LAND_N rows of LAND_D normal entries; returns the largest distance
// between two rows): tu_landing_run samples LAND_SAMPLES rows (landing on or off) into x;
// tu_check_landing compares a landed run on `backend` with the dense ref run, sample by
// sample, within the bound of host/solvers/landing.c plus `rounding` relative, and a
// float backend's also with its own dense run and with the rows the ref landed run lands on.
enum { LAND_N = 48, LAND_D = 24, LAND_SAMPLES = 12 };
double tu_landing_model(ds_model *m, uint64_t seed);
void tu_landing_run(ds_backend *b, const ds_model *m, const char *solver, int final_zero,
                    int landing, double *x, ds_sample_result *r);
void tu_check_landing(const char *backend, const char *solver, int final_zero, double rounding);
// The certificate of certified pruning row by row for one query x (floats) at sigma,
// against the float64 softmax over the centred float32 rows the backends hold: each
// row with keep[i] == 0 has w_i / w_top <= eps / N, and the top row is kept (a failure
// otherwise). Returns the rows skipped; *kept and *lost get the sums of w_i / w_top
// over the kept and the skipped rows.
int64_t tu_check_prune_keep(const ds_model *m, const float *x, double sigma, double eps,
                            const uint8_t *keep, double *kept, double *lost);
// 1 when a CUDA device is usable; otherwise prints "skipped: no CUDA device".
int tu_have_cuda_or_say_skip(const char *test_name);

#define TU_SKIP_WITHOUT_CUDA()                                                                     \
    do {                                                                                           \
        if (!tu_have_cuda_or_say_skip(__func__)) {                                                 \
            skip();                                                                                \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#endif
