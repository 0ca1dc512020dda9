# Sourced by the tests/cli_*.sh scripts: the program under test, a temporary folder
# removed on exit, and the checks they share.
set -u
BIN=${DIFFSAMP_BIN:-./diffsamp}
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

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
