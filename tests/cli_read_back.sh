#!/bin/sh
# Issue 21.4: what diffsamp writes reads back. A folder in EDM's layout (000000/000000.png,
# ...) is read recursively as data; diffsamp's own output folder is read as its samples
# (not as its one grid.png), and refused with a hint when it holds no per-sample PNGs;
# analyze --samples takes such a folder as well as .npy, with the same figures.
. "$(dirname "$0")/shell_common.sh"
require_numpy

$PY -c "import sys, numpy as np; np.save(sys.argv[1], np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 1]).integers(0, 256, (40, 3, 6, 5), dtype=np.uint8))" "$T/train.npy"
"$BIN" sample --data "$T/train.npy" --model gaussian --n 12 --out "$T/run" >/dev/null 2>&1 || fail "sample"
[ -f "$T/run/grid.png" ] && [ -f "$T/run/000000/000011.png" ] || fail "sample wrote no PNGs: $(ls -R "$T/run")"

# The run's folder as data: its 12 samples, 3 x 6 x 5 each, not the grid.
"$BIN" grid --data "$T/run" --count 12 --out "$T/g.png" >"$T/out" 2>"$T/err" || fail "grid of the run folder: $(cat "$T/err")"
grep -q "12 images of 3x6x5 from $T/run (12 rows)" "$T/out" || fail "the run folder was not read as its 12 samples: $(cat "$T/out")"

# EDM's layout without run.json (a copy of the sample folders): the same rows.
mkdir -p "$T/edm" && cp -r "$T/run/000000" "$T/edm/"
"$BIN" grid --data "$T/edm" --count 100 --out "$T/g2.png" >"$T/out" 2>&1 || fail "EDM layout: $(cat "$T/out")"
grep -q "12 images of 3x6x5 from $T/edm (12 rows)" "$T/out" || fail "EDM layout: $(cat "$T/out")"

# analyze memorization: the PNG folder gives what the PNGs' own values give as .npy.
$PY - "$T" <<'PY'
import sys, struct, zlib, numpy as np
t = sys.argv[1]
def png(path):  # 8-bit RGB, no interlace: the rows of the IDAT stream, filter byte per row
    b = open(path, "rb").read()
    assert b[:8] == b"\x89PNG\r\n\x1a\n"
    i, idat, w, h = 8, b"", 0, 0
    while i < len(b):
        n = struct.unpack(">I", b[i:i + 4])[0]; kind = b[i + 4:i + 8]; data = b[i + 8:i + 8 + n]
        if kind == b"IHDR": w, h = struct.unpack(">II", data[:8])
        if kind == b"IDAT": idat += data
        i += 12 + n
    raw, c, out, prev = zlib.decompress(idat), 3, [], None
    stride = w * c
    for r in range(h):
        f, line = raw[r * (stride + 1)], bytearray(raw[r * (stride + 1) + 1:(r + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - c] if x >= c else 0
            up = prev[x] if prev is not None else 0
            ul = prev[x - c] if prev is not None and x >= c else 0
            p = a + up - ul
            pred = [0, a, up, (a + up) // 2, a if abs(p - a) <= abs(p - up) and abs(p - a) <= abs(p - ul) else (up if abs(p - up) <= abs(p - ul) else ul)][f]
            line[x] = (line[x] + pred) & 255
        out.append(bytes(line)); prev = line
    return np.frombuffer(b"".join(out), np.uint8).reshape(h, w, c).transpose(2, 0, 1)
x = np.stack([png("%s/run/000000/%06d.png" % (t, i)) for i in range(12)])
np.save(t + "/pngs.npy", x)
PY
"$BIN" analyze memorization --samples "$T/run" --data "$T/train.npy" --out "$T/m1" >/dev/null 2>"$T/err" ||
    fail "analyze memorization of a PNG folder: $(cat "$T/err")"
"$BIN" analyze memorization --samples "$T/pngs.npy" --data "$T/train.npy" --out "$T/m2" >/dev/null 2>"$T/err" ||
    fail "analyze memorization of the PNGs as .npy: $(cat "$T/err")"
cmp -s "$T/m1/memorization.csv" "$T/m2/memorization.csv" || fail "the PNG folder and its .npy differ"

# A run written with --no-png: refused with the hint to give samples.npy.
"$BIN" sample --data "$T/train.npy" --model gaussian --n 4 --no-png --out "$T/nopng" >/dev/null 2>&1 || fail "sample --no-png"
expect_error "holds a diffsamp run without per-sample PNGs (written with --no-png?); give its samples as $T/nopng/samples.npy" \
    grid --data "$T/nopng" --out "$T/g3.png"
echo "ok"
