#!/bin/sh
# diffsamp --shard-data under mpirun (registered only in a build with MPI): the training
# rows split over the ranks give the one-process denoiser to 1e-6 on cpu and 1e-12 on
# ref, and samples, resumed after a kill, those of one process.
. "$(dirname "$0")/shell_common.sh"
require_numpy
. "$(dirname "$0")/mpi_common.sh"

# Data sharding: D(x; sigma) of random queries, the training rows split over 2 and 3
# ranks, against one process, by the relative difference in norm over the batch. ref
# merges float64 states (a few roundings of exp and of the sums: ~1e-15; checked to
# 1e-12). cpu sums the weighted float32 rows in another order (chunks of each rank's
# rows instead of all 300): two orders of a float sum over c = 300 rows differ by about
# sqrt(c) u = 1e-6 (u = 6e-8) at most, the issue's 1e-6; measured 1.3e-7 to 2.7e-7 over
# six data sets at sigma 1 and 5 (a single row's largest element differs by up to
# 5.5e-7, and at sigma 0.5 by 5e-6, as much as changing the one-process chunk size does:
# float rounding, not the merge).
$PY -c "import sys, numpy as np; np.save(sys.argv[1], np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 1]).normal(0, 1, (20, 64)))" "$T/x.npy"
close() { # close A B TOL
    $PY - "$1" "$2" "$3" <<'PY' || fail "$1 vs $2"
import sys, numpy as np
a, b = (np.load(p).astype(np.float64).reshape(20, -1) for p in sys.argv[1:3])
err = np.linalg.norm(a - b) / np.linalg.norm(b)
assert err <= float(sys.argv[3]), "relative difference %.3g > %s" % (err, sys.argv[3])
PY
}
# (backend, sigma, ranks): a few of each, on 2 and 3 ranks.
for run in "cpu 1 2" "cpu 1 3" "cpu 5 3" "ref 0.5 3" "ref 5 2"; do
    set -- $run
    tol=1e-6; [ $1 = ref ] && tol=1e-12
    D="denoise --model-dir $T/model --x $T/x.npy --sigma $2 --backend $1"
    "$BIN" $D --out "$T/d1.npy" >/dev/null || fail "denoise $run"
    mpi $3 "$BIN" $D --shard-data --out "$T/d$3.npy" >/dev/null || fail "-np $3 denoise $run"
    close "$T/d$3.npy" "$T/d1.npy" $tol
done

# Sampling with the rows split over 2 ranks on ref, killed after batch 1 (rank 0 writes)
# and resumed: the samples of one process to 1e-9 (the 1e-15 of each evaluation grown
# over the steps; the landed samples are training rows exactly).
S="sample --model-dir $T/model --n 20 --batch 8 --steps 6 --seed 5 --backend ref --quiet --no-png"
"$BIN" $S --out "$T/s1" >/dev/null || fail "sample on ref"
DIFFSAMP_TEST_DIE_AFTER_BATCH=1 mpi 2 "$BIN" $S --shard-data --out "$T/s2" >/dev/null 2>&1 &&
    fail "the killed data-sharded run succeeded"
[ -e "$T/s2/samples.npy" ] && fail "samples.npy of a killed run"
mpi 2 "$BIN" $S --shard-data --out "$T/s2" --resume >"$T/s2.log" || fail "resume data-sharded"
grep -q "^resume: 2 of 3 batches" "$T/s2.log" || fail "not resumed: $(cat "$T/s2.log")"
close "$T/s2/samples.npy" "$T/s1/samples.npy" 1e-9
grep -q '"data_sharding": true' "$T/s2/run.json" || fail "run.json: data_sharding"
# The rows split over another rank count sum in another order: refused on resume.
mpi 3 "$BIN" $S --shard-data --out "$T/s2" --resume >/dev/null 2>"$T/s3.err" && fail "resume on 3 ranks"
grep -q "data-shards=2" "$T/s3.err" || fail "resume on 3 ranks: $(cat "$T/s3.err")"
echo "ok"
