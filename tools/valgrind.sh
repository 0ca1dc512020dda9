#!/bin/sh
# The CLI under valgrind memcheck: prepare, sample (with --resume), grid, denoise,
# analyze and sweep on small inputs, plus refused inputs (bad data, a bad model folder,
# a bad sigma list, a bad option). Passes when every command reports 0 errors and
# 0 bytes definitely lost (possible leaks of OpenBLAS / OpenMP thread pools are not
# counted). Builds build-valgrind/ (no sanitizer, no CUDA); a stage of .ci/run.
#   tools/valgrind.sh            # logs in build-valgrind/valgrind/*.log
set -eu
cd "$(dirname "$0")/.."
build=build-valgrind
mkdir -p "$build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDIFFSAMP_CUDA=OFF \
    -DDIFFSAMP_CUDA_EMU=OFF -DDIFFSAMP_TESTS=OFF >"$build/configure.log" 2>&1 ||
    { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j2 --target diffsamp >"$build/build.log" 2>&1 || { tail -40 "$build/build.log"; exit 1; }
BIN=$PWD/$build/diffsamp
logs=$PWD/$build/valgrind
rm -rf "$logs"
mkdir -p "$logs"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
/usr/bin/python3 -c "import sys, numpy as np; r = np.random.default_rng(5)
np.save(sys.argv[1], r.uniform(-1, 1, (40, 1, 4, 4)).astype(np.float32))
np.save(sys.argv[2], r.uniform(-1, 1, (20, 1, 4, 4)).astype(np.float32))
np.save(sys.argv[3], r.uniform(-1, 1, (3, 16)))" "$T/train.npy" "$T/held.npy" "$T/x.npy"
printf '80\n5\n0.5\n0\n' >"$T/sigmas.txt"
printf '80\nfive\n' >"$T/bad-sigmas.txt"
printf '\223NUMPY\001\000' >"$T/bad.npy"
mkdir -p "$T/bad-model" && printf 'kind = gmm\nd = 16\n' >"$T/bad-model/model.txt"

failed=0
count=0
# vg NAME EXPECT ARGS...: runs diffsamp ARGS under memcheck; EXPECT is ok or fail.
vg() {
    name=$1 expect=$2
    shift 2
    count=$((count + 1))
    rc=0
    valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite \
        --errors-for-leak-kinds=definite --error-exitcode=99 --log-file="$logs/$name.log" \
        "$BIN" "$@" >"$logs/$name.out" 2>&1 || rc=$?
    errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$logs/$name.log" | tail -1)
    lost=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$logs/$name.log" | tail -1)
    verdict=ok
    if [ "$rc" -eq 99 ] || [ "${errors:-x}" != 0 ] || [ "${lost:-0}" != 0 ]; then verdict=FAIL; fi
    if [ "$expect" = ok ] && [ "$rc" -ne 0 ]; then verdict=FAIL; fi
    if [ "$expect" = fail ] && { [ "$rc" -eq 0 ] || [ "$rc" -eq 99 ]; }; then verdict=FAIL; fi
    [ "$verdict" = ok ] || failed=1
    printf '%-22s exit %3s  errors %-3s definitely lost %-6s %s\n' "$name" "$rc" "${errors:-?}" \
        "${lost:-0}" "$verdict"
}
vg prepare-empirical ok prepare --model empirical --data "$T/train.npy" --out "$T/emp"
vg prepare-gmm ok prepare --model gmm --k 3 --data "$T/train.npy" --out "$T/gmm"
vg sample-empirical ok sample --model-dir "$T/emp" --n 6 --batch 4 --steps 4 --out "$T/s1" --quiet
vg sample-resume ok sample --model-dir "$T/emp" --n 6 --batch 4 --steps 4 --out "$T/s1" --quiet --resume
vg sample-gmm-file ok sample --model-dir "$T/gmm" --n 5 --sigmas "$T/sigmas.txt" --out "$T/s2" \
    --quiet --backend ref
vg grid ok grid --data "$T/train.npy" --out "$T/grid.png"
vg denoise ok denoise --data "$T/train.npy" --model empirical --x "$T/x.npy" --sigma 0.5 \
    --out "$T/den.npy"
vg analyze-memorization ok analyze memorization --samples "$T/s1/samples.npy" --data "$T/train.npy" \
    --out "$T/a1"
vg analyze-fid ok analyze fid --samples "$T/s1/samples.npy" --data "$T/train.npy" \
    --heldout "$T/held.npy" --pca-k 4 --out "$T/a2"
vg sweep ok sweep --data "$T/train.npy" --heldout "$T/held.npy" --n 4 --nfe 6 --pca-k 4 \
    --out "$T/sw"
vg refused-data fail grid --data "$T/bad.npy" --out "$T/g2.png"
vg refused-model fail sample --model-dir "$T/bad-model" --n 2 --out "$T/s3"
vg refused-sigmas fail sample --model-dir "$T/emp" --n 2 --sigmas "$T/bad-sigmas.txt" --out "$T/s4"
vg refused-option fail sample --model-dir "$T/emp" --n -3 --out "$T/s5"
[ "$failed" -eq 0 ] || { echo "valgrind: failures above; logs in $logs"; exit 1; }
echo "valgrind: $count commands, 0 errors, 0 bytes definitely lost"
