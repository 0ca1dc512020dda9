#!/bin/sh
# Teleporting a prepared mixture: the mixture's folder holds no rows, so the Gaussian is
# fitted to the data its model.txt records; the samples equal, byte for byte, those of the
# same run given that Gaussian prepared separately (--teleport-model). Data changed since
# the mixture was prepared is refused.
. "$(dirname "$0")/shell_common.sh"
require_numpy

$PY -c "import sys, numpy as np; r = np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 1]); np.save(sys.argv[1], (r.standard_normal((300, 6)) * r.uniform(0.2, 2, 6) + r.standard_normal(6)).astype(np.float32))" "$T/x.npy"
"$BIN" prepare --data "$T/x.npy" --model gmm --k 3 --out "$T/gmm" >/dev/null || fail "prepare gmm"
"$BIN" prepare --data "$T/x.npy" --model gaussian --out "$T/gauss" >/dev/null || fail "prepare gaussian"
S="sample --model-dir $T/gmm --steps 9 --n 20 --teleport-fraction 0.2222 --quiet"
"$BIN" $S --out "$T/fit" >/dev/null 2>"$T/err" || fail "teleporting a prepared mixture: $(cat "$T/err")"
"$BIN" $S --out "$T/given" --teleport-model "$T/gauss" >/dev/null 2>"$T/err" \
    || fail "teleporting with --teleport-model: $(cat "$T/err")"
cmp -s "$T/fit/samples.npy" "$T/given/samples.npy" \
    || fail "the Gaussian fitted for the mixture is not the one prepare fits to the same data"
# The jump is taken: without teleporting the samples differ.
"$BIN" sample --model-dir "$T/gmm" --steps 9 --n 20 --quiet --out "$T/plain" >/dev/null || fail "plain run"
cmp -s "$T/fit/samples.npy" "$T/plain/samples.npy" && fail "teleporting changed nothing"

$PY -c "import sys, numpy as np; np.save(sys.argv[1], np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 2]).standard_normal((300, 6)).astype(np.float32))" "$T/x.npy"
expect_error "teleport: .*changed since the model was prepared.*--teleport-model" $S --out "$T/changed"
echo "ok"
