#!/bin/sh
# Issue 21.7: --class K samples the model of class K: the empirical model of its rows, a
# mixture fitted to its rows, its own Gaussian (also the one teleported with). Each run
# equals the same run on a data set of the class's rows alone, sample for sample.
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
"$BIN" prepare --data "$IDX" --model gaussian --out "$T/g" >/dev/null 2>&1 || fail "prepare"
"$BIN" sample --model-dir "$T/g" --class 1 --out "$T/c" >/dev/null 2>"$T/err"
[ $? -eq 2 ] || fail "--class with --model-dir: not refused with status 2: $(cat "$T/err")"
grep -q "holds a fitted one" "$T/err" || fail "message: $(cat "$T/err")"
echo "ok"
