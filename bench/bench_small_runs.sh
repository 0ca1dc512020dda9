#!/bin/sh
# Wall time of whole `diffsamp sample` runs, small and large, with the library's thread
# counts from the amount of work (the default, host/core/threads.c) against its baseline
# in the same run, every OpenMP region on all threads (DIFFSAMP_OMP_SERIAL_WORK=0, what
# the code did before), and against that baseline with OMP_WAIT_POLICY=passive. Runs are
# interleaved, REPS of each; prints min / median / max seconds.
#   small: d = 2, 500 training rows, 64 samples, Heun 18 steps (35 NFE): about 2 * 35 *
#          64 * 500 * 2 = 4.5 MFLOP in the denoiser, nearly all of it in calls of < 2^20
#          operations, which now run on the calling thread;
#   large: d = 784, 4,000 training rows, 16 samples, Heun 18 steps, --no-landing:
#          2 * 35 * 16 * 4,000 * 784 = 3.5 GFLOP, every call on all threads in both.
# Usage: bench/bench_small_runs.sh BUILD_DIR [REPS]   (REPS default 7)
set -eu
B=$(realpath "$1")/diffsamp
REPS=${2:-7}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
/usr/bin/python3 - "$T" <<'PY'
import sys, numpy as np
rng = np.random.default_rng(0)
np.save(sys.argv[1] + "/small.npy", rng.standard_normal((500, 2)).astype(np.float32))
np.save(sys.argv[1] + "/large.npy", rng.standard_normal((4000, 784)).astype(np.float32))
PY
small="--data $T/small.npy --n 64"
large="--data $T/large.npy --n 16 --no-landing"
run() { # label, env assignment, size options
    start=$(date +%s.%N)
    env $2 "$B" sample $3 --backend cpu --out "$T/out" --force --quiet --no-png >/dev/null 2>&1
    end=$(date +%s.%N)
    echo "$1 $(echo "$end - $start" | bc)" >>"$T/times"
}
for i in $(seq "$REPS"); do
    for size in small large; do
        eval opts=\$$size
        run "$size default" "DIFFSAMP_BENCH=1" "$opts"
        run "$size all-threads" "DIFFSAMP_OMP_SERIAL_WORK=0" "$opts"
        run "$size all-threads+passive" "DIFFSAMP_OMP_SERIAL_WORK=0 OMP_WAIT_POLICY=passive" "$opts"
    done
done
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$T/times" <<'PY'
import sys, statistics
rows = {}
for line in open(sys.argv[1]):
    *label, t = line.split()
    rows.setdefault(" ".join(label), []).append(float(t))
for label, ts in rows.items():
    base = statistics.median(rows[label.split()[0] + " all-threads"])
    print("%-28s min %6.3f  median %6.3f  max %6.3f s  (median / all-threads' %.2f)"
          % (label, min(ts), statistics.median(ts), max(ts), statistics.median(ts) / base))
PY
