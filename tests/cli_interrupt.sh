#!/bin/sh
# diffsamp sample interrupted by SIGINT or SIGTERM: the batch being written is finished,
# nothing partial or temporary is left (no *.tmp.*, no PNGs of an unfinished batch), the
# exit status is 128 + the signal, stderr says how to resume, and --resume then gives
# the same files as an uninterrupted run.
. "$(dirname "$0")/shell_common.sh"
require_numpy

$PY -c "import sys, numpy as np; np.save(sys.argv[1], np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 1]).uniform(-1, 1, (300, 1, 8, 8)).astype(np.float32))" "$T/d.npy"
"$BIN" prepare --model empirical --data "$T/d.npy" --out "$T/m" >/dev/null || fail "prepare"
ARGS="--model-dir $T/m --n 400 --batch 100 --steps 6 --seed 3 --quiet"
pngs() { find "$T/$1" -name '*.png' ! -name grid.png | wc -l; }
clean() {
    [ -d "$T/$1" ] || return 0 # stopped before its folder was made
    find "$T/$1" -name '*.tmp.*' | grep -q . && fail "$1: temporary files left"
    [ $(($(pngs "$1") % 100)) -eq 0 ] || fail "$1: $(pngs "$1") PNGs: an unfinished batch's are left"
    [ -e "$T/$1/samples.npy" ] && fail "$1: samples.npy written by an interrupted run"
    return 0
}
"$BIN" sample $ARGS --out "$T/whole" >/dev/null || fail "uninterrupted run"

# SIGINT as batch 1's outputs are about to be written: batch 1 is finished, then it stops.
DIFFSAMP_TEST_SIGINT_AT_ROW=150 "$BIN" sample $ARGS --out "$T/a" >/dev/null 2>"$T/a.err"
rc=$?
[ "$rc" -eq 130 ] || fail "SIGINT: exit status $rc (expected 130): $(cat "$T/a.err")"
[ "$(pngs a)" -eq 200 ] || fail "SIGINT: $(pngs a) PNGs (expected the 2 finished batches)"
clean a
[ "$(wc -l <"$T/a.err")" -eq 1 ] || fail "SIGINT: expected one line on stderr: $(cat "$T/a.err")"
grep -q "stopped by SIGINT after 2 of 4 batches.*--resume" "$T/a.err" ||
    fail "SIGINT: no resume advice: $(cat "$T/a.err")"
"$BIN" sample $ARGS --out "$T/a" --resume >/dev/null || fail "resume after SIGINT"
diff -r -x run.json -x .diffsamp-run "$T/whole" "$T/a" >/dev/null || fail "resumed run differs"

# SIGTERM at a moment the test does not control: either the run had finished (status
# 0, every output) or it stopped with status 143 and a clean folder.
"$BIN" sample $ARGS --out "$T/b" >/dev/null 2>"$T/b.err" &
pid=$!
sleep 0.3
kill -TERM "$pid" 2>/dev/null
wait "$pid"
rc=$?
case $rc in
0) [ "$(pngs b)" -eq 400 ] || fail "SIGTERM too late, yet $(pngs b) PNGs" ;;
143) clean b ;;
*) fail "SIGTERM: exit status $rc: $(cat "$T/b.err")" ;;
esac
"$BIN" sample $ARGS --out "$T/b" --resume >/dev/null || fail "resume after SIGTERM"
diff -r -x run.json -x .diffsamp-run "$T/whole" "$T/b" >/dev/null || fail "resumed run differs"
echo "ok (SIGTERM run: status $rc)"
