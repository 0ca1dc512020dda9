// Summary statistics, log grids and per-row errors for the analysis commands.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ds_analysis.h"
#include "ds_error.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Quantile q of n sorted values, linear between order statistics.
static double quantile(const double *sorted, int64_t n, double q) {
    double pos = q * (double)(n - 1);
    int64_t lo = (int64_t)floor(pos);
    if (lo >= n - 1) return sorted[n - 1];
    double t = pos - (double)lo;
    return sorted[lo] + t * (sorted[lo + 1] - sorted[lo]);
}

static int row_finite(const double *x, int64_t d) {
    for (int64_t j = 0; j < d; j++)
        if (!isfinite(x[j])) return 0;
    return 1;
}

int64_t ds_finite_rows(double *a, double *b, int64_t n, int64_t d, int64_t *idx) {
    int64_t m = 0;
    size_t row = sizeof(double) * (size_t)d;
    for (int64_t i = 0; i < n; i++) {
        if (!row_finite(a + i * d, d) || (b && !row_finite(b + i * d, d))) continue;
        if (m != i) {
            memcpy(a + m * d, a + i * d, row);
            if (b) memcpy(b + m * d, b + i * d, row);
        }
        if (idx) idx[m] = i;
        m++;
    }
    return m;
}

int ds_stats_strided(const double *v, int64_t n, int64_t stride, ds_stats *out) {
    double *s = ds_try_alloc((size_t)n, sizeof(double), "statistics");
    if (!s) return -1;
    int64_t m = 0;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = v[i * stride];
        if (isnan(x)) continue;
        s[m++] = x;
        sum += x;
    }
    qsort(s, (size_t)m, sizeof(double), cmp_double);
    out->n = m;
    out->n_nan = n - m;
    if (m == 0) {
        out->mean = out->min = out->q05 = out->q25 = out->q50 = out->q75 = out->q95 = out->max =
            NAN;
    } else {
        out->mean = sum / (double)m;
        out->min = s[0];
        out->max = s[m - 1];
        out->q05 = quantile(s, m, 0.05);
        out->q25 = quantile(s, m, 0.25);
        out->q50 = quantile(s, m, 0.50);
        out->q75 = quantile(s, m, 0.75);
        out->q95 = quantile(s, m, 0.95);
    }
    free(s);
    return 0;
}

int ds_stats_of(const double *v, int64_t n, ds_stats *out) {
    return ds_stats_strided(v, n, 1, out);
}

void ds_log_grid(double lo, double hi, int n, double *out) {
    double a = log(lo), b = log(hi);
    for (int i = 0; i < n; i++) out[i] = exp(a + (b - a) * i / (n - 1));
    out[0] = lo;
    out[n - 1] = hi;
}

void ds_rel_error_rows(const double *x, const double *ref, int64_t rows, int64_t d, double *err) {
    for (int64_t i = 0; i < rows; i++) {
        double num = 0, den = 0;
        for (int64_t j = 0; j < d; j++) {
            double r = ref[i * d + j], e = x[i * d + j] - r;
            num += e * e;
            den += r * r;
        }
        err[i] = sqrt(num / den);
    }
}
