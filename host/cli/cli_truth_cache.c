// The ground truth of a sweep kept for the next one: OUT/truth/HASH.npy (the n x d rows)
// and HASH.txt (the key that determines them, then the run's NFE and seconds), where HASH
// is the key's FNV-1a hash. A truth is reused only when the stored key equals the new one
// byte for byte, so a hash collision cannot return another run's rows.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ds_error.h"
#include "ds_io.h"

static void cache_paths(const char *out, const char *key, char *npy, char *txt, size_t size) {
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *c = (const unsigned char *)key; *c; c++)
        h = (h ^ *c) * 1099511628211ull;
    snprintf(npy, size, "%s/truth/%016llx.npy", out, (unsigned long long)h);
    snprintf(txt, size, "%s/truth/%016llx.txt", out, (unsigned long long)h);
}

int cli_truth_load(const char *out, const char *key, double *rows, int64_t n, int64_t d,
                   int64_t *nfe, double *seconds, char *path, size_t path_size) {
    char txt[DS_PATH_MAX + 64];
    cache_paths(out, key, path, txt, path_size < sizeof txt ? path_size : sizeof txt);
    FILE *f = fopen(txt, "r");
    if (!f) return 0;
    size_t len = strlen(key);
    char *stored = ds_try_alloc(len + 2, 1, txt);
    long long nfe_ll = 0;
    int same = stored && fread(stored, 1, len + 1, f) == len + 1 && !memcmp(stored, key, len) &&
               stored[len] == '\n' && fscanf(f, "nfe=%lld seconds=%lf", &nfe_ll, seconds) == 2;
    fclose(f);
    free(stored);
    if (!same) return 0;
    ds_array a;
    if (ds_npy_read_any(path, &a)) return 0; // unreadable: run the truth again
    int fits = a.dtype == DS_F64 && a.ndim == 2 && a.shape[0] == n && a.shape[1] == d;
    if (fits) memcpy(rows, a.data, sizeof(double) * (size_t)(n * d));
    ds_array_free(&a);
    *nfe = nfe_ll;
    return fits;
}

int cli_truth_save(const char *out, const char *key, const double *rows, int64_t n, int64_t d,
                   int64_t nfe, double seconds) {
    char npy[DS_PATH_MAX + 64], txt[DS_PATH_MAX + 64], dir[DS_PATH_MAX + 16];
    cache_paths(out, key, npy, txt, sizeof npy);
    snprintf(dir, sizeof dir, "%s/truth", out);
    DS_TRY(ds_mkdirs(dir));
    const int64_t shape[2] = {n, d};
    DS_TRY(ds_npy_write_f64(npy, rows, 2, shape, DS_F64));
    ds_atomic_file af; // the key last: a truth is found only once its rows are complete
    DS_TRY(ds_atomic_open(&af, txt));
    fprintf(af.f, "%s\nnfe=%lld seconds=%.6f\n", key, (long long)nfe, seconds);
    return ds_atomic_commit(&af);
}
