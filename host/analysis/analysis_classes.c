// Class histograms: the labels of the training rows that samples land nearest to, and
// their total variation distance from the training set's class frequencies (the
// distributional measure of a sampler whose noise makes per-sample errors meaningless).
#include <math.h>
#include <stdlib.h>

#include "ds_analysis.h"
#include "ds_error.h"

int ds_class_count(const ds_data *train, int64_t *n_classes) {
    *n_classes = 0;
    if (!train->labels)
        return ds_fail("%s: no class labels (expected IDX images with their labels file, or "
                       "CIFAR-10)",
                       train->path);
    int32_t top = -1;
    for (int64_t i = 0; i < train->n; i++) {
        if (train->labels[i] < 0)
            return ds_fail("%s: label %d of row %lld is negative (expected labels >= 0)",
                           train->path, train->labels[i], (long long)i);
        if (train->labels[i] > top) top = train->labels[i];
    }
    *n_classes = (int64_t)top + 1;
    return 0;
}

void ds_class_histogram(const ds_data *train, const int64_t *rows, int64_t m, int64_t n_classes,
                        int64_t *counts) {
    for (int64_t c = 0; c < n_classes; c++) counts[c] = 0;
    for (int64_t i = 0; i < m; i++) counts[train->labels[rows ? rows[i] : i]]++;
}

double ds_histogram_tv(const int64_t *a, const int64_t *b, int64_t k) {
    double na = 0, nb = 0, tv = 0;
    for (int64_t c = 0; c < k; c++) na += (double)a[c], nb += (double)b[c];
    if (!(na > 0 && nb > 0)) return NAN;
    for (int64_t c = 0; c < k; c++) tv += fabs((double)a[c] / na - (double)b[c] / nb);
    return 0.5 * tv;
}
