#!/bin/sh
# diffsamp analyze noether: bad options refused with one line, exit 2 and no --out folder;
# an isotropic Gaussian (the ring's) conserves the angular momentum and a 4-blob mixture
# does not; Langevin dynamics conserve the energy; the CSVs' shapes; a model folder and
# a .npy data set are read; prepare + --model-dir of the variance model runs.
. "$(dirname "$0")/shell_common.sh"
require_numpy

N="analyze noether --out $T/bad"
expect_error "--from and --to are required" $N
expect_error "expected points of 2 numbers" $N --from 1,2,3 --to 0,1
expect_error "expected points of 2 numbers" $N --from 1,2 --to "0,1;0"
expect_error "--toy 'star'" $N --from 1,0 --to 0,1 --toy star
expect_error "--process 'up'" $N --from 1,0 --to 0,1 --process up
expect_error "expected sigma-from > sigma-to > 0" $N --from 1,0 --to 0,1 --sigma-to 3
expect_error "--steps must be" $N --from 1,0 --to 0,1 --steps 1
expect_error "unknown backend" $N --from 1,0 --to 0,1 --backend gpu
expect_error "unknown model kind" $N --from 1,0 --to 0,1 --model ring
[ -e "$T/bad" ] && fail "a refused command left $T/bad"
status() { "$BIN" "$@" >/dev/null 2>&1; echo $?; }
[ "$(status $N --from 1,0 --to 0,1 --steps 1)" = 2 ] || fail "a refused option did not exit 2"

# column of the summary row of path $2 in $1/noether_summary.csv
col() { $PY -c "import csv, sys; r = list(csv.DictReader(open(sys.argv[1] + '/noether_summary.csv'))); print(r[int(sys.argv[2])][sys.argv[3]])" "$1" "$2" "$3"; }
lt() { $PY -c "import sys; sys.exit(0 if abs(float(sys.argv[1])) < float(sys.argv[2]) else 1)" "$1" "$2"; }

"$BIN" analyze noether --toy ring --model gaussian --from 2,0 --to "0,1;-0.5,-0.5" --steps 32 --out "$T/g" >"$T/log" 2>&1 || fail "gaussian: $(cat "$T/log")"
for f in nodes midpoints summary; do [ -s "$T/g/noether_$f.csv" ] || fail "no noether_$f.csv"; done
[ "$(wc -l <"$T/g/noether_nodes.csv")" -eq 67 ] || fail "nodes: expected 2 x 33 rows and a header"
[ "$(wc -l <"$T/g/noether_midpoints.csv")" -eq 65 ] || fail "midpoints: expected 2 x 32 rows and a header"
lt "$(col "$T/g" 1 angular_drift_rel)" 1e-6 || fail "isotropic Gaussian: angular momentum drifts $(col "$T/g" 1 angular_drift_rel)"

"$BIN" analyze noether --toy mixture --model gmm --k 4 --from 2,0 --to "0,1" --steps 32 --out "$T/m" >"$T/log" 2>&1 || fail "mixture: $(cat "$T/log")"
lt "$(col "$T/m" 0 angular_drift_rel)" 1e-2 && fail "4-blob mixture: the angular momentum is conserved ($(col "$T/m" 0 angular_drift_rel))"

"$BIN" analyze noether --toy ring --model gaussian --process langevin --sigma 0.5 --from 2,0 --to "0,1" --steps 32 --out "$T/l" >"$T/log" 2>&1 || fail "langevin: $(cat "$T/log")"
lt "$(col "$T/l" 0 energy_change)" 1e-6 || fail "langevin: energy changes by $(col "$T/l" 0 energy_change)"

# a data set and a model folder of it (the variance model, through prepare)
$PY -c "import sys, numpy as np; t = np.linspace(0, 2 * np.pi, 24, endpoint=False); np.save(sys.argv[1], np.stack([np.cos(t), np.sin(t)], 1))" "$T/ring.npy"
"$BIN" analyze noether --data "$T/ring.npy" --model empirical --from 2,0 --to 0,1 --steps 16 --out "$T/d" >"$T/log" 2>&1 || fail "--data: $(cat "$T/log")"
"$BIN" prepare --data "$T/ring.npy" --model variance --variance 0.5 --seed 3 --out "$T/vm" >"$T/log" 2>&1 || fail "prepare variance: $(cat "$T/log")"
"$BIN" analyze noether --model-dir "$T/vm" --from 2,0 --to 0,1 --steps 16 --out "$T/v" >"$T/log" 2>&1 || fail "--model-dir: $(cat "$T/log")"
grep -q "variance model (d = 2)" "$T/log" || fail "model folder line: $(cat "$T/log")"
echo "cli_noether: ok"
