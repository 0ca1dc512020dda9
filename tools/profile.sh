#!/bin/bash
# Profiles a representative cuda run with Nsight Systems (a timeline with the NVTX
# ranges denoise, lincomb, gaussian_flow (teleport), randn, upload, download) and
# Nsight Compute (the first 12 kernel launches, full metric set: randn, lincomb, then
# one whole denoiser evaluation). The default run is `bench_cuda_denoise --profile`: Heun,
# 18 steps (35 NFE), 4,096 CIFAR-10-size samples against 50,000 training rows. Any
# arguments replace it, e.g. tools/profile.sh build-gpu/diffsamp sample --backend cuda ...
# Reports go to $OUT (default build-gpu/profile).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-gpu}
OUT=${OUT:-$BUILD/profile}
mkdir -p "$OUT"
if [ $# -eq 0 ]; then
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j "$(nproc)" --target bench_cuda_denoise >/dev/null
    set -- "$BUILD/bench_cuda_denoise" --profile
fi
nsys profile --trace=cuda,nvtx,cublas --force-overwrite=true -o "$OUT/diffsamp" "$@"
nsys stats --report nvtx_sum,cuda_gpu_kern_sum "$OUT/diffsamp.nsys-rep" >"$OUT/nsys-summary.txt" ||
    echo "nsys stats failed: open the report in nsys-ui instead" >&2
ncu --set full --launch-count 12 --force-overwrite -o "$OUT/diffsamp" "$@"
echo "Nsight Systems timeline: $OUT/diffsamp.nsys-rep (open with nsys-ui; summary in $OUT/nsys-summary.txt)"
echo "Nsight Compute report:   $OUT/diffsamp.ncu-rep (open with ncu-ui, or ncu --import ... --page details)"
