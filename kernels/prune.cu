// Certified pruning of the empirical denoiser on the device: the steps of
// host/backends/cpu_prune.c (which derives the certificate and every rounding bound used
// here) over the same index (host/backends/prune_index.h), one block per query row. The
// queries are centred in double from their floats, as the cpu backend centres them.
// Every reduction has a fixed order (block sums, ordered scans), so that a run's bits
// do not depend on scheduling.
#include "kernel_util.cuh"

#define UNIT_ROUNDOFF 0x1p-24

__device__ __forceinline__ const float *prune_row(const ds_prune_dev *p, int64_t i) {
    return p->y[i / p->piece_rows] + (i % p->piece_rows) * p->d;
}

__device__ __forceinline__ double prune_half_sq(const ds_prune_dev *p, int64_t i) {
    return p->half_sq[i / p->piece_rows][i % p->piece_rows];
}

// The projections a = Q^T (x - mean) rounded to float, |a|^2 of the rounded ones, and
// the precheck (cpu_prune.c: whether any row might be skipped); the running minimum and
// the survivor count start empty.
__global__ void prune_project_kernel(ds_prune_dev p, const float *x, ds_sigma2 s2,
                                     ds_prune_rows r) {
    const int64_t i = blockIdx.x, d = p.d, k = p.k;
    const float *xi = x + i * d;
    double xx = 0, aa = 0, pxx = 0;
    for (int64_t e = threadIdx.x; e < d; e += blockDim.x) {
        double v = (double)xi[e] - p.mean[e];
        xx += v * v;
    }
    for (int64_t j = threadIdx.x; j < k; j += blockDim.x) {
        double s = 0;
        for (int64_t e = 0; e < d; e++) s += ((double)xi[e] - p.mean[e]) * p.basis[e * k + j];
        float f = (float)s;
        r.a[i * k + j] = f;
        aa += s * s, pxx += (double)f * f;
    }
    xx = ds_block_sum(xx);
    aa = ds_block_sum(aa);
    pxx = ds_block_sum(pxx);
    if (threadIdx.x != 0) return;
    double t = 2 * p.log_ratio * ds_sigma2_of(s2, i);
    double lo = fmax(0.0, sqrt(fmax(0.0, xx - aa)) - p.res_max), hi = sqrt(aa) + p.py_max;
    r.pxx[i] = pxx;
    r.live[i] = r.cap >= 1 && hi * hi >= lo * lo + t;
    r.lmin[i] = INFINITY, r.amin[i] = 0, r.count[i] = 0;
}

// The bound l = |a|^2 + |py_j|^2 - 2 a.py_j of column j of a chunk whose products are g.
__device__ __forceinline__ double prune_bound(const ds_prune_dev *p, const ds_prune_rows *r,
                                              const float *g, int64_t i, int64_t len, int64_t start,
                                              int64_t j) {
    return r->pxx[i] + p->py_sq[start + j] - 2.0 * (double)g[i * len + j];
}

// The smallest bound of the chunk [start, start + len) and its row, kept when below the
// running one (the first row among ties).
__global__ void prune_min_kernel(ds_prune_dev p, const float *g, int64_t len, int64_t start,
                                 ds_prune_rows r) {
    const int64_t i = blockIdx.x;
    if (!r.live[i]) return;
    double v = -INFINITY;
    int64_t arg = len;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) {
        double neg = -prune_bound(&p, &r, g, i, len, start, j);
        if (neg > v) v = neg, arg = j;
    }
    ds_block_argmax(&v, &arg);
    if (threadIdx.x == 0 && -v < r.lmin[i]) r.lmin[i] = -v, r.amin[i] = start + arg;
}

// U = the exact distance to the row of the smallest bound (an upper bound on D_min),
// and the skip threshold for it (cpu_prune.c: bound_init and skip_threshold).
__global__ void prune_threshold_kernel(ds_prune_dev p, const float *x, ds_sigma2 s2,
                                       ds_prune_rows r) {
    const int64_t i = blockIdx.x, d = p.d;
    if (!r.live[i]) return;
    const float *xi = x + i * d, *y = prune_row(&p, r.amin[i]);
    double dist = 0;
    for (int64_t e = threadIdx.x; e < d; e += blockDim.x) {
        double v = (double)xi[e] - p.mean[e] - y[e];
        dist += v * v;
    }
    dist = ds_block_sum(dist);
    if (threadIdx.x != 0) return;
    double u = dist * (1 + 1e-15 * (double)d), pxx = r.pxx[i], pn = sqrt(pxx);
    double gamma = 1.01 * (double)(p.k + 2) * UNIT_ROUNDOFF;
    double delta = 2 * UNIT_ROUNDOFF * (pn + p.py_max);
    double err = 2 * gamma * pn * p.py_max + 1e-15 * (pxx + p.py_max * p.py_max);
    double t = 2 * p.log_ratio * ds_sigma2_of(s2, i);
    double rad = sqrt((u + t) * (1 + p.omega));
    r.thr[i] = (rad + delta) * (rad + delta) + err;
}

// Appends the chunk's rows with l < thr to the query's survivors in increasing order
// (an inclusive scan of the block's flags per tile); a count beyond cap means the query
// goes to the dense path.
__global__ void prune_collect_kernel(ds_prune_dev p, const float *g, int64_t len, int64_t start,
                                     ds_prune_rows r) {
    __shared__ int scan[DS_THREADS];
    const int64_t i = blockIdx.x;
    if (!r.live[i]) return;
    int64_t count = r.count[i];
    const double thr = r.thr[i];
    for (int64_t base = 0; base < len && count <= r.cap; base += DS_THREADS) {
        int64_t j = base + threadIdx.x;
        int flag = j < len && prune_bound(&p, &r, g, i, len, start, j) < thr;
        scan[threadIdx.x] = flag;
        __syncthreads();
        for (int off = 1; off < DS_THREADS; off *= 2) {
            int v = (int)threadIdx.x >= off ? scan[threadIdx.x - off] : 0;
            __syncthreads();
            scan[threadIdx.x] += v;
            __syncthreads();
        }
        int64_t pos = count + scan[threadIdx.x] - flag;
        if (flag && pos < r.cap) r.list[i * r.cap + pos] = start + j;
        count += scan[DS_THREADS - 1];
        __syncthreads(); // scan[] is rewritten by the next tile
    }
    if (threadIdx.x == 0) r.count[i] = count;
}

// D over the survivors in double (cpu_prune.c: evaluate): t = x.y - |y|^2 / 2 by one
// warp per row, the largest and its row, the weights, the weighted mean by tiles of
// columns; then the diagnostics and the skipped-mass and change bounds into out_stat.
// Queries that are not pruned (not live, or more survivors than cap) are left.
__global__ void prune_evaluate_kernel(ds_prune_dev p, const float *x, ds_sigma2 s2, ds_prune_rows r,
                                      float *out, int64_t *top, double *out_stat) {
    const int64_t i = blockIdx.x, d = p.d;
    if (!r.live[i] || r.count[i] > r.cap) return;
    const int64_t c = r.count[i], *list = r.list + i * r.cap;
    double *ell = r.ell + i * r.cap;
    const float *xi = x + i * d;
    const double inv_s2 = 1.0 / ds_sigma2_of(s2, i);
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    for (int64_t j = warp; j < c; j += blockDim.x / 32) {
        const float *y = prune_row(&p, list[j]);
        double s = 0;
        for (int64_t e = lane; e < d; e += 32) s += ((double)xi[e] - p.mean[e]) * y[e];
        s = ds_warp_sum(s);
        if (lane == 0) ell[j] = s - prune_half_sq(&p, list[j]);
    }
    __syncthreads();
    double tmax = -INFINITY;
    int64_t arg = p.n;
    for (int64_t j = threadIdx.x; j < c; j += blockDim.x)
        if (ell[j] > tmax) tmax = ell[j], arg = list[j];
    ds_block_argmax(&tmax, &arg);
    double z = 0, zl = 0;
    for (int64_t j = threadIdx.x; j < c; j += blockDim.x) {
        double l = (ell[j] - tmax) * inv_s2, w = exp(l);
        ell[j] = w;
        z += w, zl += w * l;
    }
    z = ds_block_sum(z); // its barriers also order the weights' writes before the reads
    zl = ds_block_sum(zl);
    double norm = 0;
    // x is read no more: out may alias it.
    for (int64_t e0 = 0; e0 < d; e0 += blockDim.x) {
        int64_t e = e0 + threadIdx.x;
        double acc = 0;
        for (int64_t j = 0; j < c; j++) {
            const float *y = prune_row(&p, list[j]);
            if (e < d) acc += ell[j] * y[e];
        }
        if (e < d) {
            double v = p.mean[e] + acc / z;
            out[i * d + e] = (float)v;
            norm += v * v;
        }
    }
    norm = ds_block_sum(norm);
    if (threadIdx.x != 0) return;
    double skipped = (double)(p.n - c) * p.eps / (double)p.n, mass = skipped / z;
    double change = 2 * mass * p.y_norm, room = sqrt(norm) - change;
    top[i] = arg;
    double *st = out_stat + 4 * i;
    st[0] = 1.0 / (z + skipped); // the top weight's lower bound: landing's certificate holds
    st[1] = log(z) - zl / z;
    st[2] = mass;
    st[3] = change == 0 ? 0 : room > 0 ? change / room : INFINITY;
}

extern "C" cudaError_t ds_launch_prune_project(ds_prune_dev p, const float *x, int64_t rows,
                                               ds_sigma2 s2, ds_prune_rows r) {
    prune_project_kernel<<<(unsigned int)rows, DS_THREADS>>>(p, x, s2, r);
    return cudaGetLastError();
}

extern "C" cudaError_t ds_launch_prune_min(ds_prune_dev p, const float *g, int64_t rows,
                                           int64_t len, int64_t start, ds_prune_rows r) {
    prune_min_kernel<<<(unsigned int)rows, DS_THREADS>>>(p, g, len, start, r);
    return cudaGetLastError();
}

extern "C" cudaError_t ds_launch_prune_threshold(ds_prune_dev p, const float *x, int64_t rows,
                                                 ds_sigma2 s2, ds_prune_rows r) {
    prune_threshold_kernel<<<(unsigned int)rows, DS_THREADS>>>(p, x, s2, r);
    return cudaGetLastError();
}

extern "C" cudaError_t ds_launch_prune_collect(ds_prune_dev p, const float *g, int64_t rows,
                                               int64_t len, int64_t start, ds_prune_rows r) {
    prune_collect_kernel<<<(unsigned int)rows, DS_THREADS>>>(p, g, len, start, r);
    return cudaGetLastError();
}

extern "C" cudaError_t ds_launch_prune_evaluate(ds_prune_dev p, const float *x, int64_t rows,
                                                ds_sigma2 s2, ds_prune_rows r, float *out,
                                                int64_t *top, double *stat) {
    prune_evaluate_kernel<<<(unsigned int)rows, DS_THREADS>>>(p, x, s2, r, out, top, stat);
    return cudaGetLastError();
}
