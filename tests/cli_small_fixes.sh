#!/bin/sh
# Small frictions of issue 21: analyze fid's default --pca-k 64 on data with d < 64 is
# clamped to d (said on stderr) and gives the same distance as --pca-k d; a --pca-k given
# above d is still refused.
. "$(dirname "$0")/shell_common.sh"
require_numpy

for name in train heldout samples; do
    $PY -c "import sys, numpy as np; np.save(sys.argv[1], np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 1]).standard_normal((120, 16)).astype(np.float32))" "$T/$name.npy"
done
A="analyze fid --samples $T/samples.npy --data $T/train.npy --heldout $T/heldout.npy"
"$BIN" $A --out "$T/default" >"$T/out" 2>"$T/err" || fail "analyze fid with d = 16 < 64: $(cat "$T/err")"
grep -q "has dimension d = 16 < 64: --pca-k 16" "$T/err" || fail "no note of the clamp: $(cat "$T/err")"
"$BIN" $A --out "$T/k16" --pca-k 16 >/dev/null 2>"$T/err" || fail "analyze fid --pca-k 16: $(cat "$T/err")"
[ -s "$T/err" ] && fail "--pca-k 16 = d gave a note: $(cat "$T/err")"
csv=$(cd "$T/default" && ls *.csv | head -n 1)
[ -n "$csv" ] || fail "analyze fid wrote no CSV"
cmp -s "$T/default/$csv" "$T/k16/$csv" || fail "the clamped run differs from --pca-k 16: $(cat "$T/default/$csv") vs $(cat "$T/k16/$csv")"
grep -q ",16," "$T/default/$csv" || fail "the CSV does not record k = 16: $(cat "$T/default/$csv")"
expect_error "expected 1 <= k <= d" $A --out "$T/k17" --pca-k 17
echo "ok"
