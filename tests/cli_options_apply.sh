#!/bin/sh
# Issue 21.8: an option that does nothing with the chosen sampler gives one warning line
# (and the run goes on); --model that contradicts --model-dir's kind is refused; every
# refused command line exits with status 2 (unknown values, missing required options,
# ranges), before anything is loaded or written.
. "$(dirname "$0")/shell_common.sh"
require_numpy

$PY -c "import sys, numpy as np; np.save(sys.argv[1], np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 1]).standard_normal((60, 4)).astype(np.float32))" "$T/x.npy"
"$BIN" prepare --data "$T/x.npy" --model gmm --k 2 --out "$T/gmm" >/dev/null 2>&1 || fail "prepare gmm"

# Status 2 and one line for each refused command line.
refused() {
    want=$1; shift
    "$BIN" "$@" >"$T/out" 2>"$T/err"
    status=$?
    [ "$status" -eq 2 ] || fail "'$*': exit status $status (expected 2): $(cat "$T/err")"
    [ "$(wc -l <"$T/err")" -eq 1 ] || fail "'$*': expected one line on stderr: $(cat "$T/err")"
    grep -q -- "$want" "$T/err" || fail "'$*': message lacks '$want': $(cat "$T/err")"
}
refused "contradicts --model-dir" sample --model-dir "$T/gmm" --model gaussian --out "$T/s0"
[ -e "$T/s0" ] && fail "a refused sample made its --out folder"
refused "unknown model kind 'foo'" sample --data "$T/x.npy" --model foo --out "$T/s1"
refused "unknown backend 'gpu'" sample --data "$T/x.npy" --backend gpu --out "$T/s1"
refused "unknown backend 'gpu'" sweep --data "$T/x.npy" --backend gpu --out "$T/s1"
refused "unknown sampler" sample --data "$T/x.npy" --sampler foo --out "$T/s1"
refused "unknown model kind 'foo'" sweep --data "$T/x.npy" --model foo --out "$T/s1"
refused "--n must be >= 2" sweep --data "$T/x.npy" --n 1 --out "$T/s1"
refused "--samples is required" analyze error --reference "$T/x.npy"
refused "--samples is required" analyze memorization --data "$T/x.npy"
refused "--heldout is required" analyze fid --samples "$T/x.npy" --data "$T/x.npy"
refused "--trajectory is required" analyze trajectory
refused "--levels must be" analyze denoisers --data "$T/x.npy" --heldout "$T/x.npy" --levels 1
refused "unknown option" analyze error --bogus 1
[ -e "$T/s1" ] && fail "a refused command made its --out folder"

# A given option that the sampler does not use: one warning each, and the run is made.
"$BIN" sample --model-dir "$T/gmm" --model gmm --sampler heun --variant bh1 --rtol 1e-3 \
    --n 4 --out "$T/s2" >/dev/null 2>"$T/err" || fail "sample with unused options: $(cat "$T/err")"
grep -q "warning: sample: --variant applies to unipc,ipndm_v,dpmpp2m_sde only; it does nothing with --sampler heun" "$T/err" ||
    fail "no warning for --variant with heun: $(cat "$T/err")"
grep -q "warning: sample: --rtol applies to adaptive only" "$T/err" || fail "no warning for --rtol: $(cat "$T/err")"
[ "$(grep -c warning "$T/err")" -eq 2 ] || fail "expected two warnings: $(cat "$T/err")"
# The options that apply (and --model equal to the folder's kind) warn about nothing.
"$BIN" sample --model-dir "$T/gmm" --model gmm --sampler unipc --variant bh1 --n 4 \
    --out "$T/s3" >/dev/null 2>"$T/err" || fail "unipc --variant bh1: $(cat "$T/err")"
grep -q warning "$T/err" && fail "a warning for options that apply: $(cat "$T/err")"
"$BIN" sample --model-dir "$T/gmm" --sampler adaptive --rtol 1e-4 --atol 1e-4 --n 4 \
    --out "$T/s4" >/dev/null 2>"$T/err" || fail "adaptive --rtol: $(cat "$T/err")"
grep -q warning "$T/err" && fail "a warning for --rtol with adaptive: $(cat "$T/err")"
# A value that looks like an option name is a value, not the option.
(cd "$T" && "$BIN" sample --model-dir gmm --sampler heun --out --variant --n 4) \
    >/dev/null 2>"$T/err" || fail "an --out named --variant: $(cat "$T/err")"
[ -d "$T/--variant" ] || fail "no folder --variant"
grep -q warning "$T/err" && fail "--out --variant read as --variant: $(cat "$T/err")"
echo "ok"
