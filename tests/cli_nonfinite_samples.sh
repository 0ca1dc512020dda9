#!/bin/sh
# Issue 21.9: analyze error and memorization report the samples that hold NaN or Inf and
# measure the others (as sweep does), instead of refusing the file; the figures are those
# of the finite rows alone.
. "$(dirname "$0")/shell_common.sh"
require_numpy

$PY - "$T" <<'PY'
import sys, numpy as np
t = sys.argv[1]
rng = np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 1])
train = rng.standard_normal((80, 6)).astype(np.float32)
x = rng.standard_normal((20, 6))
ref = x + 0.01 * rng.standard_normal((20, 6))
np.save(t + "/train.npy", train)
np.save(t + "/ref.npy", ref)
np.save(t + "/x_finite.npy", np.delete(x, [3, 11], axis=0))
np.save(t + "/ref_finite.npy", np.delete(ref, [3, 11], axis=0))
x[3, 2] = np.nan
x[11, 0] = np.inf
np.save(t + "/x.npy", x)
PY
"$BIN" analyze error --samples "$T/x.npy" --reference "$T/ref.npy" --out "$T/e" >/dev/null 2>"$T/err" ||
    fail "analyze error refused samples with NaN: $(cat "$T/err")"
grep -q "2 of 20 samples (the samples or the reference) hold NaN or Inf (the first: row 3, counted from 0); measuring the other 18" "$T/err" ||
    fail "no count of the non-finite samples: $(cat "$T/err")"
"$BIN" analyze error --samples "$T/x_finite.npy" --reference "$T/ref_finite.npy" --out "$T/e2" >/dev/null 2>&1 ||
    fail "analyze error on the finite rows"
cmp -s "$T/e/error.csv" "$T/e2/error.csv" || fail "the error differs from that of the finite rows alone"
grep -q "relative_l2_error,18," "$T/e/error.csv" || fail "error.csv does not count 18 rows: $(cat "$T/e/error.csv")"

"$BIN" analyze memorization --samples "$T/x.npy" --data "$T/train.npy" --out "$T/m" >/dev/null 2>"$T/err" ||
    fail "analyze memorization refused samples with NaN: $(cat "$T/err")"
grep -q "2 of 20 samples ($T/x.npy) hold NaN or Inf" "$T/err" || fail "memorization: no count: $(cat "$T/err")"
"$BIN" analyze memorization --samples "$T/x_finite.npy" --data "$T/train.npy" --out "$T/m2" >/dev/null 2>&1 ||
    fail "memorization on the finite rows"
cmp -s "$T/m/memorization_summary.csv" "$T/m2/memorization_summary.csv" || fail "memorization differs from that of the finite rows"

# All rows non-finite: refused with one line.
$PY -c "import sys, numpy as np; np.save(sys.argv[1], np.full((3, 6), np.nan))" "$T/nan.npy"
"$BIN" analyze memorization --samples "$T/nan.npy" --data "$T/train.npy" --out "$T/m3" >/dev/null 2>"$T/err" &&
    fail "all-NaN samples were measured"
grep -q "no sample is finite (all 3 hold NaN or Inf)" "$T/err" || fail "all-NaN: $(cat "$T/err")"
echo "ok"
