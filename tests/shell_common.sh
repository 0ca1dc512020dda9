# Sourced by the tests/cli_*.sh scripts: the program under test, a temporary folder
# removed on exit, and the checks they share.
set -u
BIN=${DIFFSAMP_BIN:-./diffsamp}
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# The random inputs the scripts draw (numpy's default_rng([seed, k]), k numbering the
# draws of a script) come from DIFFSAMP_TEST_SEED, printed as testutil prints it so that
# tools/seed_sweep.sh finds these scripts and a failure can be replayed.
DIFFSAMP_TEST_SEED=${DIFFSAMP_TEST_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
export DIFFSAMP_TEST_SEED
echo "test seed: $DIFFSAMP_TEST_SEED (set DIFFSAMP_TEST_SEED to replay)" >&2

# Skips the whole script (exit 0 with a visible line) when Debian's numpy is missing.
require_numpy() {
    if ! $PY -c 'import numpy' 2>/dev/null; then
        echo "skipped: numpy for $PY not found"
        exit 0
    fi
}

# Runs the program expecting failure: non-zero exit, exactly one stderr line that
# starts with "diffsamp:" and contains $1.
expect_error() {
    want=$1; shift
    "$BIN" "$@" >"$T/out" 2>"$T/err" && fail "'$*' succeeded"
    [ "$(wc -l <"$T/err")" -eq 1 ] || fail "'$*': expected one line on stderr, got: $(cat "$T/err")"
    grep -q '^diffsamp: ' "$T/err" || fail "'$*': message does not start with 'diffsamp: '"
    grep -q -- "$want" "$T/err" || fail "'$*': message lacks '$want': $(cat "$T/err")"
}
