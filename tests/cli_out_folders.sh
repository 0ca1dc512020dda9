#!/bin/sh
# prepare and sample treat a --out folder that holds diffsamp output (a run or a model)
# alike: refused with one line naming --resume (a sample run) or --force; other files are
# left alone; --force replaces it, and a forced command
# that fails leaves the old folder as it was.
. "$(dirname "$0")/shell_common.sh"
require_numpy

$PY -c "import sys, numpy as np; np.save(sys.argv[1], np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 1]).standard_normal((60, 4)).astype(np.float32))" "$T/a.npy"
$PY -c "import sys, numpy as np; np.save(sys.argv[1], 3 + np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 2]).standard_normal((80, 4)).astype(np.float32))" "$T/b.npy"
S="sample --quiet --model gaussian --steps 4 --n 5"

# prepare: a second run into the same folder is refused; --force replaces the model.
"$BIN" prepare --data "$T/a.npy" --model gaussian --out "$T/m" >/dev/null || fail "prepare failed"
cp "$T/m/model.txt" "$T/model_a.txt"
expect_error "holds a diffsamp model already; add --force to replace it" prepare --data "$T/b.npy" --model gaussian --out "$T/m"
cmp -s "$T/m/model.txt" "$T/model_a.txt" || fail "a refused prepare changed the model folder"
"$BIN" prepare --data "$T/b.npy" --model gaussian --out "$T/m" --force >/dev/null || fail "prepare --force failed"
cmp -s "$T/m/model.txt" "$T/model_a.txt" && fail "prepare --force kept the old model"
grep -q "b.npy" "$T/m/model.txt" || fail "prepare --force: model.txt does not name the new data"
ls -d "$T"/m.replaced.* 2>/dev/null && fail "prepare --force left the old folder behind"
# A forced prepare that fails (no such data) leaves the old model.
cp "$T/m/model.txt" "$T/model_b.txt"
expect_error "no-such.npy" prepare --data "$T/no-such.npy" --model gaussian --out "$T/m" --force
cmp -s "$T/m/model.txt" "$T/model_b.txt" || fail "a failed prepare --force changed the model folder"

# sample: a finished run is refused naming both options; so is a model folder, and
# prepare refuses a run's folder.
"$BIN" $S --data "$T/a.npy" --out "$T/s" >/dev/null || fail "sample failed"
expect_error "add --resume to continue it, --force to replace it" $S --data "$T/a.npy" --out "$T/s"
expect_error "m: holds a diffsamp model already; add --force" $S --data "$T/a.npy" --out "$T/m"
expect_error "s: holds a diffsamp run already; add --force" prepare --data "$T/a.npy" \
    --model gaussian --out "$T/s"
expect_error "--force and --resume contradict" $S --data "$T/a.npy" --out "$T/s" --force --resume
# --force with a different data set: the new samples replace the old ones.
cp "$T/s/samples.npy" "$T/samples_a.npy"
"$BIN" $S --data "$T/b.npy" --out "$T/s" --force >/dev/null || fail "sample --force failed"
cmp -s "$T/s/samples.npy" "$T/samples_a.npy" && fail "sample --force kept the old samples"
$PY -c "import sys, numpy as np; m = np.load(sys.argv[1]).mean(); sys.exit(0 if m > 1.5 else 1)" \
    "$T/s/samples.npy" || fail "sample --force: samples.npy is not from the new data (mean near 3)"
ls -d "$T"/s.replaced.* 2>/dev/null && fail "sample --force left the old folder behind"
# A forced sample that fails after starting (a trajectory path it cannot write) puts the
# old run back, and --resume finds it complete.
cp "$T/s/samples.npy" "$T/samples_b.npy"
echo x >"$T/file"
expect_error "" $S --data "$T/a.npy" --out "$T/s" --force --trajectory "$T/file/traj"
cmp -s "$T/s/samples.npy" "$T/samples_b.npy" || fail "a failed sample --force changed the old run"
"$BIN" $S --data "$T/b.npy" --out "$T/s" --resume >"$T/resume.log" || fail "resume after a failed --force"
grep -q "complete; nothing to do" "$T/resume.log" || fail "the old run is not intact: $(cat "$T/resume.log")"
# A folder of other files is written beside; --force replaces all of it.
mkdir "$T/other" && echo x >"$T/other/notes.txt"
"$BIN" $S --data "$T/a.npy" --out "$T/other" >/dev/null || fail "sample into a folder of other files"
[ -e "$T/other/notes.txt" ] || fail "sample removed a file of the user's"
"$BIN" $S --data "$T/a.npy" --out "$T/other" --force >/dev/null || fail "sample --force on a folder of other files"
[ -e "$T/other/notes.txt" ] && fail "sample --force kept the files of the replaced folder"
echo "ok"
