#!/bin/sh
# tools/plot_*.py on the CSV files the analysis commands write: each makes a PNG,
# also for a sweep without --heldout (Frechet column NaN), a one-dimensional trajectory
# and a sample that never moves (no chord to scale the projection by).
. "$(dirname "$0")/shell_common.sh"
SRC=${DIFFSAMP_SOURCE_DIR:-.}
if ! $PY -c 'import numpy, matplotlib' 2>/dev/null; then
    echo "skipped: numpy or matplotlib for $PY not found"
    exit 0
fi
$PY - "$T" <<'PY'
import sys, numpy as np
rng = np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 1])
t = sys.argv[1]
np.save(t + "/train.npy", rng.standard_normal((60, 4)).astype(np.float32))
np.save(t + "/held.npy", rng.standard_normal((30, 4)).astype(np.float32))
x = np.cumsum(rng.standard_normal((6, 3, 1)), axis=0)  # one-dimensional
x[:, 1] = x[0, 1]  # a sample that never moves
for name, a in (("x", x), ("denoised", x), ("sigmas", np.geomspace(80, 0.002, 6))):
    np.save("%s/t_%s.npy" % (t, name), a)
# plot_linear_features.py: pooled 2-D samples in folders, as findings_linear_features.sh writes
import os
np.save(t + "/ring.npy", np.array([[1.0, 0], [0, 1], [-1, 0], [0, -1]]))
for k in (1, 2, 3, 4):
    os.makedirs("%s/lf%d" % (t, k))
    np.save("%s/lf%d/pooled.npy" % (t, k), rng.standard_normal((50, 2)) * 0.5 * k)
PY
run() { "$@" >"$T/log" 2>&1 || fail "$*: $(cat "$T/log")"; }
run "$BIN" sweep --data "$T/train.npy" --model gaussian --solvers euler,heun --nfe 4,8 \
    --teleport 0,0.5 --n 4 --backend ref --out "$T/a"
run "$BIN" analyze denoisers --data "$T/train.npy" --heldout "$T/held.npy" --k 2 --n 8 \
    --levels 5 --backend ref --out "$T/a"
run "$BIN" analyze trajectory --trajectory "$T/t" --out "$T/a"
run $PY "$SRC/tools/plot_sweep.py" "$T/a/sweep.csv" "$T/sweep.png"
run $PY "$SRC/tools/plot_sweep.py" "$T/a/sweep.csv" "$T/sweep_t0.png" --where teleport=0
run $PY "$SRC/tools/plot_denoisers.py" "$T/a/denoisers.csv" "$T/denoisers.png"
run $PY "$SRC/tools/plot_trajectory.py" "$T/a/trajectory_steps.csv" "$T/trajectory.png" \
    --trajectory "$T/t"
run $PY "$SRC/tools/plot_linear_features.py" "$T/linear_features.png" "$T/ring.npy" \
    "$T/lf1:first" "$T/lf2" "$T/lf3:third" "$T/lf4:fourth"
for f in sweep sweep_t0 denoisers trajectory linear_features; do
    head -c 8 "$T/$f.png" | od -c | grep -q 'P   N   G' || fail "$f.png is not a PNG"
done
