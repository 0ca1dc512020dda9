// The log-sum-exp merge of data sharding (host/dist/lse_fold.c): the states of contiguous
// parts of the training rows, folded in order or as a tree (as MPI's reduction may), give
// the state of all rows at once; equal maxima keep the earlier part's row; an empty part
// changes nothing.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "testutil.h"

enum { N = 97, D = 7, W = DS_LSE_HEAD + D };

// The state of rows [a, b) with logits l and rows y, in one pass (dist.h's layout).
static void state_of(const double *l, const double *y, int a, int b, double *s) {
    memset(s, 0, W * sizeof *s);
    s[DS_LSE_LMAX] = -INFINITY;
    for (int i = a; i < b; i++)
        if (l[i] > s[DS_LSE_LMAX]) s[DS_LSE_LMAX] = l[i], s[DS_LSE_TOP] = i;
    for (int i = a; i < b; i++) {
        double w = exp(l[i] - s[DS_LSE_LMAX]);
        s[DS_LSE_Z] += w, s[DS_LSE_ZL] += w * (l[i] - s[DS_LSE_LMAX]);
        for (int j = 0; j < D; j++) s[DS_LSE_HEAD + j] += w * y[i * D + j];
    }
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// The maximum and the row exactly; z, zl and the weighted sum to 1e-12 relative.
static void assert_state(const double *got, const double *want) {
    assert_true(got[DS_LSE_LMAX] == want[DS_LSE_LMAX]);
    assert_true(got[DS_LSE_TOP] == want[DS_LSE_TOP]);
    // Each fold rescales by one exp and adds: a few roundings of 1.1e-16 per value over
    // at most 4 folds (~1e-15); 1e-12 leaves room without hiding a wrong formula (which
    // is off by O(1)).
    for (int k = DS_LSE_Z; k <= DS_LSE_ZL; k++)
        assert_true(fabs(got[k] - want[k]) <= 1e-12 * fabs(want[k]));
    double acc = 0; // the weighted sum, relative to its largest element
    for (int j = 0; j < D; j++) acc = fmax(acc, fabs(want[DS_LSE_HEAD + j]));
    for (int j = 0; j < D; j++)
        assert_true(fabs(got[DS_LSE_HEAD + j] - want[DS_LSE_HEAD + j]) <= 1e-12 * acc);
}

static void test_parts_fold_to_the_whole(void **unused) {
    (void)unused;
    uint64_t seed = tu_seed();
    double l[N], y[N * D], whole[W], parts[5][W], seq[W], left[W], right[W];
    tu_fill_uniform(l, N, seed, -40, 40); // spread: each part's maximum differs
    tu_fill_normal(y, N * D, seed + 1);
    state_of(l, y, 0, N, whole);
    // Five parts at random cuts (empty parts allowed).
    double f[4];
    int cut[6] = {0};
    tu_fill_uniform(f, 4, seed + 3, 0, 1);
    qsort(f, 4, sizeof *f, compare);
    for (int k = 0; k < 4; k++) cut[k + 1] = (int)(f[k] * N);
    cut[5] = N;
    for (int k = 0; k < 5; k++) state_of(l, y, cut[k], cut[k + 1], parts[k]);
    // In order, into the earlier state (out aliasing early).
    memcpy(seq, parts[0], sizeof seq);
    for (int k = 1; k < 5; k++) ds_lse_fold(seq, parts[k], seq, D);
    assert_state(seq, whole);
    // As a tree, into the later state (out aliasing late, as the MPI operation does).
    memcpy(left, parts[1], sizeof left);
    ds_lse_fold(parts[0], left, left, D);
    memcpy(right, parts[4], sizeof right);
    ds_lse_fold(parts[3], right, right, D);
    ds_lse_fold(parts[2], right, right, D);
    ds_lse_fold(left, right, right, D);
    assert_state(right, whole);
}

static void test_ties_keep_the_earlier_row(void **unused) {
    (void)unused;
    double l[4] = {1.5, -2, 1.5, 0}, y[4 * D] = {0}, a[W], b[W], whole[W];
    state_of(l, y, 0, 2, a);
    state_of(l, y, 2, 4, b);
    state_of(l, y, 0, 4, whole);
    ds_lse_fold(a, b, a, D);
    assert_true(a[DS_LSE_TOP] == 0 && whole[DS_LSE_TOP] == 0);
    assert_state(a, whole);
}

static void test_an_empty_part_changes_nothing(void **unused) {
    (void)unused;
    double l[N], y[N * D], s[W], empty[W], got[W];
    tu_fill_uniform(l, N, tu_seed(), -5, 5);
    tu_fill_normal(y, N * D, tu_seed() + 2);
    state_of(l, y, 10, 50, s);
    state_of(l, y, 3, 3, empty);
    ds_lse_fold(empty, s, got, D);
    assert_memory_equal(got, s, sizeof s);
    ds_lse_fold(s, empty, got, D);
    assert_memory_equal(got, s, sizeof s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parts_fold_to_the_whole),
        cmocka_unit_test(test_ties_keep_the_earlier_row),
        cmocka_unit_test(test_an_empty_part_changes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
