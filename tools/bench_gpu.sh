#!/bin/bash
# On a machine with an NVIDIA GPU: builds diffsamp with CUDA, runs the GPU tests, times
# the empirical denoiser against cuBLAS SGEMM and PyTorch plus a full Heun run
# (bench_cuda_denoise), runs compute-sanitizer memcheck over the GPU tests and racecheck
# and synccheck over the fused-kernel test, then the rest of the test suite. Every stage
# runs even if an earlier one fails; the exit status is non-zero if any failed or was
# skipped. The whole script keeps inside BENCH_BUDGET_S
# seconds (default 570: one 10-minute device command); a stage that would overrun is
# stopped and reported. Logs go to $OUT (default build-gpu/bench-out): device.txt,
# configure.txt, build.txt, test_cuda_backend.txt, torch.tsv, bench.md (the table for
# bench/RESULTS.md), memcheck.txt, racecheck.txt, synccheck.txt, ctest.txt.
#
# Libraries: the GPU image has CUDA, CMake and PyTorch but may lack libpng, OpenBLAS,
# LAPACKE and cmocka, and cannot download. When the plain configure fails and
# build-deps/ holds the Debian packages from tools/gpu_deps.sh (run it where apt works
# and carry the folder), they are unpacked into the build folder and used. Without
# cmocka the tests are not built and their stages say so; without the others nothing
# can be built and only the PyTorch baseline runs.
# Usage: tools/bench_gpu.sh [build-dir]
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BUILD=${1:-build-gpu}
OUT=${OUT:-$BUILD/bench-out}
DEPS=${DEPS:-build-deps}
BUDGET=${BENCH_BUDGET_S:-570}
mkdir -p "$OUT"
start=$(date +%s)
status=0

fail() {
    echo "== $1" >&2
    status=1
}

# stage NAME LOG MAX_SECONDS COMMAND...: runs COMMAND with its output in $OUT/LOG, for
# at most MAX_SECONDS and never past the budget. Returns the command's status.
stage() {
    local name=$1 log=$2 max=$3
    shift 3
    local left=$((BUDGET - ($(date +%s) - start)))
    ((left < max)) && max=$left
    if ((max < 10)); then
        fail "$name SKIPPED: the ${BUDGET} s budget is spent"
        return 1
    fi
    echo "== $name (at most $max s)"
    timeout "$max" "$@" 2>&1 | tee "$OUT/$log"
    local rc=${PIPESTATUS[0]}
    ((rc == 124)) && fail "$name STOPPED after $max s"
    ((rc != 0 && rc != 124)) && fail "$name FAILED (status $rc)"
    return "$rc"
}

# Unpacks build-deps/*.deb into $BUILD/deps, points LD_LIBRARY_PATH at them and sets
# DEP_OPTS, the cmake options that find them.
use_deb_deps() {
    local root=$PWD/$BUILD/deps
    local lib=$root/usr/lib/x86_64-linux-gnu
    mkdir -p "$root" || return 1
    for f in "$DEPS"/*.deb; do dpkg -x "$f" "$root" || return 1; done
    # zlib1g-dev's libz.so points at the packager's libz.so.1.x: use this system's.
    if [ -L "$lib/libz.so" ] && [ ! -e "$lib/libz.so" ]; then
        ln -sf "$(ldconfig -p | awk '/libz\.so\.1 .*x86-64/ {print $NF; exit}')" "$lib/libz.so"
    fi
    export LD_LIBRARY_PATH=$lib:$lib/openblas-pthread${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    DEP_OPTS=("-DCMAKE_PREFIX_PATH=$root/usr"
        "-DCMAKE_INCLUDE_PATH=$root/usr/include/x86_64-linux-gnu/openblas-pthread"
        "-DCMAKE_LIBRARY_PATH=$lib/openblas-pthread")
}

# Returns 0 when configured with tests, 2 when configured without them, 1 on failure.
configure() {
    local opts=(-S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release)
    cmake "${opts[@]}" && return 0
    if compgen -G "$DEPS/*.deb" >/dev/null; then
        echo "configure: retrying with the Debian packages in $DEPS"
        use_deb_deps || return 1
        opts+=("${DEP_OPTS[@]}")
        cmake "${opts[@]}" && return 0
    else
        echo "configure: no $DEPS/*.deb (run tools/gpu_deps.sh where apt works, carry $DEPS)"
    fi
    echo "configure: retrying without the tests (cmocka missing?)"
    cmake "${opts[@]}" -DDIFFSAMP_TESTS=OFF && return 2
    return 1
}

stage device device.txt 30 nvidia-smi --query-gpu=name,driver_version,memory.total \
    --format=csv,noheader
# configure runs here, not in a subshell, so that LD_LIBRARY_PATH reaches later stages.
echo "== configure"
configure >"$OUT/configure.txt" 2>&1
configured=$?
tail -n 5 "$OUT/configure.txt"
((configured == 1)) && fail "configure FAILED: see $OUT/configure.txt (libraries missing?)"
((configured == 2)) && fail "configure: cmocka missing, building without tests; test stages skipped"
tests=0
if ((configured != 1)); then
    stage build build.txt 300 cmake --build "$BUILD" -j "$(nproc)" && built=1 || built=0
    ((configured == 0 && built)) && tests=1
else
    built=0
fi
if ((tests)); then
    stage gpu-tests test_cuda_backend.txt 120 "$BUILD/test_cuda_backend"
fi
stage pytorch torch.tsv 90 python3 tools/bench_torch.py
if ((built)); then
    stage benchmark bench.md 240 "$BUILD/bench_cuda_denoise" --torch "$OUT/torch.tsv"
fi
if ((tests)); then
    stage memcheck memcheck.txt 150 compute-sanitizer --tool memcheck --error-exitcode 1 \
        "$BUILD/test_cuda_backend"
    # Shared-memory hazards and barriers in divergent code, on the kernels that use them
    # (the fused path times the GEMM path at bind too).
    for tool in racecheck synccheck; do
        stage "$tool" "$tool.txt" 60 env DIFFSAMP_TEST_FILTER=test_empirical_fused_path \
            compute-sanitizer --tool "$tool" --error-exitcode 1 "$BUILD/test_cuda_backend"
    done
    stage tests ctest.txt 120 ctest --test-dir "$BUILD" --output-on-failure -E test_cuda_backend
fi
echo "logs in $OUT; $(($(date +%s) - start)) s; exit status $status"
exit $status
