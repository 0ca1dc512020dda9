#!/bin/sh
# Data larger than --max-memory (issue 16.5): 8-bit training rows stay 8-bit in host
# memory and the cpu backend converts them chunk by chunk at each call when their float32
# copy does not fit; the samples are the bytes of a run that keeps the copy.
. "$(dirname "$0")/shell_common.sh"
require_numpy

$PY -c "import sys, numpy as np; np.save(sys.argv[1], np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 1]).integers(0, 256, (300, 1, 8, 8), dtype=np.uint8))" "$T/u8.npy"
# Chunks of 64 rows (whatever the batch, so a planned-down batch changes no sum) and 2
# threads: the copy is 300 x 64 float32 = 76,800 bytes, a streamed chunk 64 x 64 x 4 =
# 16,384 bytes per thread.
export OMP_NUM_THREADS=2 DIFFSAMP_CPU_CHUNK=64
A="sample --data $T/u8.npy --n 20 --batch 8 --steps 6 --backend cpu --quiet"
"$BIN" $A --out "$T/copy" >"$T/copy.log" || fail "run with the copy"
grep -q "chunk by chunk" "$T/copy.log" && fail "streamed without a limit"
# 79,200 bytes cannot hold the copy and its norms (79,200) with one batch row.
"$BIN" $A --out "$T/streamed" --max-memory 79200 >"$T/streamed.log" || fail "streamed run"
grep -q "^memory: the training rows are converted chunk by chunk" "$T/streamed.log" ||
    fail "not streamed: $(cat "$T/streamed.log")"
diff -r -x run.json -x .diffsamp-run "$T/copy" "$T/streamed" >/dev/null || fail "streamed samples differ"
# Below what one streamed batch row needs: refused with the bytes needed.
"$BIN" $A --out "$T/small" --max-memory 20K >/dev/null 2>"$T/small.err" && fail "20K accepted"
grep -q "needs at least" "$T/small.err" || fail "20K: $(cat "$T/small.err")"
[ -e "$T/small" ] && fail "a refused run left $T/small"
echo "ok"
