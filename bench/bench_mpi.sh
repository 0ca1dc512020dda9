#!/bin/sh
# Sample sharding and data sharding (issue 16) at R = 1 and 2 ranks on this machine:
# the cpu backend, one thread per rank, on Fashion-MNIST's 60,000 training rows (d = 784),
# n samples of Heun on the EDM schedule without landing or pruning (every row at every step, so the
# work is 4 n NFE N d FLOP whatever the split). Prints a markdown table: the median
# seconds of `rounds` runs of each (alternated round by round, so all see the same load),
# the speed-up over R = 1, and rank 0's bytes handed to MPI collectives, per run and per
# denoiser call (one batch's evaluation).
# Usage: bench/bench_mpi.sh BUILD_DIR [n] [rounds]
set -eu
BIN=$1/diffsamp
N=${2:-64}
ROUNDS=${3:-3}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
"$BIN" prepare --model empirical --out "$T/model" >/dev/null
ARGS="sample --model-dir $T/model --n $N --batch 16 --steps 6 --no-landing --no-prune --backend cpu --quiet --no-png --no-npy"
run() { # NAME RANKS [options]: one run; appends its seconds and run.json to $T/NAME.*
    name=$1 np=$2; shift 2
    rm -rf "$T/out"
    start=$(date +%s.%N)
    if [ "$np" = 1 ]; then "$BIN" $ARGS --out "$T/out" "$@" >/dev/null
    else mpirun -np "$np" --bind-to none "$BIN" $ARGS --out "$T/out" "$@" >/dev/null; fi
    end=$(date +%s.%N)
    echo "$start $end" | awk '{print $2 - $1}' >>"$T/$name.s"
    cp "$T/out/run.json" "$T/$name.json"
}
for r in $(seq "$ROUNDS"); do
    run one 1
    run samples 2
    run rows 2 --shard-data
done
/usr/bin/python3 - "$T" "$N" <<'PY'
import json, statistics, sys
t, n = sys.argv[1], int(sys.argv[2])
med = {k: statistics.median(float(x) for x in open(f"{t}/{k}.s")) for k in ("one", "samples", "rows")}
print("| run (n = %d, N = 60,000, d = 784, batches of 16) | R | median s | speed-up vs R = 1 | MPI bytes (rank 0), run | per denoiser call |" % n)
print("|---|---|---|---|---|---|")
for k, what, r in (("one", "one process (the baseline)", 1), ("samples", "sample sharding", 2),
                   ("rows", "data sharding (--shard-data)", 2)):
    j = json.load(open(f"{t}/{k}.json"))
    b, calls = j["mpi_bytes_sent_by_rank_0"], j["denoiser_calls"]
    print("| %s | %d | %.2f | %.2f | %d | %.0f |" % (what, r, med[k], med["one"] / med[k], b, b / calls))
j = json.load(open(f"{t}/one.json"))
flop = 4.0 * n * j["nfe_per_sample"] * 60000 * 784
print("\nNFE %d per sample; %.1f GFLOP per run (4 n NFE N d); one process: %.1f GFLOP/s"
      % (j["nfe_per_sample"], flop / 1e9, flop / 1e9 / med["one"]))
PY
