// Memorisation: the two nearest training rows of each sample, by chunked DGEMM over the
// training set (|x|^2 - 2 x.y + |y|^2 on centred data), so it scales to large sets.
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ds_analysis.h"
#include "ds_error.h"
#include "threads.h"

enum { TRAIN_CHUNK = 2048, QUERY_BLOCK = 256 };

typedef struct {
    double dist2[2];
    int64_t index[2];
} top2;

static void top2_push(top2 *t, double dist2, int64_t index) {
    if (dist2 < t->dist2[0]) {
        t->dist2[1] = t->dist2[0];
        t->index[1] = t->index[0];
        t->dist2[0] = dist2;
        t->index[0] = index;
    } else if (dist2 < t->dist2[1]) {
        t->dist2[1] = dist2;
        t->index[1] = index;
    }
}

static double row_dist(const ds_data *train, int64_t row, const double *x) {
    double s = 0;
    for (int64_t j = 0; j < train->d; j++) {
        double v = ds_data_value(train, row, j) - x[j];
        s += v * v;
    }
    return sqrt(s);
}

// Rows [first, first + m) of the training set minus mean, and their squared norms.
static void centre_chunk(const ds_data *train, const double *mean, int64_t first, int64_t m,
                         double *yc, double *ysq) {
    int64_t d = train->d;
#pragma omp parallel for num_threads(ds_threads_for((double)m *(double)d))
    for (int64_t i = 0; i < m; i++) {
        double s = 0;
        for (int64_t j = 0; j < d; j++) {
            double v = ds_data_value(train, first + i, j) - mean[j];
            yc[i * d + j] = v;
            s += v * v;
        }
        ysq[i] = s;
    }
}

// Pushes the distances of query rows [q0, q0 + qb) to the m chunk rows into best.
static void scan_block(const double *xc, const double *xsq, int64_t q0, int64_t qb,
                       const double *yc, const double *ysq, int64_t m, int64_t first, int64_t d,
                       double *dots, top2 *best) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)qb, (int)m, (int)d, 1.0, xc + q0 * d,
                (int)d, yc, (int)d, 0.0, dots, (int)m);
#pragma omp parallel for num_threads(ds_threads_for((double)qb *(double)m))
    for (int64_t q = 0; q < qb; q++) {
        top2 *t = &best[q0 + q];
        for (int64_t i = 0; i < m; i++)
            top2_push(t, xsq[q0 + q] - 2.0 * dots[q * m + i] + ysq[i], first + i);
    }
}

int ds_nearest2(const ds_data *train, const double *x, int64_t b, int64_t *nearest, double *d1,
                double *d2) {
    int64_t n = train->n, d = train->d;
    if (n < 2)
        return ds_fail("memorisation: the training set %s has %lld rows (expected at least 2)",
                       train->path, (long long)n);
    for (int64_t e = 0; e < b * d; e++)
        if (!isfinite(x[e]))
            return ds_fail("memorisation: sample %lld holds NaN or Inf (expected finite rows)",
                           (long long)(e / d));
    int64_t chunk = n < TRAIN_CHUNK ? n : TRAIN_CHUNK, block = b < QUERY_BLOCK ? b : QUERY_BLOCK;
    double *mean = ds_try_alloc((size_t)d, sizeof(double), "training mean");
    double *xc = ds_try_alloc((size_t)(b * d + b), sizeof(double), "centred samples");
    double *yc = ds_try_alloc((size_t)(chunk * d + chunk), sizeof(double), "training chunk");
    double *dots = ds_try_alloc((size_t)(block * chunk), sizeof(double), "distance block");
    top2 *best = ds_try_alloc((size_t)b, sizeof(top2), "nearest rows");
    int rc = (mean && xc && yc && dots && best) ? 0 : -1;
    if (rc == 0) {
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < d; j++) mean[j] += ds_data_value(train, i, j);
        for (int64_t j = 0; j < d; j++) mean[j] /= (double)n;
        double *xsq = xc + b * d, *ysq = yc + chunk * d;
        for (int64_t q = 0; q < b; q++) {
            xsq[q] = 0;
            for (int64_t j = 0; j < d; j++) {
                xc[q * d + j] = x[q * d + j] - mean[j];
                xsq[q] += xc[q * d + j] * xc[q * d + j];
            }
            best[q] = (top2){{DBL_MAX, DBL_MAX}, {0, 1}};
        }
        for (int64_t first = 0; first < n; first += chunk) {
            int64_t m = n - first < chunk ? n - first : chunk;
            centre_chunk(train, mean, first, m, yc, ysq);
            for (int64_t q0 = 0; q0 < b; q0 += block)
                scan_block(xc, xsq, q0, b - q0 < block ? b - q0 : block, yc, ysq, m, first, d, dots,
                           best);
        }
        // The GEMM form loses digits to cancellation near 0: recompute both directly.
        for (int64_t q = 0; q < b; q++) {
            double a = row_dist(train, best[q].index[0], x + q * d);
            double c = row_dist(train, best[q].index[1], x + q * d);
            int swap = c < a;
            nearest[q] = best[q].index[swap];
            d1[q] = swap ? c : a;
            d2[q] = swap ? a : c;
        }
    }
    free(mean);
    free(xc);
    free(yc);
    free(dots);
    free(best);
    return rc;
}

int ds_memorization_compute(const ds_data *train, const double *x, int64_t b,
                            ds_memorization *out) {
    memset(out, 0, sizeof *out);
    out->b = b;
    out->nearest = ds_try_alloc((size_t)b, sizeof(int64_t), "memorization");
    out->d1 = ds_try_alloc((size_t)b, sizeof(double), "memorization");
    out->d2 = ds_try_alloc((size_t)b, sizeof(double), "memorization");
    out->ratio = ds_try_alloc((size_t)b, sizeof(double), "memorization");
    if (!out->nearest || !out->d1 || !out->d2 || !out->ratio ||
        ds_nearest2(train, x, b, out->nearest, out->d1, out->d2) != 0) {
        ds_memorization_free(out);
        return -1;
    }
    int64_t memorized = 0;
    for (int64_t q = 0; q < b; q++) {
        out->ratio[q] = out->d2[q] > 0 ? out->d1[q] / out->d2[q] : 0.0;
        memorized += out->ratio[q] < DS_MEMORIZED_RATIO;
    }
    out->fraction = b ? (double)memorized / (double)b : 0.0;
    return 0;
}

void ds_memorization_free(ds_memorization *m) {
    free(m->nearest);
    free(m->d1);
    free(m->d2);
    free(m->ratio);
    memset(m, 0, sizeof *m);
}
