#!/bin/sh
# Run HERE (a Debian machine with apt), before a GPU run: downloads the Debian packages
# of the libraries diffsamp builds against (libpng, zlib, OpenBLAS, LAPACKE, cmocka)
# and of Fashion-MNIST (the data of bench_gpu.sh's landing stage) into build-deps/
# (git-ignored, about 46 MB). The GPU image has CUDA, CMake and PyTorch
# but may lack them and cannot download; tools/bench_gpu.sh unpacks build-deps/*.deb
# into its build folder when the plain configure fails. Carry the folder to the GPU
# machine: device tool, carry ["build-deps"]. The tool sends the checkout the session
# started in, so run this in that checkout's root.
set -eu
cd "$(dirname "$0")/.."
DEPS=${1:-build-deps}
PACKAGES="libpng-dev libpng16-16 zlib1g-dev libopenblas-dev libopenblas-pthread-dev \
libopenblas0-pthread liblapacke-dev liblapacke libtmglib3 libgfortran5 libquadmath0 \
libcmocka-dev libcmocka0 dataset-fashion-mnist"
mkdir -p "$DEPS"
cd "$DEPS"
# Older versions left here would be unpacked too, over the new ones or under them.
rm -f ./*.deb
# shellcheck disable=SC2086
if ! apt-get download $PACKAGES; then
    echo "gpu_deps: apt-get download failed (no package lists? run apt-get update first)" >&2
    exit 1
fi
echo "gpu_deps: packages in $DEPS ($(du -sh . | cut -f1)):"
ls
