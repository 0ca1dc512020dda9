#!/bin/sh
# README Findings, generalisation through variance: samples of the variance model
# (prepare --model variance) on a Fashion-MNIST training subset against the empirical and
# smoothed models, with analyze memorization (d1, d2 = distances to the nearest and
# second-nearest training rows; memorised when d1/d2 < 1/3).
# usage: tools/variance_fmnist.sh [BIN [OUT]]; N (training rows, 2000), SAMPLES (128),
# KAPPAS ("0.1 1 10 100") and SAMPLE_OPTS (more sample options, e.g. "--no-final-zero
# --sigma-min 0.1" to stop at a time cutoff) from the environment. Heun, EDM 18 steps, cpu
# backend.
set -eu
BIN=${1:-build-cpu/diffsamp}
OUT=${2:-out/variance_fmnist}
N=${N:-2000}
SAMPLES=${SAMPLES:-128}
KAPPAS=${KAPPAS:-0.1 1 10 100}
SAMPLE_OPTS=${SAMPLE_OPTS:-}
PY=/usr/bin/python3
mkdir -p "$OUT"
$PY - "$OUT/train.npy" "$N" <<'PYEOF'
import gzip, sys, numpy as np
with gzip.open('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz') as f:
    x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
np.save(sys.argv[1], x[:int(sys.argv[2])])
PYEOF
run() { # name, prepare options
    name=$1; shift
    "$BIN" prepare --data "$OUT/train.npy" --out "$OUT/m_$name" --force "$@" >/dev/null
    "$BIN" sample --model-dir "$OUT/m_$name" --n "$SAMPLES" --backend cpu --no-png --flat-npy \
        --quiet --force --out "$OUT/s_$name" $SAMPLE_OPTS >/dev/null
    "$BIN" analyze memorization --samples "$OUT/s_$name/samples.npy" --data "$OUT/train.npy" \
        --out "$OUT/a_$name" >/dev/null
}
run empirical --model empirical
run smoothed --model smoothed --smoothing 0.1 --smoothing-samples 8
for k in $KAPPAS; do run "variance_$k" --model variance --variance "$k"; done
$PY - "$OUT" <<'PYEOF'
import csv, glob, os, sys
import numpy as np
out = sys.argv[1]
emp = np.load(os.path.join(out, 's_empirical', 'samples.npy'))
print('model,memorized,d1_mean,ratio_median,ratio_q95,same_nearest_as_empirical,rms_to_empirical_sample')
rows = {r['sample']: r for r in csv.DictReader(open(os.path.join(out, 'a_empirical', 'memorization.csv')))}
def key(n):
    return (0, 0) if n == 'empirical' else (1, 0) if n == 'smoothed' else (2, float(n.split('_')[1]))
names = sorted((os.path.basename(p)[2:] for p in glob.glob(os.path.join(out, 'a_*'))), key=key)
for name in names:
    r = list(csv.DictReader(open(os.path.join(out, 'a_' + name, 'memorization.csv'))))
    ratio = np.array([float(x['ratio']) for x in r])
    d1 = np.array([float(x['d1']) for x in r])
    same = np.mean([x['nearest'] == rows[x['sample']]['nearest'] for x in r])
    s = np.load(os.path.join(out, 's_' + name, 'samples.npy'))
    rms = np.sqrt(np.mean((s - emp) ** 2))
    print(f"{name},{np.mean(ratio < 1/3):.3f},{d1.mean():.3f},{np.median(ratio):.3f},"
          f"{np.quantile(ratio, .95):.3f},{same:.3f},{rms:.4f}")
PYEOF
