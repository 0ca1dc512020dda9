#!/bin/sh
# diffsamp sample under mpirun (registered only in a build with MPI): the batches split
# over 2 and 3 ranks give the bytes of a one-process run; a run whose rank was killed
# continues with --resume on another rank count; a rank that refuses its input stops
# every rank with its message and leaves no output; commands that run in one process
# refuse several ranks.
. "$(dirname "$0")/shell_common.sh"
require_numpy
. "$(dirname "$0")/mpi_common.sh"

# 5 batches of 8 (the last one short): batch j runs on rank j mod R.
ARGS="--model-dir $T/model --n 37 --batch 8 --steps 6 --seed 5 --backend cpu --quiet"
same() {
    diff -r -x run.json -x .diffsamp-run "$T/one" "$T/$1" >/dev/null || fail "$1 differs from one process"
    # run.json: the rank count, and the per-sample results (of the samples run: a
    # resumed run has none for the batches it kept).
    $PY - "$T/one/run.json" "$T/$1/run.json" "$2" <<'PY' || fail "$1: run.json"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["ranks"] == 1 and b["ranks"] == int(sys.argv[3]), (a["ranks"], b["ranks"])
run = [i for i, nfe in enumerate(b["sample_nfe"]) if nfe >= 0]
assert len(run) == b["samples"] - b["samples_resumed"], run
for k in ("sample_nfe", "landing_sigma", "landed_on_training_row"):
    assert [a[k][i] for i in run] == [b[k][i] for i in run], k
if not b["samples_resumed"]:
    for k in ("nfe_per_sample", "denoiser_calls", "samples_landed", "nfe_mean_per_sample"):
        assert a[k] == b[k], k
PY
}

"$BIN" sample $ARGS --out "$T/one" >/dev/null || fail "one process"
mpi 2 "$BIN" sample $ARGS --out "$T/two" >"$T/two.log" || fail "mpirun -np 2"
same two 2
[ "$(grep -c '^NFE:' "$T/two.log")" -eq 1 ] || fail "expected rank 0's report only: $(cat "$T/two.log")"
mpi 3 "$BIN" sample $ARGS --out "$T/three" >/dev/null || fail "mpirun -np 3"
same three 3

# Rank 1 is killed right after committing batch 1: mpirun stops the job; the shards of
# the finished batches stay, no samples.npy or run.json; --resume on 3 ranks finishes.
DIFFSAMP_TEST_DIE_AFTER_BATCH=1 mpi 2 "$BIN" sample $ARGS --out "$T/killed" >/dev/null 2>&1 &&
    fail "the killed run succeeded"
[ -e "$T/killed/samples.npy" ] || [ -e "$T/killed/run.json" ] && fail "outputs of a killed run"
[ -e "$T/killed/.diffsamp-run/batch-000001.npy" ] || fail "batch 1 was not kept"
mpi 3 "$BIN" sample $ARGS --out "$T/killed" --resume >"$T/resume.log" || fail "resume"
grep -q "^resume: " "$T/resume.log" || fail "nothing was resumed: $(cat "$T/resume.log")"
same killed 3

# Rank 1 cannot read its model folder: both ranks fail with rank 1's message, no output.
mpi 2 sh -c 'm=$1; shift; [ "$OMPI_COMM_WORLD_RANK" = 1 ] && m=$m-missing; exec "$@" --model-dir "$m"' \
    sh "$T/model" "$BIN" sample --n 37 --batch 8 --steps 6 --backend cpu --quiet --out "$T/refused" \
    >/dev/null 2>"$T/refused.err" && fail "a refused input succeeded"
[ "$(grep -c '^diffsamp: rank 1 of 2: .*model-missing' "$T/refused.err")" -eq 2 ] ||
    fail "expected rank 1's message from both ranks: $(cat "$T/refused.err")"
[ -e "$T/refused" ] && fail "a refused run left $T/refused"
# The commands that do not split their work refuse several ranks, before any output.
mpi 2 "$BIN" prepare --model empirical --data "$T/small.npy" --out "$T/m2" >/dev/null 2>"$T/p.err" &&
    fail "prepare ran on 2 ranks"
[ "$(grep -c '^diffsamp: prepare runs in one process' "$T/p.err")" -eq 2 ] || fail "prepare: $(cat "$T/p.err")"
[ -e "$T/m2" ] && fail "a refused prepare left $T/m2"
echo "ok"
