# Sourced by the tests/cli_mpi*.sh scripts (after shell_common.sh): mpirun as CI runs
# it, and a small empirical model.
MPIRUN=${MPIEXEC:-mpirun}
# CI runs as root; the cpu backend's float sums depend on its thread count, which every
# run here fixes (mpirun would otherwise bind each rank to one core).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
# Open MPI's components, loaded and unloaded by MPI itself, leave allocations that
# LeakSanitizer cannot attribute to a module to suppress: the ranks of a sanitizer
# build check everything but leaks (diffsamp's leaks are checked by the one-process tests).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
mpi() { np=$1; shift; "$MPIRUN" -np "$np" --oversubscribe --bind-to none "$@"; }

$PY -c "import sys, numpy as np; np.save(sys.argv[1], np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 1]).uniform(-1, 1, (300, 1, 8, 8)).astype(np.float32))" "$T/small.npy"
"$BIN" prepare --model empirical --data "$T/small.npy" --out "$T/model" >/dev/null || fail "prepare"
