#!/bin/bash
# On a machine with an NVIDIA GPU (the device tool's H100 / H200): builds diffsamp with
# CUDA, runs the GPU tests, times the empirical denoiser against cuBLAS SGEMM and
# PyTorch plus a full Heun run (bench_cuda_denoise), certified landing and pruning
# against the dense run (bench_landing --backend cuda), runs compute-sanitizer (memcheck
# over the GPU tests, racecheck and synccheck over the fused-kernel test), profiles a
# Heun run with Nsight Compute (tools/profile.sh), then runs the rest of the test suite.
#
# Every stage runs even if an earlier one failed (those that need the build skip without
# it). Each stage has a time limit, and the whole script keeps inside BENCH_BUDGET_S
# seconds (default 570, for one 10-minute device command): a stage that would overrun
# is stopped or skipped, and says so. The exit status is 0 only if every stage passed.
#
# Output, in $OUT (default BUILD/bench-out; the device tool brings back at most 8 files
# of 16 MiB from its $OUT, so there are at most 7 here and no need to tee stdout):
#   summary.txt  one line per stage: ok, FAILED, STOPPED or SKIPPED, with seconds
#   bench.md     bench_cuda_denoise's output: the accuracy checks and tables for
#                bench/RESULTS.md
#   log.txt      every stage's output (each cut at 1.2 MB, so under 16 MiB in all; full
#                logs in BUILD/logs)
#   diffsamp.ncu-rep, ncu-details.txt (and diffsamp.nsys-rep, nsys-summary.txt where
#                nsys is installed): the profiles, see tools/profile.sh
# Stdout has one line per stage, the end of each failed stage's output, and last the
# summary and the benchmark tables.
#
# Libraries: the GPU image has CUDA, CMake and PyTorch but may lack libpng, OpenBLAS,
# LAPACKE and cmocka, and cannot download. When the plain configure fails and
# build-deps/ holds the Debian packages from tools/gpu_deps.sh (run it where apt works
# and carry the folder), they are unpacked into BUILD/deps and used. Without cmocka the
# tests are not built and their stages say so.
#
# Usage: tools/bench_gpu.sh [--build-only] [BUILD]   (BUILD defaults to build-gpu)
#   --build-only: configure and build, nothing else (tools/profile.sh uses it).
#   BENCH_PROFILE=0 leaves out the profile stage.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=tools/gpu_common.sh
. tools/gpu_common.sh
build_only=0
if [ "${1-}" = --build-only ]; then
    build_only=1
    shift
fi
BUILD=${1:-build-gpu}
OUT=${OUT:-$BUILD/bench-out}
DEPS=${DEPS:-build-deps}
BUDGET=${BENCH_BUDGET_S:-570}
LOGS=$BUILD/logs
LOG=$OUT/log.txt
SUMMARY=$OUT/summary.txt
ORIG_LD_LIBRARY_PATH=${LD_LIBRARY_PATH-}
mkdir -p "$OUT" "$LOGS" || exit 1
: >"$LOG"
: >"$SUMMARY"
start=$(date +%s)
status=0

# record NAME RESULT: one summary line; anything but "ok ..." makes the exit status 1.
record() {
    [[ $2 == ok* ]] || status=1
    printf '%-10s %s\n' "$1" "$2" | tee -a "$SUMMARY"
}

# Copies its input through up to $1 bytes (whole lines, flushed as they come), then
# drops the rest, reading on so that the writer never sees a broken pipe.
cap_bytes() {
    awk -v max="$1" 'n <= max { n += length($0) + 1; print; fflush(); next }
        !cut { print "[... cut at " max " bytes: the full log is in the build folder]"; cut = 1 }'
}

# stage NAME LOGFILE MAX_SECONDS COMMAND...: runs COMMAND for at most MAX_SECONDS and
# never past the budget, its output in LOGFILE and appended to log.txt; records the
# result, a failure when the output has the text in $fail_if (if set). Returns the
# command's status.
stage() {
    local name=$1 file=$2 max=$3
    shift 3
    local t0 left rc secs
    t0=$(date +%s)
    left=$((BUDGET - (t0 - start)))
    ((left < max)) && max=$left
    if ((max < 10)); then
        record "$name" "SKIPPED: the $BUDGET s budget is spent"
        return 1
    fi
    echo "== $name (at most $max s)"
    printf '\n===== %s (at most %s s): %s\n' "$name" "$max" "$*" >>"$LOG"
    # timeout signals the command's whole process group (the tests under ctest and
    # compute-sanitizer included); -k: KILL 10 s after TERM if it is still there.
    timeout -k 10 "$max" "$@" 2>&1 | tee "$file" | cap_bytes 1200000 >>"$LOG"
    rc=${PIPESTATUS[0]}
    secs=$(($(date +%s) - t0))
    if ((rc == 0)) && [ -n "${fail_if-}" ] && grep -q "$fail_if" "$file"; then
        record "$name" "FAILED: the output says '$fail_if'"
        rc=1
    elif ((rc == 0)); then
        record "$name" "ok ($secs s)"
    else
        if ((rc == 124 || rc == 137)); then
            record "$name" "STOPPED at its limit of $max s"
        else
            record "$name" "FAILED (status $rc, $secs s)"
        fi
        tail -n 25 "$file" | sed 's/^/    /'
    fi
    return "$rc"
}

# skip NAME WHY: a stage that cannot run.
skip() {
    record "$1" "SKIPPED: $2"
}

# Unpacks a .deb into a folder: dpkg -x, or ar and tar where there is no dpkg.
unpack_deb() {
    if command -v dpkg >/dev/null; then
        dpkg -x "$1" "$2"
        return
    fi
    local member
    member=$(ar t "$1" | grep '^data\.tar') || return 1
    case $member in
    *.xz) ar p "$1" "$member" | xz -dc | tar -x -C "$2" ;;
    *.gz) ar p "$1" "$member" | gzip -dc | tar -x -C "$2" ;;
    *.zst) ar p "$1" "$member" | zstd -dc | tar -x -C "$2" ;;
    *) ar p "$1" "$member" | tar -x -C "$2" ;;
    esac
}

# Unpacks $DEPS/*.deb into BUILD/deps, points LD_LIBRARY_PATH at them (the build links
# against them and every diffsamp program loads them) and sets DEP_OPTS, the cmake
# options that find them.
use_deb_deps() {
    local root f
    root=$(realpath -m "$BUILD")/deps
    local lib=$root/usr/lib/x86_64-linux-gnu
    mkdir -p "$root" || return 1
    for f in "$DEPS"/*.deb; do unpack_deb "$f" "$root" || return 1; done
    # zlib1g-dev's libz.so points at the packager's libz.so.1.x: use this system's.
    if [ -L "$lib/libz.so" ] && [ ! -e "$lib/libz.so" ]; then
        ln -sf "$(ldconfig -p | awk '/libz\.so\.1 .*x86-64/ {print $NF; exit}')" "$lib/libz.so"
    fi
    export LD_LIBRARY_PATH=$lib:$lib/openblas-pthread${ORIG_LD_LIBRARY_PATH:+:$ORIG_LD_LIBRARY_PATH}
    local blas_include=$root/usr/include/x86_64-linux-gnu/openblas-pthread
    DEP_OPTS=("-DCMAKE_PREFIX_PATH=$root/usr" "-DCMAKE_INCLUDE_PATH=$blas_include"
        "-DCMAKE_LIBRARY_PATH=$lib/openblas-pthread")
}

# CUDA forced on with this nvcc, so that a configure that misses the compiler fails
# instead of quietly building for the CPU alone; no CPU emulation of the cuda backend
# (its tests run on the GPU here).
cmake_configure() {
    timeout -k 10 120 cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DDIFFSAMP_CUDA=ON \
        -DCMAKE_CUDA_COMPILER="$NVCC" -DDIFFSAMP_CUDA_EMU=OFF "$@"
}

# Returns 0 when configured with tests, 2 when configured without them, 1 on failure.
configure() {
    DEP_OPTS=()
    # A build folder configured with the packages before needs their library path again.
    if [ -d "$BUILD/deps" ] && compgen -G "$DEPS/*.deb" >/dev/null; then
        use_deb_deps || return 1
    fi
    cmake_configure "${DEP_OPTS[@]}" -DDIFFSAMP_TESTS=ON && return 0
    if ((${#DEP_OPTS[@]} == 0)); then
        if compgen -G "$DEPS/*.deb" >/dev/null; then
            echo "configure: retrying with the Debian packages in $DEPS"
            use_deb_deps || return 1
            cmake_configure "${DEP_OPTS[@]}" -DDIFFSAMP_TESTS=ON && return 0
        else
            echo "configure: no $DEPS/*.deb (run tools/gpu_deps.sh where apt works, carry $DEPS)"
        fi
    fi
    echo "configure: retrying without the tests (cmocka missing?)"
    cmake_configure "${DEP_OPTS[@]}" -DDIFFSAMP_TESTS=OFF && return 2
    return 1
}

# ---- build ----
NVCC=$(find_tool nvcc /usr/local/cuda/bin/nvcc)
[ -n "$NVCC" ] && export PATH=$PATH:${NVCC%/*} # compute-sanitizer and ncu live beside it
if ((!build_only)); then
    # Read-only queries: the card's settings stay as they are.
    fields=name,driver_version,memory.total,memory.used,clocks.sm,clocks.max.sm,temperature.gpu
    stage device "$LOGS/device.txt" 30 bash -c "echo \"cores: \$(nproc)\";
        cmake --version | head -n 1; ${NVCC:-nvcc} --version | tail -n 1;
        nvidia-smi --query-gpu=$fields --format=csv"
fi
built=0 tests=0
if [ -z "$NVCC" ]; then
    skip configure "no nvcc on the PATH or in /usr/local/cuda/bin"
else
    t0=$(date +%s)
    echo "== configure"
    # Here, not in a subshell, so that LD_LIBRARY_PATH reaches the later stages.
    configure >"$LOGS/configure.txt" 2>&1
    configured=$?
    { printf '\n===== configure\n' && cat "$LOGS/configure.txt"; } >>"$LOG"
    case $configured in
    0) record configure "ok ($(($(date +%s) - t0)) s)" ;;
    2) record configure "without tests (cmocka missing): the test stages are skipped" ;;
    *)
        record configure "FAILED: libraries missing? see configure in log.txt"
        tail -n 15 "$LOGS/configure.txt" | sed 's/^/    /'
        ;;
    esac
    if ((configured != 1)); then
        stage build "$LOGS/build.txt" 300 cmake --build "$BUILD" -j "$(nproc)" && built=1
        ((configured == 0 && built)) && tests=1
    fi
fi
if ((build_only)); then
    ((built)) || status=1
    exit $status
fi

# ---- GPU tests and benchmarks, most needed first ----
SANITIZER=$(find_tool compute-sanitizer /usr/local/cuda/bin/compute-sanitizer \
    /usr/local/cuda/compute-sanitizer/compute-sanitizer)
# Without a device the GPU tests skip and exit 0: that is a failure here.
no_gpu="skipped: no CUDA device"
gpu_tests_rc=0
if ((tests)); then
    fail_if=$no_gpu stage gpu-tests "$LOGS/gpu-tests.txt" 120 env DIFFSAMP_TEST_BACKEND=cuda \
        DIFFSAMP_SOURCE_DIR="$PWD" "$BUILD/test_backend_ops"
    gpu_tests_rc=$?
else
    skip gpu-tests "no test build"
fi
TORCH_TSV=$BUILD/torch.tsv
rm -f "$TORCH_TSV"
# PyTorch with the image's own library path, not the Debian packages' (their
# libgfortran and BLAS are older than the image's).
stage pytorch "$LOGS/pytorch.txt" 120 env LD_LIBRARY_PATH="$ORIG_LD_LIBRARY_PATH" \
    PYTHONUNBUFFERED=1 python3 tools/bench_torch.py "$TORCH_TSV"
if ((built)); then
    torch_opt=()
    [ -s "$TORCH_TSV" ] && torch_opt=(--torch "$TORCH_TSV")
    stage benchmark "$OUT/bench.md" 240 "$BUILD/bench_cuda_denoise" "${torch_opt[@]}"
else
    skip benchmark "no build"
fi
if ((built)); then
    # Certified landing and pruning on cuda against the dense run (issue 14: --prune is
    # off by default on cuda until this is measured), and the cost model's constant G on
    # the device; appended to bench.md. Fashion-MNIST installed, or from build-deps.
    data=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
    deb=$(ls "$DEPS"/dataset-fashion-mnist_*.deb 2>/dev/null | head -n 1)
    if [ ! -e "$data" ] && [ -n "$deb" ] && mkdir -p "$BUILD/data" &&
        unpack_deb "$deb" "$BUILD/data"; then
        data=$BUILD/data/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
    fi
    data_opt=(--random-d 784)
    [ -e "$data" ] && data_opt=(--data "$data")
    stage landing "$LOGS/landing.txt" 90 bash -c '"$0" --backend cuda "${@}" &&
        "$0" --backend cuda --gather-cost "${@}"' "$BUILD/bench_landing" "${data_opt[@]}"
    { printf '\n## bench_landing --backend cuda %s\n\n```\n' "${data_opt[*]}" &&
        cat "$LOGS/landing.txt" && printf '```\n'; } >>"$OUT/bench.md"
else
    skip landing "no build"
fi
if ((!tests)); then
    for tool in memcheck racecheck synccheck; do skip "$tool" "no test build"; done
elif [ -z "$SANITIZER" ]; then
    for tool in memcheck racecheck synccheck; do skip "$tool" "no compute-sanitizer found"; done
else
    if ((gpu_tests_rc == 124 || gpu_tests_rc == 137)); then
        # The same tests run 3 to 10 times slower under memcheck: leave the time to the rest.
        skip memcheck "the GPU tests alone ran out of time"
    else
        fail_if=$no_gpu stage memcheck "$LOGS/memcheck.txt" 180 env DIFFSAMP_TEST_BACKEND=cuda \
            DIFFSAMP_SOURCE_DIR="$PWD" "$SANITIZER" --tool memcheck --leak-check full \
            --print-limit 50 --error-exitcode 1 "$BUILD/test_backend_ops"
    fi
    # Shared-memory hazards and barriers in divergent code, on the kernels that use them
    # (the cuda rows of test_empirical_denoiser take the fused and the GEMM paths).
    for tool in racecheck synccheck; do
        fail_if=$no_gpu stage "$tool" "$LOGS/$tool.txt" 90 \
            env DIFFSAMP_TEST_BACKEND=cuda DIFFSAMP_TEST_FILTER=test_empirical_denoiser \
            "$SANITIZER" --tool "$tool" --print-limit 50 --error-exitcode 1 \
            "$BUILD/test_backend_ops"
    done
fi
if [ "${BENCH_PROFILE:-1}" = 0 ]; then
    skip profile "BENCH_PROFILE=0"
elif ((built)); then
    # The profiler's own time limits sit inside this stage's, so that nothing outlives it.
    left=$((BUDGET - ($(date +%s) - start)))
    ((left > 150)) && left=150
    stage profile "$LOGS/profile.txt" 150 env BUILD="$BUILD" OUT="$OUT" \
        PROFILE_LIMIT_S=$((left - 15)) bash tools/profile.sh
else
    skip profile "no build"
fi
if ((tests)); then
    # Half the cores: the tests start OpenMP and OpenBLAS threads of their own.
    stage tests "$LOGS/ctest.txt" 150 ctest --test-dir "$BUILD" --output-on-failure \
        -j $((($(nproc) + 1) / 2)) --timeout 120 -E '^test_backend_ops_cuda$'
else
    skip tests "no test build"
fi

echo
echo "== summary: $(($(date +%s) - start)) s of the $BUDGET s budget; exit status $status;" \
    "files in $OUT"
cat "$SUMMARY"
if [ -s "$OUT/bench.md" ]; then
    echo
    cat "$OUT/bench.md"
fi
exit $status
