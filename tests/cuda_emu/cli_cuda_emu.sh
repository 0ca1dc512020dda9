#!/bin/sh
# diffsamp with --backend cuda, run on the CPU emulator (a diffsamp built against
# tests/cuda_emu): sample runs of the empirical (also pruned), Gaussian, mixture, nearest,
# smoothed, variance, pca_locality, ls, els and pspc models through several solvers, teleportation, query
# batches and trajectories agree with --backend cpu from the same noise; info names the
# emulated device; too little device memory is refused clearly. This runs the whole
# CLI -> sampler -> cuda backend path; it is not a GPU result.
. "$(dirname "$0")/../shell_common.sh"
require_numpy
EMU=${DIFFSAMP_EMU_BIN:?DIFFSAMP_EMU_BIN: the diffsamp built with the CUDA emulator}

"$EMU" info >"$T/info" 2>&1 || fail "info: $(cat "$T/info")"
grep -q "CPU emulator" "$T/info" || fail "info does not list the emulated device: $(cat "$T/info")"

$PY -c "import sys, numpy as np; np.save(sys.argv[1], np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 1]).uniform(-1, 1, (300, 1, 8, 8)).astype(np.float32))" "$T/data.npy"
"$BIN" prepare --model empirical --data "$T/data.npy" --out "$T/empirical" >/dev/null || fail "prepare empirical"
"$BIN" prepare --model gaussian --data "$T/data.npy" --out "$T/gaussian" >/dev/null || fail "prepare gaussian"
"$BIN" prepare --model gmm --k 3 --rank 9 --data "$T/data.npy" --out "$T/gmm" >/dev/null || fail "prepare gmm"
"$BIN" prepare --model nearest --data "$T/data.npy" --out "$T/nearest" >/dev/null || fail "prepare nearest"
"$BIN" prepare --model smoothed --smoothing 0.05 --smoothing-samples 3 --data "$T/data.npy" \
    --out "$T/smoothed" >/dev/null || fail "prepare smoothed"
"$BIN" prepare --model pca_locality --data "$T/data.npy" --out "$T/pca_locality" >/dev/null ||
    fail "prepare pca_locality"
"$BIN" prepare --model ls --patch-size 3 --data "$T/data.npy" --out "$T/ls" >/dev/null || fail "prepare ls"
"$BIN" prepare --model variance --data "$T/data.npy" --out "$T/variance" >/dev/null ||
    fail "prepare variance"
"$BIN" prepare --model els --patch-size 3 --data "$T/data.npy" --out "$T/els" >/dev/null ||
    fail "prepare els"
printf '0.5 2\n80 4\n' >"$T/pspc_schedule.txt"
"$BIN" prepare --model pspc --patch-schedule "$T/pspc_schedule.txt" --data "$T/data.npy" \
    --out "$T/pspc" >/dev/null || fail "prepare pspc"

# Relative L2 difference of two .npy files, below $3.
close() {
    $PY - "$1" "$2" "$3" <<'PYEOF' || fail "$1 and $2 differ"
import sys, numpy as np
a, b = np.load(sys.argv[1]).astype(np.float64), np.load(sys.argv[2]).astype(np.float64)
err = np.linalg.norm(a - b) / np.linalg.norm(b)
print("%s: relative difference %.2e" % ("/".join(sys.argv[1].split("/")[-2:]), err))
sys.exit(0 if a.shape == b.shape and err < float(sys.argv[3]) else 1)
PYEOF
}

# Runs one configuration on cpu (the normal program) and cuda (the emulator) and compares
# the samples. 20 samples in batches of 7 (3 batches, the last one short).
case_no=0
compare() {
    case_no=$((case_no + 1))
    common="--n 20 --batch 7 --seed 5 --quiet"
    "$BIN" sample "$@" $common --backend cpu --out "$T/cpu$case_no" >/dev/null 2>"$T/err" || fail "cpu $*: $(cat "$T/err")"
    "$EMU" sample "$@" $common --backend cuda --out "$T/cuda$case_no" >/dev/null 2>"$T/err" || fail "cuda $*: $(cat "$T/err")"
    close "$T/cuda$case_no/samples.npy" "$T/cpu$case_no/samples.npy" "$TOL"
}

# Bounds: each denoiser call differs by ~1e-6 relative (float32 on both sides, other
# summation orders); the solvers compound it over 8 to 12 evaluations with step
# coefficients bounded by a few, and at sigma 0.002 the empirical samples are training
# rows, so the difference stays far below 1e-3.
TOL=1e-3
compare --model-dir "$T/empirical" --sampler heun --steps 8
compare --model-dir "$T/empirical" --sampler dpmpp3m --steps 10 --teleport-sigma 5
compare --model-dir "$T/gmm" --sampler unipc --steps 10 --teleport-fraction 0.3 \
    --teleport-model "$T/gaussian"
compare --model-dir "$T/gaussian" --sampler ipndm --steps 10
compare --model-dir "$T/empirical" --sampler euler --steps 12 --schedule logsnr
# Certified pruning on cuda (--prune; by default only cpu prunes), without landing so
# that the small sigmas are evaluated: the run skips rows and says so in run.json.
compare --model-dir "$T/empirical" --sampler heun --steps 8 --prune --no-landing
$PY - "$T/cuda$case_no/run.json" <<'PYEOF' || fail "cuda --prune: run.json does not show pruning"
import json, sys
r = json.load(open(sys.argv[1]))
p = r["prune"]
print("cuda --prune: %d of %d pairs left out, %d of %d evaluations pruned" % (p["pairs_skipped"], p["pairs"], p["queries_pruned"], p["queries"]))
sys.exit(0 if r["pruning"] and p["pairs_skipped"] > 0 and p["queries_pruned"] > 0 else 1)
PYEOF
compare --model-dir "$T/nearest" --sampler heun --steps 6
compare --model-dir "$T/smoothed" --sampler heun --steps 6
compare --model-dir "$T/variance" --sampler heun --steps 6
# The local models stop at sigma 0.1: below it a pixel whose two nearest training values
# nearly tie switches between them for differences of 1e-6 in its logits (float32 on cpu),
# which the steps after carry to the samples; above it the calls' differences stay ~1e-6.
compare --model-dir "$T/pca_locality" --sampler heun --steps 6 --sigma-min 0.1 --no-final-zero
compare --model-dir "$T/ls" --sampler euler --steps 6 --sigma-min 0.1 --no-final-zero
compare --model-dir "$T/els" --sampler euler --steps 4 --sigma-min 0.1 --no-final-zero
compare --model-dir "$T/pspc" --sampler heun --steps 4 --sigma-min 0.1 --no-final-zero

# Trajectories from the cuda backend match those of cpu.
for backend in cpu cuda; do
    prog=$BIN
    [ $backend = cuda ] && prog=$EMU
    "$prog" sample --model-dir "$T/empirical" --sampler heun --steps 8 --n 20 --batch 7 \
        --seed 5 --quiet --backend $backend --out "$T/traj_$backend" \
        --trajectory "$T/traj_$backend" >/dev/null 2>"$T/err" ||
        fail "$backend trajectory: $(cat "$T/err")"
done
for part in x denoised sigmas; do
    close "$T/traj_cuda_$part.npy" "$T/traj_cpu_$part.npy" "$TOL"
done
# Device memory too small (DIFFSAMP_EMU_MEMORY_MB sets the emulated device's size): for
# the training set, then for the workspace; one clear line, no output folder.
$PY -c "import sys, numpy as np; np.save(sys.argv[1], np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 2]).uniform(-1, 1, (4000, 1, 16, 16)).astype(np.float32))" "$T/big.npy"
"$BIN" prepare --model empirical --data "$T/big.npy" --out "$T/big" >/dev/null || fail "prepare big"
BIN=$EMU
OOM="sample --model-dir $T/big --backend cuda --n 4 --steps 2 --quiet --out $T/oom"
DIFFSAMP_EMU_MEMORY_MB=2 expect_error "the training set (4000 rows x 256, [0-9.]* MiB) does not fit in the 2.00 MiB of free device memory" $OOM
DIFFSAMP_EMU_MEMORY_MB=100 expect_error "not enough device memory for the denoiser workspace" $OOM
grep -q "is free; use --backend cpu" "$T/err" || fail "workspace refusal advice: $(cat "$T/err")"
[ -e "$T/oom" ] && fail "a refused run left its output folder"
echo "cuda on the emulator agrees with cpu in $case_no sample runs and a trajectory"
