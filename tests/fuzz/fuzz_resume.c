// The resume manifest of diffsamp sample: input = flags byte, config.txt, then shards
// batch-000000.npy, batch-000001.npy, ... separated by FUZZ_SEP (flag bit 1 also
// writes the "complete" marker). The run is opened with --resume for 5 rows of 3
// values in batches of 2: a config other than this run's is refused; an accepted run
// counts at most its batches and, when all are done, reads back 5 x 3 finite rows or
// refuses the shard that does not fit.
#include <math.h>
#include <string.h>

#include "ds_error.h"
#include "fuzz_harness.h"
#include "resume.h"

#define CONFIG "n=5\nbatch=2\nseed=1\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    fuzz_clear(); // a fresh run folder: nothing an earlier input left decides this one
    fuzz_part p[5];
    int n = fuzz_split(data + 1, size - 1, p, 5);
    fuzz_write("run/.diffsamp-run/config.txt", p[0].data, p[0].size);
    if (data[0] & 1) fuzz_write("run/.diffsamp-run/complete", "complete\n", 9);
    for (int i = 1; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "run/.diffsamp-run/batch-%06d.npy", i - 1);
        fuzz_write(name, p[i].data, p[i].size);
    }
    const char *dir = fuzz_path("run");
    ds_resume r;
    int rc = ds_resume_open(&r, dir, CONFIG, 5, 2, 3, DS_F32, 1);
    int same = p[0].size == strlen(CONFIG) && !memcmp(p[0].data, CONFIG, p[0].size);
    if (rc) {
        fuzz_check_refusal(dir);
        FUZZ_ASSERT(!same, "the run's own config was refused: %s", ds_error());
    } else {
        FUZZ_ASSERT(same && memchr(p[0].data, 0, p[0].size) == NULL,
                    "a different config was accepted");
        FUZZ_ASSERT(r.batches_done >= 0 && r.batches_done <= r.n_batches && r.samples_done <= r.n,
                    "%lld batches, %lld samples done", (long long)r.batches_done,
                    (long long)r.samples_done);
        ds_array a;
        if (r.batches_done == r.n_batches && !r.complete) {
            if (ds_resume_gather(&r, 5, &a) == 0) {
                FUZZ_ASSERT(a.ndim == 2 && a.shape[0] == 5 && a.shape[1] == 3,
                            "gathered %lld x %lld", (long long)a.shape[0], (long long)a.shape[1]);
                for (int i = 0; i < 15; i++)
                    FUZZ_ASSERT(isfinite(((float *)a.data)[i]), "row value %d", i);
                ds_array_free(&a);
            } else {
                fuzz_check_refusal(dir);
            }
        }
        ds_resume_close(&r);
    }
    fuzz_clear();
    return 0;
}
