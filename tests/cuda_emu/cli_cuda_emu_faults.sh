#!/bin/sh
# A device that faults part-way through a run (the emulator's DIFFSAMP_EMU_FAIL_AT: the
# K-th device operation and every later one fail, a sticky fault as after a kernel
# fault on a real GPU). For K at the start, at the end and at random points of a sample
# run of the empirical model (bind, landing, the query batches, teardown) and of a
# pca_locality run, diffsamp must either
#   - exit 1 with one "diffsamp: " error line that passes the device's error on (plus
#     only teardown warnings), no samples.npy, and a --resume without the fault that finishes
#     with the fault-free samples, byte for byte; or
#   - exit 0 with the fault-free samples, byte for byte (the fault hit a release after
#     the outputs were written), and only teardown warnings on stderr.
# Never a crash, another exit status or different output. This tests that every CUDA
# call's status is checked and passed on; it is not a GPU result.
. "$(dirname "$0")/../shell_common.sh"
require_numpy
EMU=${DIFFSAMP_EMU_BIN:?DIFFSAMP_EMU_BIN: the diffsamp built with the CUDA emulator}

$PY -c "import os, sys, numpy as np; np.save(sys.argv[1], np.random.default_rng([int(os.environ['DIFFSAMP_TEST_SEED']), 1]).uniform(-1, 1, (120, 1, 6, 6)).astype(np.float32))" "$T/data.npy"
"$BIN" prepare --model empirical --data "$T/data.npy" --out "$T/empirical" >/dev/null || fail "prepare empirical"
"$BIN" prepare --model pca_locality --data "$T/data.npy" --out "$T/pca_locality" >/dev/null ||
    fail "prepare pca_locality"

# The lines of $1 that are not teardown warnings.
errors_of() {
    grep -v '^diffsamp: warning: .*(while releasing device resources)$' "$1" || true
}

# One configuration: the fault-free run, its operation count, then faults at K.
check_faults() {
    name=$1; shift
    args="sample $* --backend cuda --n 9 --batch 4 --seed 3 --quiet"
    # shellcheck disable=SC2086
    DIFFSAMP_EMU_FAIL_AT=count "$EMU" $args --out "$T/$name.ref" >/dev/null 2>"$T/count" ||
        fail "$name without a fault: $(cat "$T/count")"
    n=$(sed -n 's/^cuda emulator: \([0-9]*\) device operations$/\1/p' "$T/count")
    [ -n "$n" ] && [ "$n" -gt 10 ] || fail "$name: no operation count: $(cat "$T/count")"
    # K: the first three, the last three and 14 drawn from the seed.
    ks=$($PY -c "import os, sys, numpy as np; n = int(sys.argv[1]); r = np.random.default_rng([int(os.environ['DIFFSAMP_TEST_SEED']), 2]); print(' '.join(map(str, sorted(set([1, 2, 3, n - 2, n - 1, n] + list(r.integers(1, n + 1, 14)))))))" "$n")
    failed=0 finished=0
    for k in $ks; do
        out="$T/$name.$k"
        # shellcheck disable=SC2086
        DIFFSAMP_EMU_FAIL_AT=$k "$EMU" $args --out "$out" >/dev/null 2>"$T/err"
        rc=$?
        errors_of "$T/err" >"$T/errors"
        case $rc in
        0)
            [ -s "$T/errors" ] && fail "$name K=$k: exit 0 with errors: $(cat "$T/errors")"
            cmp -s "$out/samples.npy" "$T/$name.ref/samples.npy" ||
                fail "$name K=$k: exit 0 with samples that differ from the fault-free run"
            finished=$((finished + 1))
            ;;
        1)
            [ "$(wc -l <"$T/errors")" -eq 1 ] ||
                fail "$name K=$k: expected one error line, got: $(cat "$T/err")"
            grep -Eq '^diffsamp: .*(unspecified launch failure|CUBLAS_STATUS_EXECUTION_FAILED)' \
                "$T/errors" || fail "$name K=$k: the error does not pass the device's on: $(cat "$T/errors")"
            [ -e "$out/samples.npy" ] && fail "$name K=$k: samples.npy written by a failed run"
            # shellcheck disable=SC2086
            if [ -d "$out" ]; then
                "$EMU" $args --out "$out" --resume >/dev/null 2>"$T/err" ||
                    fail "$name K=$k: --resume after the fault: $(cat "$T/err")"
                cmp -s "$out/samples.npy" "$T/$name.ref/samples.npy" ||
                    fail "$name K=$k: the resumed run's samples differ from the fault-free run"
            fi
            failed=$((failed + 1))
            ;;
        *) fail "$name K=$k: exit status $rc (expected 0 or 1): $(cat "$T/err")" ;;
        esac
    done
    echo "$name: $n device operations; faults at K = $ks: $failed runs refused, $finished finished"
    [ "$failed" -gt 0 ] || fail "$name: no fault made the run fail"
}

check_faults empirical --model-dir "$T/empirical" --sampler heun --steps 4
check_faults pca_locality --model-dir "$T/pca_locality" --sampler euler --steps 3
echo "cli_cuda_emu_faults: ok"
