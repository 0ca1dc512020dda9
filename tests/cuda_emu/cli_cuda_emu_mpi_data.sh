#!/bin/sh
# --shard-data on the cuda backend, on the CPU emulator under mpirun (registered only in a
# build with MPI): each rank binds its training rows, and its states merge over the
# ranks through NCCL (the emulator's, whose collectives are MPI's: tests/cuda_emu/
# emu_nccl.cpp), or with DIFFSAMP_NCCL=0 staged through the host by the same log-sum-exp
# fold as cpu and ref (host/dist). D(x; sigma) of random queries on 2 and 3 ranks against
# one process, on both device paths and both merges, also with ranks whose devices hold
# different query blocks; a sampling run with landing on 2 ranks lands on the training
# rows one process lands on. This checks the code's logic,
# not a GPU result and not NCCL itself.
. "$(dirname "$0")/../shell_common.sh"
require_numpy
. "$(dirname "$0")/../mpi_common.sh"
EMU=${DIFFSAMP_EMU_BIN:?DIFFSAMP_EMU_BIN: the diffsamp built with the CUDA emulator}

$PY -c "import sys, numpy as np; np.save(sys.argv[1], np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 2]).normal(0, 1, (20, 64)))" "$T/x.npy"
# The relative difference in norm over the batch, at most TOL and, so that a run that
# did not split its rows cannot pass, above 0 (a split sums the float weighted rows in
# another order; equal results would mean every rank summed all of them).
close() { # close A B TOL
    $PY - "$1" "$2" "$3" <<'PY' || fail "$1 vs $2"
import sys, numpy as np
a, b = (np.load(p).astype(np.float64).reshape(20, -1) for p in sys.argv[1:3])
err = np.linalg.norm(a - b) / np.linalg.norm(b)
assert 0 < err <= float(sys.argv[3]), "relative difference %.3g not in (0, %s]" % (err, sys.argv[3])
PY
}
# The tolerance is cli_mpi_data.sh's for cpu: the weighted float32 rows summed in another
# order (per rank, then merged in double) differ by about sqrt(c) u = 1e-6 over c = 300
# rows; NCCL's float sum over R <= 3 ranks adds at most (R - 1) u = 1.2e-7.
# DIFFSAMP_CUDA_FUSED picks the device path (the GEMM path's float products, the fused
# path's double ones) the same in every process; DIFFSAMP_NCCL the merge.
"$EMU" info | grep -q "^nccl: built" || fail "info: the emulator build has NCCL: $("$EMU" info)"
for run in "0 1 2 1" "0 5 3 0" "1 1 3 1" "1 0.5 2 0" "0 0.5 3 1" "1 5 2 0"; do
    set -- $run
    D="denoise --model-dir $T/model --x $T/x.npy --sigma $2 --backend cuda"
    DIFFSAMP_CUDA_FUSED=$1 "$EMU" $D --out "$T/d1.npy" >/dev/null || fail "denoise $run"
    DIFFSAMP_NCCL=$4 DIFFSAMP_EMU_NCCL_SAY=1 DIFFSAMP_CUDA_FUSED=$1 mpi $3 "$EMU" $D --shard-data \
        --out "$T/d$3.npy" >/dev/null 2>"$T/err" || fail "-np $3 denoise $run: $(cat "$T/err")"
    said=$(grep -c "nccl emulator: communicator" "$T/err")
    [ "$said" -eq $(($4 * $3)) ] || fail "$run: $said NCCL communicators (expected $(($4 * $3)))"
    close "$T/d$3.npy" "$T/d1.npy" 1e-6
done

# Ranks whose devices hold different query blocks (DIFFSAMP_CUDA_ROWS stands for the
# free memory, 5 and 7 rows of the 20): they agree on the smaller, so that their merges
# meet (before, the ranks' collectives mismatched and the run failed in MPI).
D="denoise --model-dir $T/model --x $T/x.npy --sigma 1 --backend cuda"
"$EMU" $D --out "$T/d1.npy" >/dev/null || fail "denoise"
for nccl in 1 0; do
    DIFFSAMP_NCCL=$nccl "$MPIRUN" --oversubscribe --bind-to none \
        -np 1 env DIFFSAMP_CUDA_ROWS=5 "$EMU" $D --shard-data --out "$T/dm.npy" : \
        -np 1 env DIFFSAMP_CUDA_ROWS=7 "$EMU" $D --shard-data --out "$T/dm.npy" >/dev/null \
        2>"$T/err" || fail "ranks with blocks of 5 and 7 rows (DIFFSAMP_NCCL=$nccl): $(cat "$T/err")"
    close "$T/dm.npy" "$T/d1.npy" 1e-6
done

# Sampling with the rows split over 2 ranks, with landing: every sample lands on the
# training row one process lands it on (then the samples are those rows exactly).
S="sample --model-dir $T/model --n 12 --batch 5 --steps 6 --seed 5 --backend cuda --quiet --no-png"
"$EMU" $S --out "$T/s1" >/dev/null || fail "sample on cuda"
mpi 2 "$EMU" $S --shard-data --out "$T/s2" >/dev/null || fail "-np 2 sample --shard-data on cuda"
grep -q '"data_sharding": true' "$T/s2/run.json" || fail "run.json: data_sharding"
$PY - "$T/s1" "$T/s2" <<'PY' || fail "landed rows differ"
import json, sys, numpy as np
r1, r2 = (json.load(open(p + "/run.json")) for p in sys.argv[1:3])
assert r1["samples_landed"] == 12, r1["samples_landed"]
assert r1["landed_on_training_row"] == r2["landed_on_training_row"], (r1, r2)
a, b = (np.load(p + "/samples.npy").astype(np.float64) for p in sys.argv[1:3])
assert np.linalg.norm(a - b) <= 1e-6 * np.linalg.norm(a)
PY
echo "ok"
