// Gaussian and Gaussian-mixture models on the device: one SGEMM projects the queries
// onto all components' eigenvectors at once (Ucat = [U_1 ... U_k], d x k r), kernels
// weigh the components and scale the projections, and a second SGEMM maps them back.
// The same steps give the Gaussian denoiser, the mixture denoiser and the exact flow.
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "cuda_check.h"
#include "cuda_internal.h"

static int upload_float_copy(ds_bound_model *bm, float **dst, const double *src, size_t count,
                             const char *what) {
    DS_TRY(ds_cuda_alloc((void **)dst, sizeof(float) * count, what));
    return ds_cuda_upload_floats(bm->ctx, *dst, src, count);
}

// Ucat[i][c r + j] = U_c[i][j]; offset[c r + j] = U_c[:, j] . (mu_c - centre), so that
// Xc Ucat - offset holds U_c^T (x - mu_c) for every component.
static int upload_factors(ds_bound_model *bm, const double *centre) {
    const ds_model *m = bm->m;
    int64_t d = m->d, k = m->k, r = m->r, kr = k * r;
    double *ucat = (double *)ds_try_alloc((size_t)(d * kr), sizeof(double), "cuda bind");
    double *offset = (double *)ds_try_alloc((size_t)kr, sizeof(double), "cuda bind");
    if (!ucat || !offset) {
        free(ucat);
        free(offset);
        return -1;
    }
    for (int64_t c = 0; c < k; c++)
        for (int64_t i = 0; i < d; i++)
            for (int64_t j = 0; j < r; j++) {
                double u = m->eigvecs[(c * d + i) * r + j];
                ucat[i * kr + c * r + j] = u;
                offset[c * r + j] += u * (m->means[c * d + i] - centre[i]);
            }
    int rc = upload_float_copy(bm, &bm->ucat, ucat, (size_t)(d * kr), "eigenvectors");
    if (rc == 0) rc = ds_cuda_upload_doubles(&bm->offset, offset, (size_t)kr, "projection offsets");
    free(ucat);
    free(offset);
    return rc;
}

int ds_cuda_gmm_bind(ds_bound_model *bm) {
    const ds_model *m = bm->m;
    int64_t d = m->d, k = m->k, r = m->r;
    // The factors are checked by cuda_bind (ds_backend_check_bind); cuBLAS sizes are int.
    if (d * k * r > INT_MAX)
        return ds_fail("cuda: %s model with k = %lld, r = %lld, d = %lld is too large for "
                       "cuBLAS (expected d k r < 2^31)",
                       ds_model_kind_name(m->kind), (long long)k, (long long)r, (long long)d);
    // Centring on the data mean (component 0's mean if absent) keeps the projections small.
    const double *centre = m->mean ? m->mean : m->means;
    double *log_w = (double *)ds_try_alloc((size_t)k, sizeof(double), "cuda bind");
    if (!log_w) return -1;
    for (int64_t c = 0; c < k; c++) log_w[c] = log(m->weights[c]);
    int rc = ds_cuda_upload_doubles(&bm->log_weights, log_w, (size_t)k, "component weights");
    free(log_w);
    DS_TRY(rc);
    DS_TRY(ds_cuda_upload_doubles(&bm->mean, centre, (size_t)d, "the data mean"));
    DS_TRY(upload_float_copy(bm, &bm->means, m->means, (size_t)(k * d), "component means"));
    DS_TRY(ds_cuda_upload_doubles(&bm->eigvals, m->eigvals, (size_t)(k * r), "eigenvalues"));
    DS_TRY(ds_cuda_upload_doubles(&bm->residual, m->residual, (size_t)k, "residual variances"));
    return upload_factors(bm, centre);
}

void ds_cuda_gmm_unbind(ds_bound_model *bm) {
    void *bufs[] = {bm->ucat, bm->offset, bm->means, bm->eigvals, bm->residual, bm->log_weights};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) CUDA_RELEASE(cudaFree(bufs[i]));
}

// out = sum_c rho_c (mu_c + g_c dx_c + U_c diag(f - g_c) U_c^T dx_c). Row-major
// P (rows x kr) = Xc Ucat is, column-major, P^T = Ucat^T (Ucat read as kr x d) times
// Xc^T; out^T += Ucat (transposed back to d x kr) times P^T.
int ds_cuda_gmm_apply(ds_bound_model *bm, const float *x, int64_t rows, ds_gauss_map map,
                      float *out) {
    const ds_model *m = bm->m;
    const ds_cuda_ctx *ctx = bm->ctx;
    ds_cuda_workspace *ws = &bm->ws;
    int64_t d = m->d, k = m->k, r = m->r, kr = k * r;
    const float one = 1.0f, zero = 0.0f;
    DS_TRY(ds_cuda_poison(ctx, ws->xc, sizeof(float) * (size_t)(rows * d)));
    CUDA_TRY(ds_launch_centre_rows(ws->xc, x, bm->mean, rows, d));
    DS_TRY(ds_cuda_poison(ctx, ws->proj, sizeof(float) * (size_t)(rows * kr)));
    CUBLAS_TRY(cublasSgemm(ctx->blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)kr, (int)rows, (int)d, &one,
                           bm->ucat, (int)kr, ws->xc, (int)d, &zero, ws->proj, (int)kr));
    CUDA_TRY(ds_launch_centre_rows(ws->proj, ws->proj, bm->offset, rows, kr));
    const float *rho = NULL;
    if (k > 1) {
        DS_TRY(ds_cuda_poison(ctx, ws->logp, sizeof(double) * (size_t)(rows * k)));
        CUDA_TRY(ds_launch_gmm_log_density(ws->logp, x, ws->proj, bm->means, bm->eigvals,
                                           bm->residual, bm->log_weights, rows, d, k, r, map.s2));
        DS_TRY(ds_cuda_poison(ctx, ws->rho, sizeof(float) * (size_t)(rows * k)));
        CUDA_TRY(ds_launch_gmm_softmax(ws->rho, ws->logp, rows, k));
        rho = ws->rho;
    }
    CUDA_TRY(ds_launch_gauss_scale_projections(ws->proj, rho, bm->eigvals, bm->residual, rows, k, r,
                                               map));
    if (out != x) DS_TRY(ds_cuda_poison(ctx, out, sizeof(float) * (size_t)(rows * d)));
    CUDA_TRY(ds_launch_gauss_base(out, x, rho, bm->means, bm->residual, rows, d, k, map));
    CUBLAS_TRY(cublasSgemm(ctx->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)d, (int)rows, (int)kr, &one,
                           bm->ucat, (int)kr, ws->proj, (int)kr, &one, out, (int)d));
    return 0;
}
