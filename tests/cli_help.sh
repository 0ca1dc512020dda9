#!/bin/sh
# Every command documents every option with its default; bad command lines fail with
# one "diffsamp: ..." line on stderr and a non-zero exit.
. "$(dirname "$0")/shell_common.sh"

"$BIN" --help >"$T/usage" || fail "diffsamp --help failed"
commands=$(sed -n 's/^  \([a-z][a-z]*\) .*/\1/p' "$T/usage")
[ -n "$commands" ] || fail "no commands listed by diffsamp --help"
"$BIN" >/dev/null 2>&1 && fail "diffsamp without a command succeeded"
expect_error "unknown command" no-such-command

# One command (its words in "$@"): --help documents every option with its default, and bad
# arguments fail with one clear line.
check_command() {
    if ! "$BIN" "$@" --help >"$T/help" 2>&1; then
        # A command still a placeholder says so; anything else is a failure.
        grep -q "not implemented yet" "$T/help" || fail "diffsamp $* --help failed"
        echo "skipped: $* (not implemented yet)"
        return
    fi
    grep -q "^usage: diffsamp $*" "$T/help" || fail "diffsamp $* --help: no usage line"
    # Every option but --help states its default, or that it is required (and then no
    # default: "default: none" hid that).
    grep '^  --' "$T/help" | grep -v '^  --help' | grep -v '(default: \|(required)$' && fail "diffsamp $*: option without a default"
    grep '(required) (default' "$T/help" && fail "diffsamp $*: a required option shows a default"
    expect_error "unknown option" "$@" --no-such-option
    "$BIN" "$@" --no-such-option >/dev/null 2>&1
    [ $? -eq 2 ] || fail "diffsamp $* --no-such-option: exit status is not 2"
    expect_error "unexpected argument" "$@" stray
    # The first option taking a value, given without one.
    opt=$(sed -n 's/^  --\([a-z0-9-]*\) \(N\|X\|VALUE\) .*/\1/p' "$T/help" | head -n 1)
    if [ -n "$opt" ]; then
        expect_error "needs a value" "$@" "--$opt"
    fi
    # Text options refuse an empty value (--out "" failed only at the last rename).
    for o in $(sed -n 's/^  --\([a-z0-9-]*\) VALUE .*/\1/p' "$T/help"); do
        expect_error "needs a non-empty value" "$@" "--$o" ""
    done
    # An unknown backend is a refused command line too: exit status 2 (it was 1).
    if grep -q '^  --backend VALUE' "$T/help"; then
        expect_error "unknown backend 'gpu'" "$@" --backend gpu
        "$BIN" "$@" --backend gpu >/dev/null 2>&1
        [ $? -eq 2 ] || fail "diffsamp $* --backend gpu: exit status is not 2"
    fi
    # Integer and real options reject text.
    for o in $(sed -n 's/^  --\([a-z0-9-]*\) [NX] .*/\1/p' "$T/help"); do
        expect_error "expects" "$@" "--$o" abc
    done
}

for c in $commands; do
    if [ "$c" = analyze ]; then
        # analyze takes a second word; each analysis is checked like a command.
        "$BIN" analyze --help >"$T/analyses" || fail "diffsamp analyze --help failed"
        expect_error "unknown analysis" analyze no-such-analysis
        for a in $(sed -n 's/^  \([a-z][a-z]*\) .*/\1/p' "$T/analyses"); do
            check_command analyze "$a"
        done
    else
        check_command "$c"
    fi
done
# info: the build, BLAS, host memory and devices.
"$BIN" info >"$T/info" 2>&1 || fail "diffsamp info failed"
for key in "^diffsamp " "^blas: " "^host: .* memory available" "^cuda: " "^cuda devices: [0-9]"; do
    grep -q "$key" "$T/info" || fail "info lacks '$key': $(cat "$T/info")"
done

# Values out of range.
expect_error "must be" sample --batch 0
expect_error "must be" grid --count 0
expect_error "must be" demo --n 0
expect_error "out of range" prepare --model gmm --out "$T/m" --kmeans-iters 0
expect_error "bad memory size" sample --max-memory 1Q
expect_error "more than 0 bytes" sample --max-memory 0
echo "cli_help: ok ($(echo $commands | wc -w) commands)"
