#!/bin/sh
# The README's side-by-side findings on the analytic models (issue 17.5): every model
# fitted to the same Fashion-MNIST training subset (the first NTRAIN images of Debian's
# dataset-fashion-mnist) and sampled from the same noise (Heun, EDM schedule, seed 0),
# then per model the memorised fraction, the nearest-training-row distance, the
# PCA-Frechet distance to the test split, and one figure of samples and their nearest
# training images (docs/models.png).
#
#   tools/findings_models.sh [BIN [OUT]]
#   env: MODELS (comma-separated; add a model kind here), NTRAIN, N samples, STEPS,
#        PCA_K, BACKEND, FIGURE, MODEL_N (e.g. "els=4": fewer samples for a slow model,
#        the first of the same noise; with N <= PCA_K its Frechet distance is left out)
#
# A model whose fid.csv exists is not run again (delete OUT/MODEL to redo it).
set -eu
BIN=${1:-build/diffsamp}
OUT=${2:-analysis/models}
MODELS=${MODELS:-empirical,gaussian,gmm,pca_locality,ls,els,pspc,smoothed,nearest,variance}
NTRAIN=${NTRAIN:-2000}
N=${N:-32}
STEPS=${STEPS:-10}
PCA_K=${PCA_K:-16}
BACKEND=${BACKEND:-cpu}
FIGURE=${FIGURE:-docs/models.png}
MODEL_N=${MODEL_N:-}
FM=/usr/share/datasets/fashion-mnist
TOOLS=$(dirname "$0")

# Each model's options (papers' defaults where diffsamp has them; see the README).
model_opts() {
    case $1 in
    gmm) echo "--k 10" ;;
    smoothed) echo "--smoothing 0.1" ;;
    variance) echo "--variance 1" ;;
    *) echo "" ;;
    esac
}

mkdir -p "$OUT"
TRAIN=$OUT/train.npy
[ -f "$TRAIN" ] || /usr/bin/python3 - "$FM/train-images-idx3-ubyte.gz" "$NTRAIN" "$TRAIN" <<'EOF'
import gzip, sys
import numpy as np
raw = gzip.open(sys.argv[1]).read()
x = np.frombuffer(raw[16:], np.uint8).reshape(-1, 28, 28)[: int(sys.argv[2])]
np.save(sys.argv[3], x.copy())
EOF

# The sample count of model $1: MODEL_N's entry for it, else N.
model_n() {
    for e in $(echo "$MODEL_N" | tr , ' '); do
        [ "${e%%=*}" = "$1" ] && echo "${e#*=}" && return
    done
    echo "$N"
}

specs="" runs=""
for m in $(echo "$MODELS" | tr , ' '); do
    d=$OUT/$m
    n=$(model_n "$m")
    specs="$specs $m=$d"
    runs="$runs $m=$d/run"
    if [ -f "$d/run/memorization_summary.csv" ] && { [ -f "$d/fid.csv" ] || [ "$n" -le "$PCA_K" ]; }; then
        continue
    fi
    echo "findings_models: $m"
    # shellcheck disable=SC2086
    "$BIN" prepare --data "$TRAIN" --model "$m" $(model_opts "$m") --out "$d/model" --force
    "$BIN" sample --model-dir "$d/model" --sampler heun --steps "$STEPS" --n "$n" --seed 0 \
        --backend "$BACKEND" --no-png --quiet --force --out "$d/run"
    "$BIN" analyze memorization --samples "$d/run/samples.npy" --data "$TRAIN" --out "$d/run"
    if [ "$n" -gt "$PCA_K" ]; then
        "$BIN" analyze fid --samples "$d/run/samples.npy" --data "$TRAIN" \
            --heldout "$FM/t10k-images-idx3-ubyte.gz" --pca-k "$PCA_K" --out "$d"
    fi
done

# shellcheck disable=SC2086
/usr/bin/python3 "$TOOLS/plot_models.py" "$TRAIN" "$FIGURE" $runs

/usr/bin/python3 - "$N" "$NTRAIN" "$PCA_K" $specs <<'EOF'
import csv, json, os, sys
n, ntrain, k = sys.argv[1:4]
print(f"{n} samples per model, training subset of {ntrain} images, PCA-Frechet with k = {k}")
print("\n| model | samples | NFE | memorised (d1/d2 < 1/3) | nearest distance, median (q05 .. q95) | d1/d2, median | PCA-Frechet to the test split |")
print("|---|---|---|---|---|---|---|")
base = None
for spec in sys.argv[4:]:
    name, d = spec.split("=", 1)
    mem = {r["metric"]: r for r in csv.DictReader(open(d + "/run/memorization_summary.csv"))}
    fid = list(csv.DictReader(open(d + "/fid.csv"))) if os.path.exists(d + "/fid.csv") else None
    base = fid[1]["frechet"] if fid else base
    run = json.load(open(d + "/run/run.json"))
    nfe = round(run.get("nfe_mean_per_sample", run["nfe_per_sample"]), 1)
    nd = mem["nearest_distance"]
    frechet = f"{float(fid[0]['frechet']):.3g}" if fid else "-"
    print(f"| {name} | {nd['n']} | {nfe} | {float(mem['memorized']['mean']):.3f} | {float(nd['q50']):.3g} "
          f"({float(nd['q05']):.3g} .. {float(nd['q95']):.3g}) | {float(mem['nearest_ratio']['q50']):.3g} "
          f"| {frechet} |")
print(f"| {n} training images (baseline) | | | | | | {float(base):.3g} |")
EOF
