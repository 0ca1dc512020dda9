#!/bin/sh
# diffsamp analyze emergence and analyze perturbation end to end on a small anisotropic
# data set: the CSV files and their shape, emergence from a recorded trajectory equal to
# emergence sampled in-process, the Gaussian's measured emergence near its closed form,
# the empirical model's restarts ending on training rows, the plot scripts, and bad
# options refused with one line, exit status 2 and no output folder.
. "$(dirname "$0")/shell_common.sh"
require_numpy
SRC=${DIFFSAMP_SOURCE_DIR:-.}
$PY - "$T" <<'PY'
import sys, numpy as np
rng = np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 1])
scale = np.array([3.0, 2.0, 1.2, 0.7, 0.4, 0.2])  # distinct variances
np.save(sys.argv[1] + "/train.npy", (rng.standard_normal((200, 6)) * scale).astype(np.float32))
PY
run() { "$@" >"$T/log" 2>&1 || fail "$*: $(cat "$T/log")"; }
D="--data $T/train.npy --backend ref"

# Emergence of the Gaussian model: 6 components (d < 64), the measured median within a
# factor 2 of the closed form (64 samples: the median's sampling spread is ~15%).
run "$BIN" analyze emergence $D --model gaussian --n 64 --steps 12 --out "$T/eg"
[ "$(wc -l <"$T/eg/emergence.csv")" -eq 7 ] || fail "emergence.csv: expected 6 components"
head -1 "$T/eg/emergence.csv" | grep -q '^component,variance,sigma_median,' ||
    fail "emergence.csv header: $(head -1 "$T/eg/emergence.csv")"
$PY - "$T/eg/emergence_summary.csv" <<'PY' || fail "Gaussian emergence far from its closed form"
import csv, sys
row = next(csv.DictReader(open(sys.argv[1])))
r = float(row["ratio_to_gaussian_median"])
sys.exit(0 if row["model"] == "gaussian" and 0.5 < r < 2 else 1)
PY
ls "$T/eg" | grep -v '^emergence\(_summary\)\?\.csv$' && fail "stray files in $T/eg"

# A recorded trajectory (float64 on ref) gives the same table as sampling in-process.
run "$BIN" sample $D --model gaussian --sampler heun --steps 12 --n 16 --no-png \
    --trajectory "$T/traj/t" --out "$T/s"
run "$BIN" analyze emergence --trajectory "$T/traj/t" --data "$T/train.npy" --out "$T/et"
run "$BIN" analyze emergence $D --model gaussian --n 16 --steps 12 --out "$T/es"
cmp -s "$T/et/emergence.csv" "$T/es/emergence.csv" ||
    fail "emergence from the recorded trajectory differs from the sampled one"
grep -q '^trajectory,16,13,6,' "$T/et/emergence_summary.csv" ||
    fail "summary of a trajectory: $(cat "$T/et/emergence_summary.csv")"

# Perturbation of the empirical model: one row per step, every restart memorised.
run "$BIN" analyze perturbation $D --model empirical --n 8 --steps 6 --size 0.2 --out "$T/pe"
[ "$(wc -l <"$T/pe/perturbation.csv")" -eq 7 ] || fail "perturbation.csv: expected 6 steps"
$PY - "$T/pe/perturbation.csv" <<'PY' || fail "empirical restarts not on training rows"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
ok = all(float(r["memorized_restart"]) == 1 for r in rows)
ok = ok and all(0 <= float(r["flip_rate"]) <= float(r["nearest_changed"]) <= 1 for r in rows)
sys.exit(0 if ok else 1)
PY
run "$BIN" analyze perturbation $D --model gaussian --n 4 --steps 4 --out "$T/pg"

if $PY -c 'import matplotlib' 2>/dev/null; then
    run $PY "$SRC/tools/plot_emergence.py" "$T/emergence.png" "$T/eg/emergence.csv:gaussian" \
        "$T/es/emergence.csv"
    run $PY "$SRC/tools/plot_perturbation.py" "$T/perturbation.png" \
        "$T/pe/perturbation.csv:empirical" "$T/pg/perturbation.csv:gaussian"
    for f in emergence perturbation; do
        head -c 8 "$T/$f.png" | od -c | grep -q 'P   N   G' || fail "$f.png is not a PNG"
    done
fi

# Refused command lines: one line, exit status 2, no output folder.
refused() {
    want=$1
    shift
    "$BIN" "$@" --out "$T/bad" >/dev/null 2>&1
    st=$?
    [ "$st" -eq 2 ] || fail "'$*': exit status $st (expected 2)"
    expect_error "$want" "$@" --out "$T/bad"
    [ ! -e "$T/bad" ] || fail "'$*' made its output folder"
}
for cmd in emergence perturbation; do
    refused "unknown option" analyze $cmd --bogus
    refused "unknown sampler" analyze $cmd --sampler nope
    refused "draws noise" analyze $cmd --sampler euler_ancestral
    refused "expected edm, logsnr or vp" analyze $cmd --schedule gits
    refused "unknown model kind" analyze $cmd --model nope
    refused "unknown backend" analyze $cmd --backend nope
    refused "--n must be" analyze $cmd --n 0
    refused "--steps must be" analyze $cmd --steps 0
    refused "--seed must be" analyze $cmd --seed -1
    refused "--sigma-min" analyze $cmd --sigma-min 0
    refused "expects a finite number" analyze $cmd --sigma-max nan
done
refused "--tolerance must be" analyze emergence --tolerance 0
refused "--pca-k must be" analyze emergence --pca-k -1
refused "--size must be" analyze perturbation --size -0.1
# Found later (exit status 1): a missing trajectory; no output folder either.
"$BIN" analyze emergence --trajectory "$T/none" --data "$T/train.npy" --out "$T/bad" \
    >/dev/null 2>"$T/err" && fail "a missing trajectory was accepted"
[ "$(wc -l <"$T/err")" -eq 1 ] || fail "missing trajectory: $(cat "$T/err")"
[ ! -e "$T/bad" ] || fail "a failed emergence left its output folder"
echo "ok"
