#!/bin/sh
# Issue 21.11: the plot tools find a Python with numpy and matplotlib whichever python3
# runs them (a pyenv python3 on PATH lacks both): plot_sweep.py, started by the python3 on
# PATH, writes its PNG from a sweep's CSV.
. "$(dirname "$0")/shell_common.sh"
if ! $PY -c 'import numpy, matplotlib' 2>/dev/null; then
    echo "skipped: numpy and matplotlib for $PY not found"
    exit 0
fi
SRC=${DIFFSAMP_SOURCE_DIR:?}
$PY -c "import sys, numpy as np; np.save(sys.argv[1], np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 1]).standard_normal((40, 3)).astype(np.float32))" "$T/x.npy"
"$BIN" sweep --data "$T/x.npy" --n 4 --solvers euler,heun --nfe 5,10 --out "$T/s" >/dev/null 2>"$T/err" ||
    fail "sweep: $(cat "$T/err")"
for python in python3 "$PY"; do
    command -v "$python" >/dev/null || continue
    rm -f "$T/sweep.png"
    "$python" "$SRC/tools/plot_sweep.py" "$T/s/sweep.csv" "$T/sweep.png" >/dev/null 2>"$T/err" ||
        fail "$python tools/plot_sweep.py: $(cat "$T/err")"
    [ -s "$T/sweep.png" ] || fail "$python tools/plot_sweep.py wrote no PNG"
done
echo "ok"
