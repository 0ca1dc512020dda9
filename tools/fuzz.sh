#!/bin/sh
# Builds the libFuzzer targets (tests/fuzz) with clang, ASan and UBSan in build-fuzz/ and
# runs each for SECONDS (default 20), or for N executions (--runs N), from its committed
# seed corpus, then prints one
# line per target: executions, executions per second, coverage (edges), features,
# corpus size and the result. A finding (crash, leak, property violated, timeout, out
# of memory) fails the script; its input is kept in build-fuzz/findings/.
#   tools/fuzz.sh                 # CI: every target, 20 s each
#   tools/fuzz.sh 3600 fuzz_png   # long run of one target (corpus kept in build-fuzz)
#   tools/fuzz.sh --runs 1000000  # every target until 1M executions (no time limit)
# Reproduce a finding: build-fuzz/fuzz_png build-fuzz/findings/fuzz_png-crash-...
set -eu
cd "$(dirname "$0")/.."
max_runs=-1
if [ "${1:-}" = --runs ]; then
    max_runs=${2:?--runs needs a count}
    shift 2
    seconds=0
else
    seconds=${1:-20}
    [ $# -gt 0 ] && shift
fi
build=build-fuzz
mkdir -p "$build"
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDIFFSAMP_CUDA=OFF \
    -DDIFFSAMP_CUDA_EMU=OFF -DDIFFSAMP_TESTS=OFF -DDIFFSAMP_FUZZ=ON >"$build/configure.log" 2>&1 ||
    { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j2 --target fuzz >"$build/build.log" 2>&1 || { tail -40 "$build/build.log"; exit 1; }
targets=${*:-$(cd tests/fuzz/corpus && ls)}
mkdir -p "$build/findings"
# The targets write their inputs as files: in memory when /dev/shm is there.
[ -d /dev/shm ] && [ -w /dev/shm ] && export TMPDIR=/dev/shm
failed=0
printf '%-16s %12s %9s %7s %7s %7s  %s\n' target executions exec/s cov ft corpus result
for t in $targets; do
    work="$build/corpus/$t" # grows here; the committed seeds stay as they are
    mkdir -p "$work"
    log="$build/$t.log"
    rc=0
    # -close_fd_mask=1: the targets' stdout (--help text) is not wanted.
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 "$build/$t" -max_total_time="$seconds" -runs="$max_runs" -timeout=10 \
        -rss_limit_mb=2048 -malloc_limit_mb=2048 -close_fd_mask=1 -print_final_stats=1 \
        -artifact_prefix="$build/findings/$t-" "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    size=$(ls "$work" | wc -l)
    result=ok
    if [ "$rc" -ne 0 ]; then
        result="FINDING (rc $rc): $(grep -m1 -E 'ERROR|property violated|SUMMARY' "$log" || true)"
        failed=1
    fi
    printf '%-16s %12s %9s %7s %7s %7s  %s\n' "$t" "${runs:-?}" "${speed:-?}" "${cov:-?}" \
        "${ft:-?}" "$size" "$result"
done
[ "$failed" -eq 0 ] || { echo "fuzz: findings above; logs in $build/<target>.log"; exit 1; }
