#!/bin/sh
# Edge cases of the command line found in review: option values the solvers or the
# output cannot take are refused with one line before any work, and extreme but valid
# values give finite samples.
. "$(dirname "$0")/shell_common.sh"
require_numpy

# 200 rows of 16 values, standard normal.
$PY -c "import sys, numpy as np; np.save(sys.argv[1], np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 1]).standard_normal((200, 16)).astype(np.float32))" "$T/small.npy"
S="sample --data $T/small.npy --quiet"

# Solver options the solver lacks, and values that would wrap when narrowed to int.
expect_error "heun has order 2 only" $S --out "$T/o" --order 1
expect_error "euler has order 1 only" $S --out "$T/o" --sampler euler --order 2
expect_error "order must be between 0 and 16" $S --out "$T/o" --sampler dpmpp2m --order 4294967298
expect_error "lower-order-final must be between 0 and 1" $S --out "$T/o" --lower-order-final 5
expect_error "seed must be >= 0" $S --out "$T/o" --seed -1
[ -e "$T/o" ] && fail "a refused run created its output folder"

# A batch larger than --n is planned as --n rows (not the memory for the batch asked).
"$BIN" $S --out "$T/b" --n 3 --batch 100000000000 >"$T/b.log" 2>&1 || fail "huge batch: $(cat "$T/b.log")"
grep -q "^memory:" "$T/b.log" && fail "3 samples planned as a huge batch: $(cat "$T/b.log")"

# Sigmas outside [1e-10, 1e10] are refused (beyond, float32 rows and 1 / sigma^2 overflow
# into NaN samples); a sigma list that underflows or is a folder is named as such.
expect_error "must lie in \[1e-10, 1e+10\]" $S --out "$T/o" --sigma-max 1e40
expect_error "must lie in \[1e-10, 1e+10\]" $S --out "$T/o" --sigma-min 1e-12
printf '80\n1e-320\n' >"$T/under.txt"
expect_error "sigma 2 of 2 is .* (expected 1e-10 to 1e+10" $S --out "$T/o" --sigmas "$T/under.txt"
# Sigmas are counted from 1, as lines are: the third of "80 / 5 / 9" does not decrease.
printf '80\n5\n9\n' >"$T/rise.txt"
expect_error "sigma 3 of 3 = 9 follows 5" $S --out "$T/o" --sigmas "$T/rise.txt"
expect_error "is a folder (expected a sigma list" $S --out "$T/o" --sigmas "$T"
expect_error "sigma must be between" denoise --data "$T/small.npy" --model empirical \
    --x "$T/small.npy" --out "$T/o.npy" --sigma 1e-200
[ -e "$T/o" ] || [ -e "$T/o.npy" ] && fail "a refused run wrote output"
# A run whose outputs cannot fit on the disk is refused before anything is written.
expect_error "of disk and" $S --model gaussian --n 1000000000000 --out "$T/huge/run"
[ -e "$T/huge" ] && fail "a run refused for disk space created its folder"
# The limits themselves give finite samples for every model on cpu (the empirical
# denoiser gave NaN rows below sigma ~1e-4 before).
for model in empirical gaussian gmm; do
    "$BIN" $S --out "$T/$model" --model $model --k 3 --n 8 --backend cpu --sigma-min 1e-10 \
        --sigma-max 1e10 >"$T/$model.log" 2>&1 || fail "$model at the sigma limits: $(cat "$T/$model.log")"
    $PY -c "import sys, numpy as np; sys.exit(0 if np.isfinite(np.load(sys.argv[1])).all() else 1)" \
        "$T/$model/samples.npy" || fail "$model at the sigma limits: non-finite samples"
done

# sweep checks its options and NFE budgets before loading data, fitting the model and
# running the ground truth (minutes on Fashion-MNIST); a list too long is refused, not cut.
W="sweep --data $T/missing.npy --out $T/sw"
expect_error "heun needs more than 1 NFE" $W --solvers euler,heun --nfe 1
expect_error "seed must be >= 0" $W --seed -1
expect_error "batch must be >= 1" $W --batch 0
expect_error "must lie in \[1e-10, 1e+10\]" $W --sigma-max 1e40
expect_error "nfe is longer than" $W --nfe "$($PY -c "print(','.join(['10'] * 100))")"
[ -e "$T/sw" ] && fail "a refused sweep wrote output"
# An --out that cannot be a folder fails before the data is loaded (it failed after the
# whole sweep).
expect_error "small.npy: exists and is not a folder" sweep --data "$T/missing.npy" --out "$T/small.npy"

# analyze denoisers: a grid size that wrapped when narrowed to int (4294967298 was 2), or
# that runs for days, a negative seed and sigmas out of range are refused up front.
A="analyze denoisers --data $T/missing.npy --heldout $T/missing.npy --out $T/an"
expect_error "levels must be between 2 and 10000" $A --levels 4294967298
expect_error "levels must be between 2 and 10000" $A --levels 100000000
expect_error "names gmm twice" $A --models empirical,gmm,gmm
expect_error "names 'euler' twice" $W --solvers euler,heun,euler
expect_error "has an empty item" $W --nfe 4,,8
expect_error "lower --n" sweep --data "$T/small.npy" --model gaussian --n 1000000000000 --out "$T/sw"
expect_error "has an empty item" $A --models empirical,,gmm
expect_error "seed must be >= 0" $A --seed -1
expect_error "sigma-min must be between 1e-10" $A --sigma-min 1e-30
expect_error "sigma-min must be below --sigma-max" $A --sigma-min 5 --sigma-max 1
[ -e "$T/an" ] && fail "a refused analysis wrote output"
expect_error "small.npy: exists and is not a folder" analyze denoisers --data "$T/missing.npy" \
    --heldout "$T/missing.npy" --out "$T/small.npy"

# A sweep or analysis refused after it made its --out folder (data missing, or held-out
# rows of another width) removes the folders it made, deepest first, and no other.
$PY -c "import sys, numpy as np; np.save(sys.argv[1], np.ones((20, 3), np.float32))" "$T/narrow.npy"
mkdir -p "$T/keep/full" && touch "$T/keep/full/file"
expect_error "missing.npy: cannot open" sweep --data "$T/missing.npy" --out "$T/new/a/b"
[ -e "$T/new" ] && fail "a refused sweep left the folders it made"
expect_error "rows of dimension 3" analyze denoisers --data "$T/small.npy" --heldout \
    "$T/narrow.npy" --models empirical,gaussian --out "$T/keep/a/b"
[ -e "$T/keep/a" ] && fail "a refused analysis left the folders it made"
expect_error "missing.npy: cannot open" sweep --data "$T/missing.npy" --out "$T/keep/full/c"
expect_error "missing.npy: cannot open" sweep --data "$T/missing.npy" --out "$T/keep"
[ -e "$T/keep/full/c" ] && fail "a refused sweep left the folder it made"
[ -f "$T/keep/full/file" ] || fail "a refused sweep removed folders it did not make"

# Range messages name the option and the value given.
expect_error "cols must be between 1 and 1000, got 1001" grid --data "$T/missing.npy" --cols 1001
expect_error "seed must be >= 0, got -1" prepare --model gaussian --out "$T/m" --seed -1
expect_error "expected at most 1000000" $S --out "$T/o" --steps 10000000

# An array of 0 rows is named as such (it was "an array of 2 dimensions" or "rows of 0
# values").
$PY -c "import sys, numpy as np; np.save(sys.argv[1], np.zeros((0, 16), np.float32))" "$T/empty.npy"
expect_error "holds no rows" denoise --data "$T/small.npy" --model empirical --x "$T/empty.npy" \
    --sigma 1 --out "$T/d.npy"
expect_error "holds no rows" analyze memorization --samples "$T/empty.npy" --data "$T/small.npy" \
    --out "$T/an"
[ -e "$T/an" ] || [ -e "$T/d.npy" ] && fail "a refused command wrote output"

# A run that fails before its first batch leaves no run behind (the folder blocked the
# corrected command: "holds a diffsamp run already", and --resume then refused it as
# different); a refused --resume keeps the run that is there.
"$BIN" prepare --data "$T/small.npy" --model gmm --k 2 --out "$T/gmm-model" >/dev/null 2>&1 || fail "prepare gmm"
"$BIN" prepare --data "$T/small.npy" --model empirical --out "$T/emp" >/dev/null || fail "prepare empirical"
expect_error "expected a Gaussian model folder" sample --model-dir "$T/emp" --out "$T/f" --quiet \
    --teleport-fraction 0.2 --teleport-model "$T/gmm-model"
expect_error "unknown --gits-teacher" sample --model-dir "$T/emp" --out "$T/f" --schedule gits \
    --gits-teacher magic
[ -e "$T/f" ] && fail "a refused run left its folder"
# GITS checks its grid when it builds the schedule, after the output folder is opened.
expect_error "gits-teacher-steps 5 must be" sample --model-dir "$T/emp" --out "$T/f" --quiet \
    --schedule gits --gits-teacher-steps 5
[ -e "$T/f" ] && fail "a run that failed before its first batch left its folder"
mkdir "$T/g" && touch "$T/g/notes.txt"
expect_error "gits-teacher-steps 5 must be" sample --model-dir "$T/emp" --out "$T/g" --quiet \
    --schedule gits --gits-teacher-steps 5
[ -e "$T/g/.diffsamp-run" ] && fail "a run that failed before its first batch left its bookkeeping"
[ -e "$T/g/notes.txt" ] || fail "a failed run removed a file of the user's"
"$BIN" sample --model-dir "$T/emp" --out "$T/g" --quiet --n 2 --steps 3 --schedule gits \
    --gits-teacher-steps 8 --gits-warmup 4 >/dev/null || fail "the corrected command was refused"
rm -rf "$T/g" && mkdir "$T/g"
DIFFSAMP_TEST_DIE_AFTER_BATCH=0 "$BIN" sample --model-dir "$T/emp" --out "$T/k" --n 4 --batch 2 \
    --steps 3 --quiet >/dev/null 2>&1 && fail "the run was not killed"
# A failure inside the run (the model folder's data file changed after the plan would
# need a race; a write failure stands in: samples.npy's name is taken by a folder).
mkdir -p "$T/g/samples.npy"
"$BIN" sample --model-dir "$T/emp" --out "$T/g" --n 4 --steps 3 --quiet >/dev/null 2>&1 && fail "wrote over a folder"
[ -e "$T/g/.diffsamp-run/config.txt" ] || fail "a failed run with finished batches lost them"
expect_error "cannot resume" sample --model-dir "$T/emp" --out "$T/k" --n 4 --batch 2 --steps 4 --quiet --resume
[ -e "$T/k/.diffsamp-run/batch-000000.npy" ] || fail "a refused resume removed the run"
"$BIN" sample --model-dir "$T/emp" --out "$T/k" --n 4 --batch 2 --steps 3 --quiet --resume >/dev/null \
    || fail "resume after a refused resume"

# A Gaussian fitted to constant data (one row) has sigma_data = 0: its folder loads (it
# was refused with "expected a number > 0"), and every sample is that row.
$PY -c "import sys, numpy as np; np.save(sys.argv[1], np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 2]).standard_normal((1, 16)).astype(np.float32))" "$T/one.npy"
"$BIN" prepare --data "$T/one.npy" --model gaussian --out "$T/one" >/dev/null || fail "prepare on one row"
"$BIN" sample --model-dir "$T/one" --out "$T/ones" --n 3 --quiet >"$T/ones.log" 2>&1 || fail "sample a one-row Gaussian: $(cat "$T/ones.log")"
$PY -c "import sys, numpy as np; y = np.load(sys.argv[1]); x = np.load(sys.argv[2]); sys.exit(0 if np.abs(x - y).max() < 1e-5 else 1)" \
    "$T/one.npy" "$T/ones/samples.npy" || fail "samples of a one-row Gaussian are not the row"

# Output files get their parent folders (as the README says; denoise --out failed), and a
# trajectory that cannot be written is refused before the run (after it, the run could
# neither be redone nor resumed: --trajectory does not resume).
"$BIN" denoise --data "$T/small.npy" --model empirical --x "$T/small.npy" --sigma 1 \
    --out "$T/new/dir/d.npy" >/dev/null || fail "denoise into a new folder"
expect_error "exists and is not a folder" $S --out "$T/t" --trajectory "$T/small.npy/tr"
[ -e "$T/t" ] && fail "a run refused for its trajectory path left its folder"

# An --out that is a file is named as such (it was "small.npy/.diffsamp-run: cannot create
# folder: Not a directory").
expect_error "small.npy: exists and is not a folder" $S --out "$T/small.npy"
expect_error "small.npy: exists and is not a folder" $S --out "$T/small.npy/run"

# A --pca-k above the data's dimension (16) names the option to change.
expect_error "(--pca-k) of 200 rows of dimension 16" analyze fid --samples "$T/small.npy" \
    --data "$T/small.npy" --heldout "$T/small.npy" --out "$T/an" --pca-k 64

# --resume with the same --noise file name but other rows in it is refused (the rows
# already made came from the old noise).
$PY -c "import sys, numpy as np; np.save(sys.argv[1], np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 3]).standard_normal((4, 16)).astype(np.float32))" "$T/noise.npy"
DIFFSAMP_TEST_DIE_AFTER_BATCH=0 "$BIN" sample --model-dir "$T/emp" --out "$T/nz" --noise "$T/noise.npy" \
    --batch 2 --steps 3 --quiet >/dev/null 2>&1 && fail "the noise run was not killed"
$PY -c "import sys, numpy as np; np.save(sys.argv[1], np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 4]).standard_normal((4, 16)).astype(np.float32))" "$T/noise.npy"
expect_error "noise-identity" sample --model-dir "$T/emp" --out "$T/nz" --noise "$T/noise.npy" \
    --batch 2 --steps 3 --quiet --resume
# The same for the --sigmas list.
printf '80\n1\n0\n' >"$T/list.txt"
DIFFSAMP_TEST_DIE_AFTER_BATCH=0 "$BIN" sample --model-dir "$T/emp" --out "$T/sl" --n 4 --batch 2 \
    --sigmas "$T/list.txt" --quiet >/dev/null 2>&1 && fail "the sigma-list run was not killed"
printf '80\n2\n0\n' >"$T/list.txt"
expect_error "sigmas-identity" sample --model-dir "$T/emp" --out "$T/sl" --n 4 --batch 2 \
    --sigmas "$T/list.txt" --quiet --resume

# And for a model folder fitted again in place (same kind and shape, other parameters).
"$BIN" prepare --data "$T/small.npy" --model gmm --k 2 --seed 1 --out "$T/gmm2" >/dev/null 2>&1 || fail "prepare gmm2"
DIFFSAMP_TEST_DIE_AFTER_BATCH=0 "$BIN" sample --model-dir "$T/gmm2" --out "$T/mg" --n 4 --batch 2 \
    --steps 3 --quiet >/dev/null 2>&1 && fail "the gmm run was not killed"
"$BIN" prepare --data "$T/small.npy" --model gmm --k 2 --seed 2 --out "$T/gmm2" --force >/dev/null 2>&1 || fail "prepare gmm2 again"
expect_error "model-dir-identity" sample --model-dir "$T/gmm2" --out "$T/mg" --n 4 --batch 2 \
    --steps 3 --quiet --resume

# A teleport fraction that rounds to no step is refused (the run went on without a jump).
expect_error "skips none of the 18 steps" $S --out "$T/o" --teleport-fraction 0.01
[ -e "$T/o" ] && fail "a refused run created its output folder"

# Tolerances below double rounding are refused ("the error estimate is not finite" before).
expect_error "rtol and atol must be >= 1e-14" $S --out "$T/o" --sampler adaptive --rtol 1e-300
expect_error "rtol must be >= 1e-14" sweep --data "$T/missing.npy" --out "$T/sw2" --rtol 1e-300

echo "cli_edge_cases: ok"
