// A program built against an installed diffsamp (tests/cli_install.sh): fits the Gaussian
// model to random rows through the public API and checks its mean against the rows' mean
// summed here in double. Both sum the same float rows in double, in the same order or
// not: the difference is a few ulps of double, far inside the 1e-12 bound, while a
// wrong library (other rows, float sums) misses it by orders of magnitude.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <diffsamp.h>

int main(int argc, char **argv) {
    unsigned long long seed = argc > 1 ? strtoull(argv[1], NULL, 10) : 1;
    enum { n = 500, d = 4 };
    float *rows = malloc(sizeof(float) * n * d);
    if (!rows) return 1;
    double want[d] = {0};
    for (int i = 0; i < n * d; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        rows[i] = (float)((double)(seed >> 11) / 9007199254740992.0 * 4.0 - 1.0 + i % d);
        want[i % d] += rows[i];
    }
    ds_data data = {.n = n, .d = d, .dtype = DS_F32, .values = rows};
    ds_fit_opts opts;
    ds_fit_opts_default(&opts);
    ds_model model;
    if (ds_model_fit(&data, DS_MODEL_GAUSSIAN, &opts, &model)) {
        fprintf(stderr, "consumer: %s\n", ds_error());
        return 1;
    }
    double worst = 0;
    for (int j = 0; j < d; j++) {
        double rel = fabs(model.mean[j] - want[j] / n) / fabs(want[j] / n);
        if (rel > worst) worst = rel;
    }
    printf("diffsamp %s: Gaussian mean relative error %.3g\n", ds_version(), worst);
    ds_model_free(&model);
    free(rows);
    return worst < 1e-12 ? 0 : 1;
}
