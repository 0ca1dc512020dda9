#!/bin/sh
# Image arrays in numpy's usual (N, H, W, C) order: a last axis of 1, 3 or 4 (and a
# second axis that is not) is read as channels, rows reordered to C-H-W, with a note on
# stderr. The same images saved as (N, C, H, W) give byte-identical grids, and sample
# writes PNGs of the right shape; samples.npy keeps it; --flat-npy, --no-png.
. "$(dirname "$0")/shell_common.sh"
require_numpy

$PY - "$T" <<'PY' || fail "numpy could not write the test arrays"
import sys, numpy as np
t = sys.argv[1]
rng = np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 1])
for c in (1, 3):
    hwc = rng.integers(0, 256, size=(12, 6, 5, c), dtype=np.uint8)  # H=6, W=5: order shows
    np.save(f"{t}/hwc{c}.npy", hwc)
    np.save(f"{t}/chw{c}.npy", np.ascontiguousarray(hwc.transpose(0, 3, 1, 2)))
    np.save(f"{t}/hwc{c}f.npy", hwc.astype(np.float32) / 127.5 - 1)
PY
for c in 1 3; do
    "$BIN" grid --data "$T/hwc$c.npy" --out "$T/g_hwc$c.png" --count 12 --cols 4 >/dev/null 2>"$T/err" \
        || fail "grid of (N, H, W, $c): $(cat "$T/err")"
    grep -q "(N, 6, 5, $c) read as images of height x width x channels.*C = $c, H = 6, W = 5" "$T/err" \
        || fail "no note of the layout read: $(cat "$T/err")"
    "$BIN" grid --data "$T/chw$c.npy" --out "$T/g_chw$c.png" --count 12 --cols 4 >/dev/null 2>"$T/err" \
        || fail "grid of (N, $c, H, W): $(cat "$T/err")"
    [ -s "$T/err" ] && fail "a (N, C, H, W) array got a layout note: $(cat "$T/err")"
    cmp -s "$T/g_hwc$c.png" "$T/g_chw$c.png" || fail "C = $c: (N, H, W, C) and (N, C, H, W) grids differ"
done
"$BIN" grid --data "$T/hwc3f.npy" --out "$T/g_hwc3f.png" --count 12 --cols 4 >/dev/null 2>&1 \
    || fail "grid of float32 (N, H, W, 3)"
cmp -s "$T/g_hwc3f.png" "$T/g_chw3.png" || fail "float32 (N, H, W, 3) grid differs from the uint8 one"

# The empirical model of (N, H, W, 3) data: PNGs per sample and a grid, of shape 3 x 6 x 5.
"$BIN" sample --data "$T/hwc3.npy" --model empirical --steps 3 --n 2 --quiet --out "$T/s" \
    >/dev/null 2>"$T/err" || fail "sample on (N, H, W, 3) data: $(cat "$T/err")"
[ -f "$T/s/000000/000001.png" ] && [ -f "$T/s/grid.png" ] || fail "sample wrote no PNGs"
$PY - "$T/s/000000/000000.png" <<'PY' || fail "a sample PNG is not a 5 x 6 RGB image"
import struct, sys
head = open(sys.argv[1], "rb").read(26)
w, h, depth, colour = struct.unpack(">IIBB", head[16:26])
sys.exit(0 if (w, h, depth, colour) == (5, 6, 8, 2) else 1)
PY
# samples.npy keeps the image shape, (n, C, H, W); --flat-npy gives the same values as
# (n, d); --no-png writes no PNG, and a disk-space message no longer suggests it.
"$BIN" sample --data "$T/hwc3.npy" --model empirical --steps 3 --n 2 --quiet --out "$T/f" \
    --flat-npy --no-png >/dev/null 2>"$T/err" || fail "sample --flat-npy --no-png: $(cat "$T/err")"
ls "$T/f" | grep -q png && fail "--no-png wrote PNGs: $(ls "$T/f")"
[ -d "$T/f/000000" ] && fail "--no-png made the PNG folder"
$PY - "$T/s/samples.npy" "$T/f/samples.npy" <<'PY' || fail "samples.npy shapes (see above)"
import sys, numpy as np
shaped, flat = np.load(sys.argv[1]), np.load(sys.argv[2])
print("samples.npy", shaped.shape, "--flat-npy", flat.shape)
sys.exit(0 if shaped.shape == (2, 3, 6, 5) and flat.shape == (2, 90)
         and np.array_equal(shaped.reshape(2, 90), flat) else 1)
PY
expect_error "add --no-npy, add --no-png, or choose" sample --data "$T/chw3.npy" --model gaussian \
    --n 1000000000000 --out "$T/huge"
expect_error "(lower --n, or choose" sample --data "$T/chw3.npy" --model gaussian \
    --n 1000000000000 --out "$T/huge" --no-npy --no-png
echo "ok"
