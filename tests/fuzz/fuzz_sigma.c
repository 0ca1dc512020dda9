// The sigma list (--schedule file): an accepted list has at least 2 sigmas, strictly
// decreasing, each in range or a last 0.
#include <math.h>
#include <stdlib.h>

#include "ds_schedule.h"
#include "fuzz_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("sigmas.txt", data, size);
    double *s = NULL;
    int n = 0;
    int rc = ds_schedule_read(path, &s, &n);
    if (rc) {
        fuzz_check_refusal(path);
        FUZZ_ASSERT(!s && n == 0, "refused but left %d sigmas", n);
    } else {
        FUZZ_ASSERT(n >= 2 && s, "accepted %d sigmas", n);
        for (int i = 0; i < n; i++) {
            FUZZ_ASSERT(isfinite(s[i]) && s[i] >= 0, "sigma %d is %g", i, s[i]);
            FUZZ_ASSERT(s[i] > 0 || i == n - 1, "sigma %d of %d is 0", i, n);
            FUZZ_ASSERT(i == 0 || s[i] < s[i - 1], "sigma %d (%g) follows %g", i, s[i], s[i - 1]);
        }
    }
    free(s);
    fuzz_clear();
    return 0;
}
