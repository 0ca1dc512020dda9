#!/bin/sh
# The cpu empirical denoiser against numpy on the same work (issue 3, requirement 8):
# runs bench/bench_cpu_denoise (cpu backend + the single-SGEMM roofline) and
# tools/bench_numpy_denoise.py in alternating rounds, so that both see the same load
# on a shared machine, and prints the medians over the rounds and their ratio.
#
# usage: tools/bench_cpu.sh [build-dir] [B] [rounds] [repeats per round]
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}
B=${2:-256}
ROUNDS=${3:-5}
REPEATS=${4:-3}
BENCH="$BUILD/bench_cpu_denoise"
[ -x "$BENCH" ] || { echo "bench_cpu.sh: $BENCH not found (build first)" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command: tools/bench_cpu.sh $BUILD $B $ROUNDS $REPEATS"
i=0
while [ "$i" -lt "$ROUNDS" ]; do
    "$BENCH" "$B" "$REPEATS" >"$TMP/cpu.$i"
    /usr/bin/python3 tools/bench_numpy_denoise.py "$B" "$REPEATS" >"$TMP/numpy.$i"
    i=$((i + 1))
done
head -n 2 "$TMP/cpu.0"

# median KEY FILES...: the median of the value on the line "KEY value" of each file.
median() {
    key=$1
    shift
    grep -h "^$key " "$@" | cut -d' ' -f2 | sort -g |
        awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
cpu=$(median cpu_denoise_ms "$TMP"/cpu.*)
sgemm=$(median sgemm_ms "$TMP"/cpu.*)
numpy=$(median numpy_denoise_ms "$TMP"/numpy.*)
awk -v cpu="$cpu" -v sgemm="$sgemm" -v numpy="$numpy" -v b="$B" -v rounds="$ROUNDS" \
    -v reps="$REPEATS" -v n="$(grep '^shape' "$TMP/cpu.0" | sed 's/.*N=\([0-9]*\).*/\1/')" \
    -v d="$(grep '^shape' "$TMP/cpu.0" | sed 's/.*d=\([0-9]*\).*/\1/')" 'BEGIN {
    flops = 4.0 * b * n * d
    printf "medians over %d rounds of %d repeats\n", rounds, reps
    printf "cpu denoiser:   %8.1f ms  %6.1f GFLOP/s (4BNd)  %5.1f%% of the SGEMM rate\n",
        cpu, flops / cpu * 1e-6, 100 * sgemm * 2 / cpu
    printf "numpy:          %8.1f ms  %6.1f GFLOP/s\n", numpy, flops / numpy * 1e-6
    printf "single SGEMM:   %8.1f ms  %6.1f GFLOP/s (B x N x d, the roofline)\n",
        sgemm, flops / 2 / sgemm * 1e-6
    printf "ratio cpu / numpy: %.3f (goal <= 1.0)\n", cpu / numpy
}'
