#!/bin/bash
# On a machine with an NVIDIA GPU: builds diffsamp with CUDA, runs the whole test suite
# (the GPU tests run instead of skipping), runs compute-sanitizer memcheck over the GPU
# test binary, then times the empirical denoiser against cuBLAS SGEMM and PyTorch plus
# a full Heun run (bench_cuda_denoise). Every stage runs even if an earlier one fails;
# the exit status is non-zero if any failed. Logs go to $OUT (default build-gpu/bench-out):
# device.txt, build.txt, ctest.txt, test_cuda_backend.txt, memcheck.txt, torch.tsv,
# bench.md (the table for bench/RESULTS.md).
# Usage: tools/bench_gpu.sh [build-dir]
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-gpu}
OUT=${OUT:-$BUILD/bench-out}
mkdir -p "$OUT"
status=0
stage() { # name, log file under $OUT, command...
    local name=$1 log=$2
    shift 2
    echo "== $name"
    if ! "$@" 2>&1 | tee "$OUT/$log"; then
        echo "== $name FAILED" >&2
        status=1
    fi
}

stage device device.txt nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
stage configure configure.txt cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release
stage build build.txt cmake --build "$BUILD" -j "$(nproc)"
stage tests ctest.txt ctest --test-dir "$BUILD" --output-on-failure
stage gpu-tests test_cuda_backend.txt "$BUILD/test_cuda_backend"
stage memcheck memcheck.txt compute-sanitizer --tool memcheck --error-exitcode 1 "$BUILD/test_cuda_backend"
stage pytorch torch.tsv python3 tools/bench_torch.py
stage benchmark bench.md "$BUILD/bench_cuda_denoise" --torch "$OUT/torch.tsv"
echo "logs in $OUT; exit status $status"
exit $status
