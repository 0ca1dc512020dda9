// Thread counts for the OpenMP regions from their amount of work (threads.h).
#include <omp.h>
#include <stdlib.h>

#include "threads.h"

// Below this many operations per thread a region's fork, join and the workers' spinning
// afterwards cost more than the work they share.
#define SERIAL_WORK_DEFAULT 1048576.0

static double serial_work(void) {
    static double work = -1;
    if (work < 0) { // read once; a race between threads writes the same value
        const char *env = getenv("DIFFSAMP_OMP_SERIAL_WORK");
        char *end;
        double v = env ? strtod(env, &end) : SERIAL_WORK_DEFAULT;
        work = env && end != env && *end == '\0' && v >= 0 ? v : SERIAL_WORK_DEFAULT;
    }
    return work;
}

int ds_threads_for(double work) {
    int max = omp_get_max_threads();
    double per = serial_work();
    if (per == 0) return max;
    double t = work / per;
    return t < 1 ? 1 : t > max ? max : (int)t;
}
