#!/bin/sh
# Issue 21.7: --class K samples the model of class K: the empirical model of its rows, the
# mixture's components of that class, its own Gaussian (also the one teleported with).
# With --data each run equals the same run on a data set of the class's rows alone,
# sample for sample; with a model folder, below.
. "$(dirname "$0")/shell_common.sh"
require_numpy

$PY - "$T" <<'PY'
import sys, struct, numpy as np
t = sys.argv[1]
rng = np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 1])
x = rng.integers(0, 256, (90, 5, 4), dtype=np.uint8)
y = rng.integers(0, 3, 90).astype(np.uint8)
y[:3] = [0, 1, 2]
with open(t + "/train-images-idx3-ubyte", "wb") as f:
    f.write(struct.pack(">IIII", 0x803, 90, 5, 4) + x.tobytes())
with open(t + "/train-labels-idx1-ubyte", "wb") as f:
    f.write(struct.pack(">II", 0x801, 90) + y.tobytes())
np.save(t + "/class1.npy", x[y == 1])
PY
IDX=$T/train-images-idx3-ubyte
for model in empirical gaussian gmm; do
    for extra in "" "--teleport-fraction 0.25"; do
        common="--model $model --k 2 --n 6 --seed 5 --no-png $extra"
        "$BIN" sample --data "$IDX" --class 1 $common --out "$T/a" --force >/dev/null 2>"$T/err" ||
            fail "$model --class 1 $extra: $(cat "$T/err")"
        grep -q "sample: --class 1: .* of the 90 rows" "$T/err" || fail "no note of the class's rows: $(cat "$T/err")"
        "$BIN" sample --data "$T/class1.npy" $common --out "$T/b" --force >/dev/null 2>&1 ||
            fail "$model on the class's rows $extra"
        cmp -s "$T/a/samples.npy" "$T/b/samples.npy" ||
            fail "$model --class 1 $extra differs from sampling the class's rows alone"
    done
done
expect_error "no row has class 7 (its labels lie in 0 .. 2)" sample --data "$IDX" --class 7 --out "$T/c"
expect_error "needs class labels, but this data set has none" sample --data "$T/class1.npy" --class 0 --out "$T/c"

# Model folders (no refit of a mixture): a gmm prepared with --per-class keeps class 1's
# components, their weights renormalised, and samples as the mixture fitted to the class's
# rows (k-means per class with the same seed: the same components); reruns are
# byte-identical. Empirical and Gaussian folders give the class's rows and Gaussian.
"$BIN" prepare --data "$IDX" --model gmm --k 2 --per-class --out "$T/gmm" >"$T/log" 2>&1 ||
    fail "prepare --per-class: $(cat "$T/log")"
grep -q "k = 6 (components per class)" "$T/log" || fail "prepare --per-class line: $(cat "$T/log")"
$PY - "$T/gmm" <<'PY' || fail "classes.npy / weights.npy of the per-class mixture"
import sys, numpy as np
c, w = np.load(sys.argv[1] + "/classes.npy"), np.load(sys.argv[1] + "/weights.npy")
assert list(c) == [0, 0, 1, 1, 2, 2], c
assert abs(w.sum() - 1) < 1e-12, w
PY
for model in empirical gaussian gmm; do
    [ -d "$T/$model" ] || "$BIN" prepare --data "$IDX" --model $model --out "$T/$model" >/dev/null 2>&1 ||
        fail "prepare $model"
    for extra in "" "--teleport-fraction 0.25"; do
        common="--n 6 --seed 5 --no-png $extra"
        for run in a b; do
            "$BIN" sample --model-dir "$T/$model" --class 1 $common --out "$T/$run" --force \
                >/dev/null 2>"$T/err" || fail "--model-dir $model --class 1 $extra: $(cat "$T/err")"
        done
        cmp -s "$T/a/samples.npy" "$T/b/samples.npy" || fail "$model folder --class 1 $extra: reruns differ"
        "$BIN" sample --data "$T/class1.npy" --model $model --k 2 $common --out "$T/c" --force \
            >/dev/null 2>&1 || fail "$model on the class's rows $extra"
        # The renormalised weights (w / sum w) may differ from count / n_class in the last
        # bit, and that moves float32 samples by rounding only (1e-5 of their scale ~1).
        $PY - "$T/a/samples.npy" "$T/c/samples.npy" <<'PY' || fail "$model folder --class 1 $extra differs from the class's own $model"
import sys, numpy as np
a, c = np.load(sys.argv[1]).astype(float), np.load(sys.argv[2]).astype(float)
assert a.shape == c.shape and np.abs(a - c).max() <= 1e-5 * max(1, np.abs(c).max()), np.abs(a - c).max()
PY
    done
done
"$BIN" prepare --data "$IDX" --model gmm --k 2 --out "$T/plain" >/dev/null 2>&1 || fail "prepare plain gmm"
expect_error "records no component classes (prepare it with --per-class or --gmm-from-labels" \
    sample --model-dir "$T/plain" --class 1 --out "$T/e"
[ -e "$T/e" ] && fail "a refused --class run left its output folder"
expect_error "no component of this gmm model has that class (its classes: 0 .. 2)" \
    sample --model-dir "$T/gmm" --class 7 --out "$T/d"
"$BIN" prepare --data "$IDX" --model nearest --out "$T/nearest" >/dev/null 2>&1 || fail "prepare nearest"
expect_error "takes an empirical, gaussian or gmm folder" sample --model-dir "$T/nearest" --class 1 --out "$T/d"
expect_error "--per-class applies to --model gmm only" prepare --data "$IDX" --model gaussian --per-class --out "$T/d"
expect_error "--per-class and --gmm-from-labels exclude each other" \
    prepare --data "$IDX" --model gmm --per-class --gmm-from-labels --out "$T/d"
expect_error "--per-class needs class labels" prepare --data "$T/class1.npy" --model gmm --per-class --out "$T/d"
expect_error "class 0 has" prepare --data "$IDX" --model gmm --per-class --k 60 --out "$T/d"
echo "ok"
