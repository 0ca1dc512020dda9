#!/bin/sh
# diffsamp demo end to end on a small image data set: six grids and the side-by-side
# image written, models cached on the second run, bad options refused.
. "$(dirname "$0")/shell_common.sh"
require_numpy

# 300 images of 1 x 8 x 8 in [-1, 1]: three blurred prototypes plus noise.
$PY - "$T/small.npy" <<'PY'
import sys, numpy as np
rng = np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 1])
protos = rng.uniform(-1, 1, size=(3, 1, 8, 8))
x = protos[rng.integers(0, 3, 300)] + 0.3 * rng.standard_normal((300, 1, 8, 8))
np.save(sys.argv[1], np.clip(x, -1, 1).astype(np.float32))
PY

run_demo() {
    "$BIN" demo --data "$T/small.npy" --out "$T/demo" --n 9 --steps 6 --skip 2 --k 3 \
        --backend ref >"$T/log" 2>&1 || fail "demo failed: $(cat "$T/log")"
}
run_demo
for name in empirical empirical-teleport gmm gmm-teleport gaussian gaussian-teleport side-by-side; do
    [ -s "$T/demo/$name.png" ] || fail "missing $name.png"
done
grep -q "fitted" "$T/log" || fail "first run did not fit the models"
# Heun on 6 points + 0: 11 NFE; teleportation over 2 points: 7 NFE. The empirical
# model lands (certified landing), so it takes at most that many.
nfe_of() { sed -n "s/^demo: $1 .* samples, \([0-9]*\) NFE.*/\1/p" "$T/log"; }
grep -q "gmm  .* 11 NFE" "$T/log" || fail "unexpected NFE: $(cat "$T/log")"
grep -q "gmm-teleport .* 7 NFE" "$T/log" || fail "unexpected NFE with teleportation"
[ "$(nfe_of empirical)" -ge 1 ] && [ "$(nfe_of empirical)" -le 11 ] || fail "empirical NFE: $(cat "$T/log")"
[ "$(nfe_of empirical-teleport)" -ge 1 ] && [ "$(nfe_of empirical-teleport)" -le 7 ] ||
    fail "empirical-teleport NFE: $(cat "$T/log")"
run_demo
[ "$(grep -c 'model loaded from' "$T/log")" -eq 3 ] || fail "second run did not load the cached models"
# Another --k refits the mixture only.
"$BIN" demo --data "$T/small.npy" --out "$T/demo" --n 9 --steps 6 --skip 2 --k 2 \
    --backend ref >"$T/log" 2>&1 || fail "demo --k 2 failed: $(cat "$T/log")"
grep -q "gmm .*model fitted" "$T/log" || fail "--k 2 did not refit the mixture: $(cat "$T/log")"
[ "$(grep -c 'model loaded from' "$T/log")" -eq 2 ] || fail "--k 2 refitted more than the mixture"
find "$T/demo" -name '*.tmp.*' | grep -q . && fail "temporary files left"

expect_error "between 1 and 1024" demo --n 0
expect_error "between 1 and 1024" demo --n 5000
expect_error "skip must be between 1 and 5" demo --steps 6 --skip 6
expect_error "unknown backend" demo --backend nope --data "$T/small.npy" --out "$T/bad"
expect_error "cannot open" demo --data "$T/missing.npy" --out "$T/bad"
[ -e "$T/bad" ] && fail "a refused demo left its output folder"
echo "cli_demo: ok"
