// The model folder: input = model.txt, then arrays separated by FUZZ_SEP, each a byte
// that picks its name (mean.npy, ..., data.npy) and the file. The folder is loaded;
// an accepted model has consistent sizes and finite parameters. model.txt texts with
// a '/' are skipped, so that `data = ...` stays inside the scratch folder (the current
// directory during the load): a fuzzer must not hash the machine's files.
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "ds_model.h"
#include "fuzz_harness.h"

static const char *names[] = {"mean.npy", "means.npy", "weights.npy",  "eigvals.npy", "eigvecs.npy",
                              "cov.npy",  "covs.npy",  "residual.npy", "data.npy"};
#define N_NAMES (sizeof names / sizeof names[0])

static void check_finite(const double *x, int64_t n, const char *what) {
    for (int64_t i = 0; x && i < n; i++)
        FUZZ_ASSERT(isfinite(x[i]), "%s[%lld] is %g", what, (long long)i, x[i]);
}

static void check_model(const ds_model *m) {
    FUZZ_ASSERT(m->d >= 1 && isfinite(m->sigma_data) && m->sigma_data >= 0, "d %lld sigma %g",
                (long long)m->d, m->sigma_data);
    if (m->kind == DS_MODEL_EMPIRICAL) {
        FUZZ_ASSERT(m->data.n >= 1 && m->data.d == m->d, "data %lld x %lld for d %lld",
                    (long long)m->data.n, (long long)m->data.d, (long long)m->d);
        return;
    }
    FUZZ_ASSERT(m->k >= 1 && m->r >= 1 && m->r <= m->d, "k %lld r %lld d %lld", (long long)m->k,
                (long long)m->r, (long long)m->d);
    double sum = 0;
    for (int64_t c = 0; c < m->k; c++) sum += m->weights[c];
    FUZZ_ASSERT(fabs(sum - 1) <= 1e-9, "weights sum to %.17g", sum);
    check_finite(m->means, m->k * m->d, "means");
    check_finite(m->eigvals, m->k * m->r, "eigvals");
    check_finite(m->eigvecs, m->k * m->d * m->r, "eigvecs");
    check_finite(m->residual, m->k, "residual");
    for (int64_t i = 0; i < m->k * m->r; i++)
        FUZZ_ASSERT(m->eigvals[i] >= 0, "eigenvalue %lld is %g", (long long)i, m->eigvals[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_part p[FUZZ_MAX_PARTS];
    int n = fuzz_split(data, size, p, FUZZ_MAX_PARTS);
    if (memchr(p[0].data, '/', p[0].size)) return 0;
    char cwd[4096]; // back after the load: libFuzzer reads its corpus paths relative to it
    FUZZ_ASSERT(getcwd(cwd, sizeof cwd) && chdir(fuzz_dir()) == 0, "cannot enter %s", fuzz_dir());
    fuzz_write("model/model.txt", p[0].data, p[0].size);
    for (int i = 1; i < n; i++) {
        if (!p[i].size) continue;
        char name[64];
        const char *pick = names[p[i].data[0] % N_NAMES];
        snprintf(name, sizeof name, "%s%s", strcmp(pick, "data.npy") ? "model/" : "", pick);
        fuzz_write(name, p[i].data + 1, p[i].size - 1);
    }
    const char *dir = fuzz_path("model");
    ds_model m;
    int rc = ds_model_load(dir, &m);
    FUZZ_ASSERT(rc == 0 || rc == -1, "returned %d", rc);
    if (rc) {
        fuzz_check_refusal(dir);
        FUZZ_ASSERT(!m.means && !m.eigvecs && !m.data.values, "refused but left arrays");
    } else {
        check_model(&m);
    }
    ds_model_free(&m);
    fuzz_clear();
    FUZZ_ASSERT(chdir(cwd) == 0, "cannot return to %s", cwd);
    return 0;
}
