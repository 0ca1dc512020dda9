#!/bin/sh
# The README's linear_features findings (issue 20.4, Vastola 2025): samples of the paper's
# linear-feature model on the 2-D toy ring of 4 points (analyze noether's --toy ring
# --toy-n 4: the points of the paper's figure 3 at rotation 0), against the empirical and
# smoothed models; novelty (d1 / d2 from analyze memorization), distance to the data and
# the gap filling as F/P, eps and F change. Each linear_features configuration is SEEDS
# models (draw seeds 1 .. SEEDS, as the paper averages 100 models), N samples each (noise
# seed = draw seed); Heun on EDM's 18 steps from sigma 80 down to the model's time cutoff
# sigma(eps) (the authors' samplers stop at t = eps), then the last step to 0 (the sample
# is D at the cutoff); the empirical and smoothed models stop at sigma(0.01) = 0.0632 alike
# (and the empirical model once at sigma(0.1) = 0.495: what the later cutoff alone does).
#
#   tools/findings_linear_features.sh [BIN [OUT]]
#   env: SEEDS (20), N (500), BACKEND (cpu), FIGURE (docs/linear_features.png)
#
# A configuration whose memorization_summary.csv exists is not run again.
set -eu
BIN=${1:-build/diffsamp}
OUT=${2:-analysis/linear_features}
SEEDS=${SEEDS:-20}
N=${N:-500}
BACKEND=${BACKEND:-cpu}
FIGURE=${FIGURE:-docs/linear_features.png}
TOOLS=$(dirname "$0")
PY=/usr/bin/python3
mkdir -p "$OUT"
DATA=$OUT/ring4.npy
[ -f "$DATA" ] || $PY -c "
import numpy as np, sys
i = np.arange(4)
np.save(sys.argv[1], np.stack([np.cos(2 * np.pi * i / 4), np.sin(2 * np.pi * i / 4)], 1))
" "$DATA"

# sigma(t) of the authors' VP process: sqrt(exp(2 (0.1 t + 9.95 t^2)) - 1).
sigma_of() { $PY -c "import math, sys; t = float(sys.argv[1]); print('%.6g' % math.sqrt(math.expm1(2 * (0.1 * t + 9.95 * t * t))))" "$1"; }

# pool NAME: the samples of every seed of configuration NAME into one file, then the
# distances to the training points.
pool() {
    $PY -c "
import glob, sys, numpy as np
files = sorted(glob.glob(sys.argv[1] + '/s*/samples.npy'))
np.save(sys.argv[1] + '/pooled.npy', np.concatenate([np.load(f).reshape(-1, 2) for f in files]))
" "$OUT/$1"
    "$BIN" analyze memorization --samples "$OUT/$1/pooled.npy" --data "$DATA" --out "$OUT/$1/mem" \
        >/dev/null
}

# lf NAME F P EPS: SEEDS linear_features models and their samples.
lf() {
    name=$1 f=$2 p=$3 eps=$4
    [ -f "$OUT/$name/mem/memorization_summary.csv" ] && return 0
    smin=$(sigma_of "$eps")
    echo "findings_linear_features: $name (F = $f per axis, P = $p, eps = $eps, sigma_min $smin)"
    s=1
    while [ "$s" -le "$SEEDS" ]; do
        "$BIN" prepare --data "$DATA" --model linear_features --features-per-axis "$f" \
            --draws "$p" --time-cutoff "$eps" --seed "$s" --out "$OUT/$name/m$s" --force >/dev/null
        "$BIN" sample --model-dir "$OUT/$name/m$s" --n "$N" --batch "$N" --seed "$s" \
            --sigma-min "$smin" --backend "$BACKEND" --quiet --out "$OUT/$name/s$s" --force \
            >/dev/null
        s=$((s + 1))
    done
    pool "$name"
}

# other NAME KIND EPS [prepare options]: one model, SEEDS runs of N samples (noise seeds
# 1 ..) down to sigma(EPS).
other() {
    name=$1 kind=$2 smin=$(sigma_of "$3")
    shift 3
    [ -f "$OUT/$name/mem/memorization_summary.csv" ] && return 0
    echo "findings_linear_features: $name"
    "$BIN" prepare --data "$DATA" --model "$kind" "$@" --out "$OUT/$name/m" --force >/dev/null
    s=1
    while [ "$s" -le "$SEEDS" ]; do
        "$BIN" sample --model-dir "$OUT/$name/m" --n "$N" --batch "$N" --seed "$s" \
            --sigma-min "$smin" --backend "$BACKEND" --quiet --out "$OUT/$name/s$s" \
            --force >/dev/null
        s=$((s + 1))
    done
    pool "$name"
}

other empirical empirical 0.01
other empirical_eps0.1 empirical 0.1
other smoothed_0.1 smoothed 0.01 --smoothing 0.1 --smoothing-samples 8
other smoothed_0.3 smoothed 0.01 --smoothing 0.3 --smoothing-samples 8
lf lf_P8000 10 8000 0.01
lf lf_P2000 10 2000 0.01
lf lf_P500 10 500 0.01
lf lf_P125 10 125 0.01
lf lf_F6_P500 6 500 0.01
lf lf_F12_P500 12 500 0.01
lf lf_P500_eps0.001 10 500 0.001
lf lf_P500_eps0.1 10 500 0.1

CONFIGS="empirical empirical_eps0.1 smoothed_0.1 smoothed_0.3 lf_P8000 lf_P2000 lf_P500 lf_P125 lf_F6_P500 lf_F12_P500 lf_P500_eps0.001 lf_P500_eps0.1"
# shellcheck disable=SC2086
$PY "$TOOLS/plot_linear_features.py" "$FIGURE" "$DATA" \
    "$OUT/empirical:empirical" "$OUT/smoothed_0.3:smoothed 0.3" \
    "$OUT/lf_P8000:F/P = 1/8" "$OUT/lf_P500:F/P = 2" "$OUT/lf_P125:F/P = 8" \
    "$OUT/lf_P500_eps0.1:F/P = 2, eps 0.1"

# shellcheck disable=SC2086
$PY - "$OUT" $CONFIGS <<'PY'
import csv, sys
import numpy as np
out, names = sys.argv[1], sys.argv[2:]
label = {"empirical": "empirical", "empirical_eps0.1": "empirical, stopped at sigma(0.1) = 0.495",
         "smoothed_0.1": "smoothed (s = 0.1, 8 samples)",
         "smoothed_0.3": "smoothed (s = 0.3, 8 samples)"}
print("| model | F^3 / P | memorised (d1/d2 < 1/3) | median d1/d2 | mean d1 | in the gaps (d1 > 0.25) "
      "| off the circle |")
print("|---|---|---|---|---|---|---|")
for name in names:
    rows = list(csv.DictReader(open(f"{out}/{name}/mem/memorization.csv")))
    d1 = np.array([float(r["d1"]) for r in rows])
    ratio = np.array([float(r["ratio"]) for r in rows])
    x = np.load(f"{out}/{name}/pooled.npy")
    off = np.abs(np.linalg.norm(x, axis=1) - 1).mean()
    if name.startswith("lf"):
        f = int(name.split("_F")[1].split("_")[0]) if "_F" in name else 10
        p = int(name.split("_P")[1].split("_")[0])
        eps = name.split("eps")[1] if "eps" in name else "0.01"
        desc, fp = f"linear_features F = {f}, P = {p}, eps = {eps}", f"{f ** 3 / p:.3g}"
        if name == "lf_P500":
            desc += " (the paper's)"
    else:
        desc, fp = label[name], "-"
    print(f"| {desc} | {fp} | {(ratio < 1 / 3).mean():.3f} | {np.median(ratio):.3f} | "
          f"{d1.mean():.3f} | {(d1 > 0.25).mean():.3f} | {off:.3f} |")
PY
