# shellcheck shell=bash
# Sourced by tools/bench_gpu.sh and tools/profile.sh (from the repository root).

# A program on the PATH or at one of the given paths (globs allowed), else nothing.
find_tool() {
    local name=$1 p
    shift
    command -v "$name" && return 0
    for p in "$@"; do
        [ -x "$p" ] && echo "$p" && return 0
    done
    return 1
}
