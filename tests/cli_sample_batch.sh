#!/bin/sh
# diffsamp sample as a batch job: the output does not depend on the batch size; a run
# killed mid-way and continued with --resume gives byte-identical files and keeps the
# finished batches; no temporary or partial file is left; --resume with other options
# is refused; run.json, progress, --quiet and --max-memory.
. "$(dirname "$0")/shell_common.sh"
require_numpy

$PY -c "import sys, numpy as np; np.save(sys.argv[1], np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 1]).uniform(-1, 1, (200, 1, 8, 8)).astype(np.float32))" "$T/small.npy"
"$BIN" prepare --model empirical --data "$T/small.npy" --out "$T/model" >/dev/null || fail "prepare"

# 50 samples, 6 Heun steps on the float64 ref backend (exact: no rounding differences).
ARGS="--model-dir $T/model --n 50 --steps 6 --seed 11 --backend ref"
run() { out=$1; shift; "$BIN" sample $ARGS --out "$T/$out" "$@"; }
# The outputs of two runs are the same bytes (run.json holds timings; the run's
# bookkeeping folder differs).
same() {
    diff -r -x run.json -x .diffsamp-run "$T/$1" "$T/$2" >/dev/null || fail "$1 and $2 differ"
}
no_tmp() { find "$T/$1" -name '*.tmp.*' | grep -q . && fail "$1: temporary files left"; return 0; }

run a --batch 8 >"$T/a.log" 2>"$T/a.err" || fail "run a: $(cat "$T/a.err")"
[ "$(find "$T/a" -name '*.png' | wc -l)" -eq 51 ] || fail "expected 50 sample PNGs and a grid"
[ -s "$T/a/000000/000049.png" ] && [ -s "$T/a/samples.npy" ] || fail "missing outputs"
grep -q "sample: batch 7/7, 50/50 samples" "$T/a.err" || fail "no final progress line: $(cat "$T/a.err")"
no_tmp a

# Batch-size independence (sample i uses the noise of row i only).
start=$(date +%s%N)
run b --batch 5 --quiet >/dev/null 2>"$T/b.err" || fail "run b"
took_ns=$(($(date +%s%N) - start))
[ -s "$T/b.err" ] && fail "--quiet printed: $(cat "$T/b.err")"
same a b

# Killed right after batch 2 (of 7): the first 3 batches are kept, the rest is redone.
DIFFSAMP_TEST_DIE_AFTER_BATCH=2 run c --batch 8 --quiet >/dev/null 2>&1 && fail "run c was not killed"
[ -e "$T/c/samples.npy" ] && fail "samples.npy written by a killed run"
[ -e "$T/c/run.json" ] && fail "run.json written by a killed run"
[ -s "$T/c/000000/000023.png" ] || fail "batch 2 not written before the kill"
touch "$T/c/000000/000030.png.tmp.99999"
run c --batch 8 --quiet >/dev/null 2>&1 && fail "rerun without --resume accepted"
run c --batch 8 --steps 7 --resume >/dev/null 2>"$T/c.err" && fail "--resume with other options accepted"
[ "$(wc -l <"$T/c.err")" -eq 1 ] && grep -q "steps=6" "$T/c.err" || fail "bad refusal: $(cat "$T/c.err")"
run c --batch 8 --resume --quiet >"$T/c.log" 2>&1 || fail "resume c: $(cat "$T/c.log")"
grep -q "resume: 3 of 7 batches (24 samples) done before" "$T/c.log" || fail "batches not kept: $(cat "$T/c.log")"
same a c
no_tmp c
ls "$T/c/.diffsamp-run" | grep -q '^batch-' && fail "shards left after completion"
run c --batch 8 --resume --quiet | grep -q "complete; nothing to do" || fail "complete run redone"

# Killed at a random moment of a run like b (SIGKILL after 5% to 95% of its time),
# then resumed.
delay=$($PY -c "import random; print('%.3f' % (random.uniform(0.05, 0.95) * $took_ns / 1e9))")
timeout -s KILL "$delay" "$BIN" sample $ARGS --out "$T/d" --batch 5 --quiet >/dev/null 2>&1
killed=$?
run d --batch 5 --resume --quiet >"$T/d.log" 2>&1 || fail "resume d (killed after ${delay}s): $(cat "$T/d.log")"
same a d
no_tmp d

# The same with a Gaussian-mixture model and teleportation (the Gaussian flow on the
# resumed batches too).
"$BIN" prepare --model gmm --k 3 --data "$T/small.npy" --out "$T/gmm" >/dev/null 2>&1 || fail "prepare gmm"
"$BIN" prepare --model gaussian --data "$T/small.npy" --out "$T/gauss" >/dev/null || fail "prepare gaussian"
ARGS="--model-dir $T/gmm --teleport-model $T/gauss --teleport-fraction 0.34 --n 30 --steps 6 --seed 5 --backend ref --quiet"
run t1 --batch 7 >/dev/null 2>&1 || fail "teleport run t1"
DIFFSAMP_TEST_DIE_AFTER_BATCH=1 run t2 --batch 4 >/dev/null 2>&1 && fail "run t2 was not killed"
run t2 --batch 4 --resume >/dev/null 2>&1 || fail "resume t2"
same t1 t2
ARGS="--model-dir $T/model --n 50 --steps 6 --seed 11 --backend ref"

# run.json records the run (read back by Python's json module).
$PY - "$T/c/run.json" <<'PY' || fail "run.json"
import json, sys
r = json.load(open(sys.argv[1]))
ok = (r["command"] == "sample" and r["backend"] == "ref" and r["samples"] == 50 and
      r["batch"] == 8 and r["batches_resumed"] == 3 and r["samples_resumed"] == 24 and
      r["seed"] == 11 and 1 <= r["nfe_per_sample"] <= 11 and r["landing"] and
      len(r["sample_nfe"]) == 50 and r["sample_nfe"][:24] == [-1] * 24 and
      all(1 <= n <= r["nfe_per_sample"] for n in r["sample_nfe"][24:]) and
      r["samples_landed"] == sum(s > 0 for s in r["landing_sigma"][24:]) >= 1 and r["config"]["steps"] == 6 and
      r["model"]["kind"] == "empirical" and len(r["model"]["data_checksum"]) == 16 and
      len(r["sigmas"]) == 7 and r["sigmas"][-1] == 0 and r["seconds"]["total"] > 0 and
      r["version"] and r["git_revision"])
sys.exit(0 if ok else 1)
PY

# Memory on ref (its memory entry): 200 x 65 doubles for the centred rows and their
# norms, 200 + 4 + 3 x 64 doubles of work per denoise thread (2 here), and per row Heun's
# 4 batches of 64 doubles, landing's 3 and the softmax state of 4 + 64 doubles (the
# float32 data set itself is a memory-mapped .npy, page cache, not counted): 104000 +
# 6336 + 4128 x rows bytes. 124000 fits 3 rows (122720), not 4 (126848): batches of 3
# (same output); 1K is refused.
export OMP_NUM_THREADS=2
run e --batch 8 --max-memory 124000 --quiet >"$T/e.log" 2>&1 || fail "run e: $(cat "$T/e.log")"
grep -q "memory: batch 8 -> 3 rows" "$T/e.log" || fail "batch not planned down: $(cat "$T/e.log")"
same a e
# A planned-down run killed and resumed without the limit keeps its batches of 3; resumed
# with --batch 2 it is refused (its shards hold 3 rows each).
DIFFSAMP_TEST_DIE_AFTER_BATCH=4 run e2 --batch 8 --max-memory 124000 --quiet >/dev/null 2>&1 &&
    fail "run e2 was not killed"
run e2 --batch 2 --resume --quiet >/dev/null 2>"$T/e2.err" && fail "resume with smaller batches accepted"
grep -q "used batches of 3 rows" "$T/e2.err" || fail "resume batch message: $(cat "$T/e2.err")"
run e2 --batch 8 --resume --quiet >"$T/e2.log" 2>&1 || fail "resume e2: $(cat "$T/e2.log")"
grep -q "resume: 5 of 17 batches" "$T/e2.log" || fail "e2 did not keep its batches: $(cat "$T/e2.log")"
same a e2
run f --max-memory 1K >/dev/null 2>"$T/f.err" && fail "--max-memory 1K accepted"
grep -q "needs at least" "$T/f.err" || fail "no amount in: $(cat "$T/f.err")"
run g --max-memory 12X >/dev/null 2>"$T/g.err" && fail "--max-memory 12X accepted"
[ "$(wc -l <"$T/g.err")" -eq 1 ] && grep -q "bad memory size" "$T/g.err" || fail "bad size message"

# The cpu backend: batch-size independent on this data as well (N = 200 rows fit in
# one chunk of its denoiser; larger sets are chunked by batch size, so bit-for-bit
# equality is not claimed there).
ARGS="--model-dir $T/model --n 50 --steps 6 --seed 11 --backend cpu --quiet"
if run h --batch 8 >/dev/null 2>"$T/h.err"; then
    run i --batch 3 >/dev/null 2>&1 || fail "cpu run i"
    same h i
elif grep -q "not implemented" "$T/h.err"; then
    echo "skipped: cpu backend not in this build"
else
    fail "cpu run h: $(cat "$T/h.err")"
fi
echo "cli_sample_batch: ok (random kill after ${delay}s of ${took_ns} ns: exit $killed, then $(head -n 1 "$T/d.log"))"
