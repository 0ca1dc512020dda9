#!/bin/sh
# Issue 21.5: sweep takes --model-dir (one or several prepared folders) and runs on each;
# its adaptive ground truth is cached in OUT/truth by model, noise and tolerance and
# reused by the next sweep, which then gives the same table; another tolerance or model
# runs its own. analyze denoisers compares prepared folders too.
. "$(dirname "$0")/shell_common.sh"
require_numpy

$PY -c "import sys, numpy as np; r = np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 1]); np.save(sys.argv[1], r.standard_normal((60, 4)).astype(np.float32)); np.save(sys.argv[2], r.standard_normal((30, 4)).astype(np.float32))" "$T/x.npy" "$T/h.npy"
"$BIN" prepare --data "$T/x.npy" --model gmm --k 3 --out "$T/gmm" >/dev/null 2>&1 || fail "prepare gmm"
"$BIN" prepare --data "$T/x.npy" --model gaussian --out "$T/gauss" >/dev/null 2>&1 || fail "prepare gaussian"
S="sweep --data $T/x.npy --model-dir $T/gmm,$T/gauss --solvers euler,heun --nfe 5,10 --n 6"

"$BIN" $S --out "$T/a" >/dev/null 2>"$T/err1" || fail "sweep --model-dir: $(cat "$T/err1")"
csv=$T/a/sweep.csv
head -n 1 "$csv" | grep -q ",model$" || fail "no model column: $(head -n 1 "$csv")"
[ "$(grep -c ",$T/gmm$" "$csv")" -eq 5 ] || fail "expected 5 rows of the gmm folder: $(cat "$csv")"
[ "$(grep -c ",$T/gauss$" "$csv")" -eq 5 ] || fail "expected 5 rows of the gaussian folder: $(cat "$csv")"
[ "$(grep -c '^adaptive,rtol=' "$csv")" -eq 2 ] || fail "expected a ground truth per model"
[ "$(ls "$T/a/truth"/*.npy | wc -l)" -eq 2 ] || fail "expected two cached ground truths: $(ls "$T/a/truth")"
grep -q "ground truth of .* from" "$T/err1" && fail "the first sweep found a cached truth"

# The same sweep again: both truths from the cache, the same table (timings aside).
"$BIN" $S --out "$T/a" >/dev/null 2>"$T/err2" || fail "second sweep: $(cat "$T/err2")"
[ "$(grep -c "sweep: the ground truth of .* from $T/a/truth/" "$T/err2")" -eq 2 ] ||
    fail "the second sweep did not reuse both truths: $(cat "$T/err2")"
grep -q "^sweep: adaptive" "$T/err2" && fail "the second sweep ran the adaptive solver"
cut -d, -f1-12,14 "$csv" >"$T/second.csv"
"$BIN" $S --out "$T/b" >/dev/null 2>&1 || fail "sweep into a fresh folder"
cut -d, -f1-12,14 "$T/b/sweep.csv" | sed "s|$T/b|$T/a|" >"$T/fresh.csv"
cmp -s "$T/second.csv" "$T/fresh.csv" || fail "a cached truth gave another table: $(diff "$T/second.csv" "$T/fresh.csv")"

# Another tolerance is another truth; a contradicting --model is refused (status 2).
"$BIN" $S --out "$T/a" --rtol 1e-5 >/dev/null 2>"$T/err3" || fail "sweep --rtol 1e-5: $(cat "$T/err3")"
grep -q "ground truth of .* from" "$T/err3" && fail "--rtol 1e-5 reused the 1e-6 truth"
[ "$(ls "$T/a/truth"/*.npy | wc -l)" -eq 4 ] || fail "expected four cached truths"
"$BIN" sweep --data "$T/x.npy" --model gaussian --model-dir "$T/gmm" --out "$T/c" >/dev/null 2>"$T/err"
[ $? -eq 2 ] || fail "a contradicting --model was not refused with status 2: $(cat "$T/err")"
grep -q "contradicts --model-dir" "$T/err" || fail "message: $(cat "$T/err")"

# analyze denoisers: the reference fitted (kept in OUT/models), the folders compared with
# it; a second run loads the fit instead of fitting again and gives the same table.
D="analyze denoisers --data $T/x.npy --heldout $T/h.npy --model-dir $T/gmm,$T/gauss --n 8 --levels 4"
"$BIN" $D --out "$T/d" >"$T/out1" 2>"$T/err" || fail "analyze denoisers --model-dir: $(cat "$T/err")"
grep -q "empirical model fitted in .* saved to $T/d/models/empirical" "$T/out1" || fail "no fit kept: $(cat "$T/out1")"
grep -q "^$T/gmm,empirical,heldout," "$T/d/denoisers.csv" || fail "no gmm folder rows: $(head -n 3 "$T/d/denoisers.csv")"
grep -q "^$T/gauss,empirical,train," "$T/d/denoisers.csv" || fail "no gaussian folder rows"
cp "$T/d/denoisers.csv" "$T/first.csv"
"$BIN" $D --out "$T/d" >"$T/out2" 2>"$T/err" || fail "second analyze denoisers: $(cat "$T/err")"
grep -q "empirical model loaded from $T/d/models/empirical" "$T/out2" || fail "the fit was not reused: $(cat "$T/out2")"
cmp -s "$T/first.csv" "$T/d/denoisers.csv" || fail "the reused fit gave another table"
"$BIN" analyze denoisers --data "$T/x.npy" --heldout "$T/h.npy" --models empirical,gmm --k 2 --n 8 \
    --levels 4 --out "$T/d" >"$T/out3" 2>"$T/err" || fail "gmm k 2: $(cat "$T/err")"
grep -q "gmm       model fitted" "$T/out3" || fail "a gmm of another k was not fitted anew: $(cat "$T/out3")"
echo "ok"
