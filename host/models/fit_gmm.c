// The Gaussian-mixture fit: rows split into K components by k-means (k-means++ start,
// Lloyd iterations), by class label, or by k-means within each class, then per component
// the mean, covariance and top r eigenpairs of fit_gaussian.c, with weights = the
// components' fractions of the rows.
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_error.h"
#include "ds_philox.h"
#include "fit_common.h"
#include "threads.h"

#define ASSIGN_CHUNK 1024

// Uniform in [0, 1) with 53 random bits: draw number i of a seed.
static double philox_uniform(uint64_t seed, int64_t i) {
    ds_philox_u4 r = ds_philox_block(seed, i, 0);
    return ((double)(r.v[0] >> 5) * 67108864.0 + (double)(r.v[1] >> 6)) * 0x1.0p-53;
}

// Index drawn with probability proportional to w (uniformly when all w are 0).
static int64_t draw_weighted(const double *w, int64_t n, double u) {
    double total = 0;
    for (int64_t i = 0; i < n; i++) total += w[i];
    if (!(total > 0)) return (int64_t)(u * (double)n);
    double target = u * total, cum = 0;
    int64_t last = 0;
    for (int64_t i = 0; i < n; i++) {
        if (w[i] <= 0) continue;
        cum += w[i];
        last = i;
        if (cum > target) return i;
    }
    return last; // rounding left target just above the sum
}

// k-means++ (Arthur & Vassilvitskii 2007): the first centre is a uniform row, each next
// one a row drawn with probability proportional to its squared distance to the nearest
// chosen centre. nearest (n) is workspace.
static void kmeanspp_init(const ds_data *data, int64_t k, uint64_t seed, double *centres,
                          double *nearest) {
    int64_t n = data->n, d = data->d;
    for (int64_t c = 0; c < k; c++) {
        double u = philox_uniform(seed, c);
        int64_t pick = c == 0 ? (int64_t)(u * (double)n) : draw_weighted(nearest, n, u);
        double *centre = centres + c * d;
        fit_rows_f64(data, NULL, pick, 1, NULL, centre);
#pragma omp parallel for num_threads(ds_threads_for((double)n *(double)d))
        for (int64_t i = 0; i < n; i++) {
            double s = 0;
            for (int64_t j = 0; j < d; j++) {
                double v = ds_data_value(data, i, j) - centre[j];
                s += v * v;
            }
            nearest[i] = c == 0 ? s : fmin(nearest[i], s);
        }
    }
}

typedef struct {
    double *centres; // k x d
    double *dist;    // n: squared distance of each row to its centre
    double *rows;    // ASSIGN_CHUNK x d
    double *gram;    // ASSIGN_CHUNK x k
    double *norms;   // k
    int64_t *counts; // k
} kmeans_work;

// Assigns every row to its nearest centre, with |x|^2 - 2 x.c + |c|^2 and one dgemm per
// chunk of rows; ties go to the lower index. Returns how many rows changed component.
static int64_t assign_rows(const ds_data *data, int64_t k, kmeans_work *w, int64_t *assign) {
    int64_t n = data->n, d = data->d, changed = 0;
    for (int64_t c = 0; c < k; c++)
        w->norms[c] = cblas_ddot((int)d, w->centres + c * d, 1, w->centres + c * d, 1);
    for (int64_t first = 0; first < n; first += ASSIGN_CHUNK) {
        int64_t count = n - first < ASSIGN_CHUNK ? n - first : ASSIGN_CHUNK;
        fit_rows_f64(data, NULL, first, count, NULL, w->rows);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)count, (int)k, (int)d, 1.0,
                    w->rows, (int)d, w->centres, (int)d, 0.0, w->gram, (int)k);
        for (int64_t i = 0; i < count; i++) {
            const double *g = w->gram + i * k;
            int64_t best = 0;
            for (int64_t c = 1; c < k; c++)
                if (w->norms[c] - 2 * g[c] < w->norms[best] - 2 * g[best]) best = c;
            double xx = cblas_ddot((int)d, w->rows + i * d, 1, w->rows + i * d, 1);
            w->dist[first + i] = fmax(xx + w->norms[best] - 2 * g[best], 0.0);
            if (assign[first + i] != best) changed++;
            assign[first + i] = best;
        }
    }
    return changed;
}

// Counts the rows of each component (w->counts) and gives every empty component the row
// farthest from its centre. Returns how many were reseeded, or -1 when no row is left to
// move (fewer distinct rows than components).
static int64_t reseed_empty(const ds_data *data, int64_t k, kmeans_work *w, int64_t *assign) {
    int64_t n = data->n, reseeded = 0;
    memset(w->counts, 0, sizeof(int64_t) * (size_t)k);
    for (int64_t i = 0; i < n; i++) w->counts[assign[i]]++;
    for (int64_t c = 0; c < k; c++) {
        if (w->counts[c]) continue;
        int64_t far = 0;
        for (int64_t i = 1; i < n; i++)
            if (w->dist[i] > w->dist[far]) far = i;
        if (!(w->dist[far] > 0) || w->counts[assign[far]] < 2) {
            ds_fail("k-means: component %lld is empty and no row is left to move into it (the "
                    "data has fewer distinct rows than K = %lld)",
                    (long long)c, (long long)k);
            return -1;
        }
        w->counts[assign[far]]--;
        w->counts[c] = 1;
        assign[far] = c;
        w->dist[far] = 0;
        reseeded++;
    }
    return reseeded;
}

static void update_centres(const ds_data *data, int64_t k, kmeans_work *w, const int64_t *assign) {
    int64_t n = data->n, d = data->d;
    memset(w->centres, 0, sizeof(double) * (size_t)(k * d));
    for (int64_t i = 0; i < n; i++) {
        double *c = w->centres + assign[i] * d;
        for (int64_t j = 0; j < d; j++) c[j] += ds_data_value(data, i, j);
    }
    for (int64_t c = 0; c < k; c++)
        for (int64_t j = 0; j < d; j++) w->centres[c * d + j] /= (double)w->counts[c];
}

// k-means++ then Lloyd iterations until no row changes component (or iters).
static int kmeans(const ds_data *data, int64_t k, uint64_t seed, int iters, int64_t *assign) {
    int64_t n = data->n, d = data->d;
    kmeans_work w = {
        .centres = ds_try_alloc((size_t)(k * d), sizeof(double), "k-means centres"),
        .dist = ds_try_alloc((size_t)n, sizeof(double), "k-means distances"),
        .rows = ds_try_alloc((size_t)(ASSIGN_CHUNK * d), sizeof(double), "k-means rows"),
        .gram = ds_try_alloc((size_t)(ASSIGN_CHUNK * k), sizeof(double), "k-means products"),
        .norms = ds_try_alloc((size_t)k, sizeof(double), "k-means norms"),
        .counts = ds_try_alloc((size_t)k, sizeof(int64_t), "k-means counts"),
    };
    int rc = w.centres && w.dist && w.rows && w.gram && w.norms && w.counts ? 0 : -1;
    if (!rc) kmeanspp_init(data, k, seed, w.centres, w.dist);
    for (int64_t i = 0; i < n; i++) assign[i] = -1;
    for (int it = 0; it < iters && !rc; it++) {
        int64_t changed = assign_rows(data, k, &w, assign);
        int64_t reseeded = reseed_empty(data, k, &w, assign);
        if (reseeded < 0) rc = -1;
        if (rc || (changed == 0 && reseeded == 0)) break;
        update_centres(data, k, &w, assign);
    }
    free(w.centres);
    free(w.dist);
    free(w.rows);
    free(w.gram);
    free(w.norms);
    free(w.counts);
    return rc;
}

static int compare_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

// The distinct class labels of the data in increasing order (*sorted, to free); `option`
// names what needs them.
static int class_labels(const ds_data *data, const char *option, int32_t **sorted,
                        int64_t *distinct) {
    if (!data->labels)
        return ds_fail("%s: %s needs class labels, but this data set has none (IDX label "
                       "files are found next to the images)",
                       data->path, option);
    int64_t n = data->n, count = 0;
    int32_t *s = ds_try_alloc((size_t)n, sizeof(int32_t), "gmm labels");
    if (!s) return -1;
    memcpy(s, data->labels, sizeof(int32_t) * (size_t)n);
    qsort(s, (size_t)n, sizeof(int32_t), compare_i32);
    for (int64_t i = 0; i < n; i++)
        if (i == 0 || s[i] != s[count - 1]) s[count++] = s[i];
    *sorted = s, *distinct = count;
    return 0;
}

static int64_t label_index(const int32_t *sorted, int64_t distinct, int32_t label) {
    const int32_t *hit = bsearch(&label, sorted, (size_t)distinct, sizeof(int32_t), compare_i32);
    return hit - sorted;
}

// One component per distinct class label, in increasing label order.
static int assign_from_labels(const ds_data *data, int64_t *assign, ds_model *m) {
    int32_t *sorted;
    int64_t distinct;
    DS_TRY(class_labels(data, "--gmm-from-labels", &sorted, &distinct));
    for (int64_t i = 0; i < data->n; i++)
        assign[i] = label_index(sorted, distinct, data->labels[i]);
    m->k = distinct, m->classes = sorted; // component c is class sorted[c]
    return 0;
}

// k components per class label (classes in increasing order, each class's k components
// next to each other): k-means on the class's rows alone, with the same seed, so class
// L's components are those of the same fit to a data set of class L's rows.
static int assign_per_class(const ds_data *data, const ds_fit_opts *o, int64_t *assign,
                            ds_model *m) {
    int32_t *sorted;
    int64_t distinct, k = o->k;
    DS_TRY(class_labels(data, "--per-class", &sorted, &distinct));
    m->k = distinct * k;
    m->classes = ds_try_alloc((size_t)m->k, sizeof(int32_t), "gmm classes");
    int64_t *sub_assign = ds_try_alloc((size_t)data->n, sizeof(int64_t), "gmm assignments");
    int rc = m->classes && sub_assign ? 0 : -1;
    for (int64_t li = 0; li < distinct && !rc; li++) {
        ds_data rows;
        if ((rc = ds_data_select_class(data, sorted[li], &rows))) break;
        if (rows.n < k)
            rc = ds_fail("gmm: class %d has %lld rows, fewer than --k %lld components per class",
                         (int)sorted[li], (long long)rows.n, (long long)k);
        if (!rc) rc = kmeans(&rows, k, o->seed, o->kmeans_iters, sub_assign);
        for (int64_t i = 0, j = 0; !rc && i < data->n; i++)
            if (data->labels[i] == sorted[li]) assign[i] = li * k + sub_assign[j++];
        for (int64_t c = 0; c < k && m->classes; c++) m->classes[li * k + c] = sorted[li];
        ds_data_free(&rows);
    }
    free(sub_assign);
    free(sorted);
    return rc;
}

// Row indices grouped by component: rows of component c are order[start[c] ..
// start[c+1]).
static int group_rows(const int64_t *assign, int64_t n, int64_t k, int64_t *start, int64_t *order) {
    memset(start, 0, sizeof(int64_t) * (size_t)(k + 1));
    for (int64_t i = 0; i < n; i++) start[assign[i] + 1]++;
    for (int64_t c = 0; c < k; c++) start[c + 1] += start[c];
    int64_t *next = ds_try_alloc((size_t)k, sizeof(int64_t), "gmm components");
    if (!next) return -1;
    memcpy(next, start, sizeof(int64_t) * (size_t)k);
    for (int64_t i = 0; i < n; i++) order[next[assign[i]]++] = i;
    free(next);
    return 0;
}

// Fits component c to its rows. Fewer than r + 1 rows cannot span r directions (their
// covariance has rank <= count - 1), so such a component's eigenvalues and residual are
// floored at var_floor; returns 1 when it did that.
static int fit_component(const ds_data *data, const int64_t *rows, int64_t count, int64_t c,
                         double var_floor, ds_model *m, double *cov) {
    int64_t d = m->d, r = m->r;
    char what[64];
    snprintf(what, sizeof what, "gmm component %lld", (long long)c);
    DS_TRY(fit_moments(data, rows, count, m->means + c * d, cov));
    DS_TRY(fit_decompose(what, cov, d, r, m->eigvals + c * r, m->eigvecs + c * d * r,
                         m->residual + c));
    m->weights[c] = (double)count / (double)data->n;
    if (count > r) return 0;
    for (int64_t j = 0; j < r; j++) m->eigvals[c * r + j] = fmax(m->eigvals[c * r + j], var_floor);
    if (r < d) m->residual[c] = fmax(m->residual[c], var_floor);
    return 1;
}

static int fit_components(const ds_data *data, const ds_fit_opts *o, const int64_t *assign,
                          ds_model *m) {
    int64_t n = data->n, d = data->d, k = m->k, r = m->r;
    int64_t *start = ds_try_alloc((size_t)(k + 1), sizeof(int64_t), "gmm components");
    int64_t *order = ds_try_alloc((size_t)n, sizeof(int64_t), "gmm components");
    double *cov = ds_try_alloc((size_t)(d * d), sizeof(double), "gmm covariance");
    int rc = start && order && cov ? 0 : -1;
    int64_t floored = 0, smallest = 0;
    if (!rc) rc = group_rows(assign, n, k, start, order);
    for (int64_t c = 0; c < k && !rc; c++) {
        int64_t count = start[c + 1] - start[c];
        int f = fit_component(data, order + start[c], count, c, o->var_floor, m, cov);
        if (f < 0) rc = -1;
        floored += f > 0;
        if (count < start[smallest + 1] - start[smallest]) smallest = c;
    }
    if (!rc && floored)
        fprintf(stderr,
                "diffsamp: warning: gmm: %lld of %lld components have fewer than r + 1 = %lld "
                "rows (smallest: component %lld with %lld); their eigenvalues are floored at "
                "%g\n",
                (long long)floored, (long long)k, (long long)(r + 1), (long long)smallest,
                (long long)(start[smallest + 1] - start[smallest]), o->var_floor);
    free(start);
    free(order);
    free(cov);
    return rc;
}

int fit_gmm(const ds_data *data, const ds_fit_opts *o, ds_model *m) {
    int64_t n = data->n, d = data->d;
    int64_t *assign = ds_try_alloc((size_t)n, sizeof(int64_t), "gmm assignments");
    if (!assign) return -1;
    m->k = o->k;
    int rc = o->per_class     ? assign_per_class(data, o, assign, m)
             : o->from_labels ? assign_from_labels(data, assign, m)
                              : kmeans(data, o->k, o->seed, o->kmeans_iters, assign);
    if (!rc) {
        int64_t k = m->k, r = m->r = o->rank ? o->rank : d;
        m->weights = ds_try_alloc((size_t)k, sizeof(double), "gmm weights");
        m->means = ds_try_alloc((size_t)(k * d), sizeof(double), "gmm means");
        m->eigvals = ds_try_alloc((size_t)(k * r), sizeof(double), "gmm eigenvalues");
        m->eigvecs = ds_try_alloc((size_t)(k * d * r), sizeof(double), "gmm eigenvectors");
        m->residual = ds_try_alloc((size_t)k, sizeof(double), "gmm residuals");
        rc = m->weights && m->means && m->eigvals && m->eigvecs && m->residual
                 ? fit_components(data, o, assign, m)
                 : -1;
    }
    free(assign);
    return rc;
}
