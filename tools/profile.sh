#!/bin/bash
# Profiles a representative cuda run with Nsight Systems (a timeline with the NVTX
# ranges denoise, lincomb, gaussian_flow (teleport), randn, upload, download), where
# nsys is installed, and Nsight Compute (the first 12 kernel launches, full metric set:
# randn, lincomb, then one whole denoiser evaluation), with the GPU's clocks left as
# they are (--clock-control none). The default run is `bench_cuda_denoise --profile`:
# Heun, 18 steps (35 NFE), 4,096 CIFAR-10-size samples against 50,000 training rows,
# built first if needed (by tools/bench_gpu.sh --build-only). Any arguments replace it,
# e.g. tools/profile.sh build-gpu/diffsamp sample --backend cuda ...
#
# Reports are written to BUILD/profile (BUILD defaults to build-gpu), and copied to $OUT
# when it is set and they are under 16 MiB, the most the device tool brings back (gzipped
# when only that fits):
# diffsamp.ncu-rep and ncu-details.txt (its details page as text), diffsamp.nsys-rep and
# nsys-summary.txt (NVTX ranges and kernels). The whole script keeps inside
# PROFILE_LIMIT_S seconds (default 500). Exit status 0 when every profiler that ran
# succeeded.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=tools/gpu_common.sh
. tools/gpu_common.sh
BUILD=${BUILD:-build-gpu}
WORK=$BUILD/profile
DEST=${OUT:-$WORK}
LIMIT=${PROFILE_LIMIT_S:-500}
MAX_FILE=$((16 << 20))
start=$(date +%s)
status=0
mkdir -p "$WORK" "$DEST" || exit 1

# Seconds left of the limit.
left() {
    echo $((LIMIT - ($(date +%s) - start)))
}

# bounded SECONDS COMMAND...: in this process group (--foreground), so that a limit
# around this whole script reaches the profiler and its target too.
bounded() {
    local s=$1
    shift
    if ((s < 1)); then # timeout 0 would mean no limit at all
        echo "profile: no time left for $1" >&2
        return 124
    fi
    timeout --foreground -k 10 "$s" "$@"
}

# Copies a report to $DEST when that is another folder and the report can come back.
deliver() {
    [ "$WORK" -ef "$DEST" ] && return 0
    local size
    size=$(stat -c %s "$1") || return 1
    if ((size <= MAX_FILE)); then
        cp "$1" "$DEST/"
    elif gzip -c "$1" >"$1.gz" && (($(stat -c %s "$1.gz") <= MAX_FILE)); then
        cp "$1.gz" "$DEST/"
    else
        echo "profile: $1 is $size bytes, over 16 MiB even compressed: left in $WORK"
    fi
}

# Libraries that tools/bench_gpu.sh unpacked from build-deps/ (when the image lacks them).
use_deps_libs() {
    local lib
    lib=$(realpath -m "$BUILD")/deps/usr/lib/x86_64-linux-gnu
    [ -d "$lib" ] && [[ ":${LD_LIBRARY_PATH-}:" != *":$lib:"* ]] &&
        export LD_LIBRARY_PATH=$lib:$lib/openblas-pthread${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    return 0
}

use_deps_libs
NVCC=$(find_tool nvcc /usr/local/cuda/bin/nvcc) && export PATH=$PATH:${NVCC%/*}
if [ $# -eq 0 ]; then
    if [ -f "$BUILD/CMakeCache.txt" ]; then
        bounded "$(left)" cmake --build "$BUILD" -j "$(nproc)" --target bench_cuda_denoise
    else
        bash tools/bench_gpu.sh --build-only "$BUILD"
    fi >"$WORK/build.txt" 2>&1 || {
        echo "profile: building $BUILD/bench_cuda_denoise failed: see $WORK/build.txt" >&2
        tail -n 20 "$WORK/build.txt" >&2
        exit 1
    }
    use_deps_libs
    set -- "$BUILD/bench_cuda_denoise" --profile
fi

# Nsight Systems is often missing from a GPU image (the lent one has ncu but no nsys on
# the PATH; the nsys inside Nsight Compute's folder cannot write reports): say so and go
# on with Nsight Compute. At most a third of the time left.
NSYS=$(find_tool nsys /usr/local/cuda/bin/nsys /opt/nvidia/nsight-systems/*/bin/nsys)
if [ -z "$NSYS" ]; then
    echo "profile: no nsys on the PATH or in /opt/nvidia/nsight-systems: no timeline" >&2
elif bounded $(($(left) / 3)) "$NSYS" profile --trace=cuda,nvtx,cublas --force-overwrite=true \
    -o "$WORK/diffsamp" "$@"; then
    rm -f "$WORK/diffsamp.sqlite"
    if bounded 60 "$NSYS" stats --report nvtx_sum,cuda_gpu_kern_sum "$WORK/diffsamp.nsys-rep" \
        >"$WORK/nsys-summary.txt"; then
        deliver "$WORK/nsys-summary.txt"
    else
        echo "profile: nsys stats failed: open the report in nsys-ui instead" >&2
    fi
    deliver "$WORK/diffsamp.nsys-rep"
    echo "Nsight Systems timeline: $WORK/diffsamp.nsys-rep (open with nsys-ui)"
else
    echo "profile: nsys failed or ran out of time" >&2
    status=1
fi

NCU=$(find_tool ncu /usr/local/cuda/bin/ncu /usr/local/cuda/nsight-compute-*/ncu \
    /opt/nvidia/nsight-compute/*/ncu)
if [ -z "$NCU" ]; then
    echo "profile: no ncu on the PATH, in /usr/local/cuda/bin or /opt/nvidia/nsight-compute" >&2
    exit 1
fi
if (($(left) < 30)); then
    echo "profile: under 30 s of the $LIMIT s limit left: no Nsight Compute run" >&2
    exit 1
fi
if bounded $(($(left) - 15)) "$NCU" --set full --clock-control none --launch-count 12 \
    --force-overwrite -o "$WORK/diffsamp" "$@"; then
    bounded 15 "$NCU" --import "$WORK/diffsamp.ncu-rep" --page details >"$WORK/ncu-details.txt" &&
        deliver "$WORK/ncu-details.txt"
    deliver "$WORK/diffsamp.ncu-rep"
    echo "Nsight Compute report: $WORK/diffsamp.ncu-rep (open with ncu-ui, or ncu --import" \
        "$WORK/diffsamp.ncu-rep --page details); as text: $WORK/ncu-details.txt"
else
    echo "profile: ncu failed or ran out of time" >&2
    status=1
fi
[ "$WORK" -ef "$DEST" ] || echo "profile: copies in $DEST"
exit $status
