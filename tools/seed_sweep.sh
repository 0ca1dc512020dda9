#!/bin/sh
# Runs every randomised ctest test (those that read DIFFSAMP_TEST_SEED: testutil prints
# "test seed:" when a test draws one) over N seeds, each test run under a fixed time
# budget, and reports every (seed, test) that failed, with its output kept for replay.
#
#   tools/seed_sweep.sh [--build DIR] [--seeds N] [--first S] [--jobs J] [--timeout SEC]
#                       [--tests REGEX] [--exclude REGEX] [--env NAME=VALUE]
#
# --build    the ctest build folder (default build)
# --seeds    how many seeds (default 200): S, S + 1, ..., S + N - 1
# --first    the first seed S (default: from the clock, printed, so a sweep can be redone)
# --jobs     tests run at once (default: the number of cores)
# --timeout  seconds each test run may take before it counts as failed (default 600)
# --tests    only the randomised tests whose names match (ctest -R); --exclude drops
#            those matching (ctest -E); without --tests every randomised test runs
# --env      NAME=VALUE set for every run (e.g. DIFFSAMP_TEST_FILTER=test_fashion*)
# Exit status 0 when every run passed, 1 when some failed, 2 on bad usage.
set -eu

build=build seeds=200 first= jobs=$(nproc 2>/dev/null || echo 2) timeout=600 tests= exclude=
die() {
    echo "seed_sweep.sh: $*" >&2
    exit 2
}
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || die "$1 needs a value (see the usage at the top of tools/seed_sweep.sh)"
    case $1 in
    --build) build=$2 ;;
    --seeds) seeds=$2 ;;
    --first) first=$2 ;;
    --jobs) jobs=$2 ;;
    --timeout) timeout=$2 ;;
    --tests) tests=$2 ;;
    --exclude) exclude=$2 ;;
    --env) case $2 in *=*) export "${2?}" ;; *) die "--env $2: expected NAME=VALUE" ;; esac ;;
    *) die "unknown option $1 (expected --build, --seeds, --first, --jobs, --timeout, --tests, --exclude, --env)" ;;
    esac
    shift 2
done
for v in "$seeds" "$jobs" "$timeout"; do
    case $v in '' | *[!0-9]*) die "'$v': expected a positive whole number" ;; esac
done
[ -f "$build/CTestTestfile.cmake" ] || die "$build: not a ctest build folder (build first)"
[ -n "$first" ] || first=$(date +%s)
case $first in *[!0-9]*) die "--first $first: expected a whole number" ;; esac

out=$build/seed_sweep
rm -rf "$out"
mkdir -p "$out"
select_args() {
    [ -z "$1" ] || printf '%s\n' -R "$1"
    [ -z "$exclude" ] || printf '%s\n' -E "$exclude"
}

# Which tests are randomised: run the selection once (seed = first) and keep those that
# printed a seed. ctest -V prefixes each line of a test's output with its number.
# shellcheck disable=SC2046
DIFFSAMP_TEST_SEED=$first ctest --test-dir "$build" -V -j "$jobs" --timeout "$timeout" \
    $(select_args "$tests") >"$out/discovery.txt" 2>&1 || true
ctest --test-dir "$build" -N $(select_args "$tests") |
    sed -n 's/^ *Test *#\([0-9]*\): \(.*\)$/\1 \2/p' >"$out/all.txt"
grep -o '^[0-9]*: test seed:' "$out/discovery.txt" | cut -d: -f1 | sort -un >"$out/numbers.txt"
names=$(awk 'NR == FNR { seeded[$1] = 1; next } seeded[$1] { print $2 }' "$out/numbers.txt" \
    "$out/all.txt")
[ -n "$names" ] || die "no test in $build printed a seed (nothing randomised selected)"
regex="^($(echo "$names" | paste -sd'|' -))\$"
count=$(echo "$names" | wc -l)
echo "seed_sweep: $count randomised tests, seeds $first .. $((first + seeds - 1)), $jobs at once, $timeout s each:"
echo "$names" | paste -sd' ' -

failed=0 runs=0 start=$(date +%s)
i=0
while [ "$i" -lt "$seeds" ]; do
    seed=$((first + i))
    log=$out/seed-$seed.txt
    if DIFFSAMP_TEST_SEED=$seed ctest --test-dir "$build" -R "$regex" -j "$jobs" \
        --timeout "$timeout" --output-on-failure >"$log" 2>&1; then
        rm -f "$log"
    else
        bad=$(sed -n 's/^[[:space:]]*[0-9]* - \(.*\) (\(Failed\|Timeout\|.*\))$/\1/p' "$log" |
            paste -sd' ' -)
        echo "seed $seed: FAILED: ${bad:-see $log} (output in $log)"
        failed=$((failed + $(echo "${bad:-x}" | wc -w)))
    fi
    runs=$((runs + count))
    i=$((i + 1))
done
echo "seed_sweep: $seeds seeds x $count tests = $runs runs in $(($(date +%s) - start)) s: $failed failed"
[ "$failed" -eq 0 ]
