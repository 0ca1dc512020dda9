#!/bin/sh
# The README's "outline first" findings (issue 20.1): analyze emergence for every model
# (Heun, EDM schedule, 18 steps, seed 0, the top 64 principal components, tolerance 0.1)
# on Fashion-MNIST or a subset of its first training images, then the table and
# docs/emergence.png.
#
#   tools/findings_emergence.sh [BIN [OUT]]
#   env: RUNS, space-separated ROWS:MODEL:SAMPLES (ROWS: all, or a count of the first
#        training images), BACKEND, FIGURE
#
# A run whose emergence_summary.csv exists is not run again (delete its folder to redo it).
set -eu
BIN=${1:-build/diffsamp}
OUT=${2:-analysis/emergence}
RUNS=${RUNS:-all:gaussian:64 all:gmm:64 all:empirical:64 10000:ls:16 10000:empirical:16 2000:pca_locality:16 2000:empirical:16}
BACKEND=${BACKEND:-cpu}
FIGURE=${FIGURE:-docs/emergence.png}
FM=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
TOOLS=$(dirname "$0")
mkdir -p "$OUT"

specs=""
for run in $RUNS; do
    rows=${run%%:*} rest=${run#*:}
    model=${rest%%:*} n=${rest#*:}
    data=""
    name=em_$model
    if [ "$rows" != all ]; then
        name=em${rows}_$model
        data=$OUT/train$rows.npy
        [ -f "$data" ] || /usr/bin/python3 - "$FM" "$rows" "$data" <<'PY'
import gzip, sys
import numpy as np
raw = gzip.open(sys.argv[1]).read()
np.save(sys.argv[3], np.frombuffer(raw[16:], np.uint8).reshape(-1, 28, 28)[: int(sys.argv[2])].copy())
PY
    fi
    specs="$specs $OUT/$name:$rows"
    [ -f "$OUT/$name/emergence_summary.csv" ] && continue
    echo "findings_emergence: $model on $rows rows, $n samples"
    start=$(date +%s)
    # shellcheck disable=SC2086
    "$BIN" analyze emergence ${data:+--data "$data"} --model "$model" --n "$n" --backend "$BACKEND" \
        --out "$OUT/$name"
    echo $(($(date +%s) - start)) >"$OUT/$name/seconds.txt"
done

plots=""
for spec in $specs; do
    d=${spec%:*} rows=${spec##*:}
    model=$(sed -n 2p "$d/emergence_summary.csv" | cut -d, -f1)
    plots="$plots $d/emergence.csv:$model${rows#all}"
done
# shellcheck disable=SC2086
/usr/bin/python3 "$TOOLS/plot_emergence.py" "$FIGURE" $plots

/usr/bin/python3 - $specs <<'PY'
import csv, os, sys
print("| model | Spearman (median sigma_e, lambda_j) | median sigma_e: PC 1 / PC 10 / PC 64 "
      "| measured / closed form, median over components (5%-95%) | wall time (shared machine) |")
print("|---|---|---|---|---|")
first = True
for spec in sys.argv[1:]:
    d, rows = spec.rsplit(":", 1)
    s = next(csv.DictReader(open(os.path.join(d, "emergence_summary.csv"))))
    c = list(csv.DictReader(open(os.path.join(d, "emergence.csv"))))
    if first:
        print("| Gaussian closed form | 1 | %s | 1 | |" % " / ".join(
            "%.3g" % float(c[j]["gaussian_predicted"]) for j in (0, 9, len(c) - 1)))
        first = False
    secs = os.path.join(d, "seconds.txt")
    t = open(secs).read().strip() + " s" if os.path.exists(secs) else ""
    where = "" if rows == "all" else ", %s rows" % rows
    print("| %s%s, %s samples | %.3f | %s | %.3g (%.3g-%.3g) | %s |" % (
        s["model"], where, s["samples"], float(s["spearman"]),
        " / ".join("%.3g" % float(c[j]["sigma_median"]) for j in (0, 9, len(c) - 1)),
        float(s["ratio_to_gaussian_median"]), float(s["ratio_to_gaussian_q05"]),
        float(s["ratio_to_gaussian_q95"]), t))
PY
