#!/bin/sh
# The stochastic samplers from the command line: their options, injected step noise that
# reproduces a run, and the refusals (one line, no output folder).
. "$(dirname "$0")/shell_common.sh"
require_numpy

$PY -c "import sys, numpy as np; np.save(sys.argv[1], np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 1]).standard_normal((60, 8)))" "$T/d.npy"
S="sample --data $T/d.npy --quiet --backend ref --n 5 --steps 6"

# Every sampler runs; the same seed gives the same samples, another seed others.
for s in "euler --s-churn 2 --s-tmin 0.1 --s-tmax 40" "heun --s-churn 3 --s-noise 1.007" \
    "euler_ancestral --eta 0.7" "dpmpp_sde --r 0.4" "dpmpp2m_sde --variant heun" "dpmpp3m_sde"; do
    name=$(echo "$s" | cut -d' ' -f1)
    "$BIN" $S --sampler $s --out "$T/$name-a" >/dev/null || fail "$s did not run"
    "$BIN" $S --sampler $s --out "$T/$name-b" >/dev/null || fail "$s did not run"
    "$BIN" $S --sampler $s --seed 9 --out "$T/$name-c" >/dev/null || fail "$s did not run"
    cmp -s "$T/$name-a/samples.npy" "$T/$name-b/samples.npy" || fail "$s: one seed, two outputs"
    cmp -s "$T/$name-a/samples.npy" "$T/$name-c/samples.npy" && fail "$s: seeds 0 and 9 agree"
done

# Injected step noise with the starting noise given too: the run is a function of the two
# files, and the Philox seed plays no part.
$PY -c "import sys, numpy as np; np.save(sys.argv[1], np.random.default_rng(3).standard_normal((10, 5, 8)))" "$T/sn.npy"
$PY -c "import sys, numpy as np; np.save(sys.argv[1], np.random.default_rng(4).standard_normal((5, 8)))" "$T/x0.npy"
I="--sampler dpmpp_sde --step-noise $T/sn.npy --noise $T/x0.npy"
"$BIN" $S $I --out "$T/i1" >/dev/null || fail "step noise"
"$BIN" $S $I --seed 4 --out "$T/i2" >/dev/null || fail "step noise"
cmp -s "$T/i1/samples.npy" "$T/i2/samples.npy" || fail "step noise: the Philox seed leaked into the draws"

# Refusals.
expect_error "s_churn must be finite and >= 0" $S --out "$T/o" --sampler heun --s-churn -1
expect_error "need 0 <= s_tmin <= s_tmax" $S --out "$T/o" --sampler euler --s-churn 1 --s-tmin 5 --s-tmax 1
expect_error "eta must be finite and >= 0" $S --out "$T/o" --sampler euler_ancestral --eta -0.5
expect_error "solver heun has no eta" $S --out "$T/o" --eta 0.5
expect_error "solver dpmpp2m has no churn" $S --out "$T/o" --sampler dpmpp2m --s-churn 1
expect_error "r must lie in (0, 1)" $S --out "$T/o" --sampler dpmpp_sde --r 1.5
$PY -c "import sys, numpy as np; np.save(sys.argv[1], np.zeros((9, 5, 8)))" "$T/short.npy"
expect_error "9 draws per row given, but sampler dpmpp_sde makes 10" $S --out "$T/o" --sampler dpmpp_sde --step-noise "$T/short.npy"
$PY -c "import sys, numpy as np; a = np.ones((10, 5, 8)); a[3, 2, 1] = np.nan; np.save(sys.argv[1], a)" "$T/nan.npy"
expect_error "NaN" $S --out "$T/o" --sampler dpmpp_sde --step-noise "$T/nan.npy"
expect_error "shape (draws, 5, 8)" $S --out "$T/o" --sampler dpmpp_sde --step-noise "$T/d.npy"
[ -e "$T/o" ] && fail "a refused run created its output folder"
echo "cli_stochastic: ok"
