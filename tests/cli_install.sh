#!/bin/sh
# cmake --install into a temporary prefix installs the libraries, headers, program,
# pkg-config module and CMake package; a small C program (tests/install_consumer) builds
# against that copy with pkg-config (shared and --static) and with find_package(diffsamp)
# (shared and static), and runs. The shared library exports only ds_ symbols.
. "$(dirname "$0")/shell_common.sh"
SRC=${DIFFSAMP_SOURCE_DIR:-$(dirname "$0")/..}
BUILD=$(dirname "$BIN")
P=$T/prefix
SEED=${DIFFSAMP_TEST_SEED:-$(date +%s)}
echo "seed $SEED"

cmake --install "$BUILD" --prefix "$P" >"$T/install.log" 2>&1 || fail "cmake --install: $(tail -n 3 "$T/install.log")"
for f in bin/diffsamp include/diffsamp.h include/ds_sample.h; do
    [ -f "$P/$f" ] || fail "cmake --install did not install $f"
done
LIB=$(dirname "$(find "$P" -name libdiffsamp.a | head -n 1)")
[ -f "$LIB/libdiffsamp.a" ] || fail "no libdiffsamp.a installed"
SONAME=$(objdump -p "$LIB/libdiffsamp.so" | sed -n 's/^ *SONAME *//p')
case "$SONAME" in libdiffsamp.so.[0-9]*) ;; *) fail "shared library soname is '$SONAME'" ;; esac
[ -f "$LIB/$SONAME" ] || fail "the soname's file $SONAME is not installed"
others=$(nm -D --defined-only "$LIB/libdiffsamp.so" | awk '{print $3}' | grep -v '^ds_' | grep -v '^_' | head -n 5)
[ -z "$others" ] || fail "the shared library exports non-API symbols: $others"

"$P/bin/diffsamp" --version >"$T/version" || fail "installed diffsamp --version failed"
grep -q '^diffsamp [0-9][0-9.]* (git [0-9a-z]*)$' "$T/version" || fail "--version printed: $(cat "$T/version")"
want_version=$(sed 's/^diffsamp \([^ ]*\) .*/\1/' "$T/version")

# A sanitised build's libraries need the sanitiser runtime in the program too.
FLAGS=
grep -q '^DIFFSAMP_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt" 2>/dev/null && FLAGS="-fsanitize=address,undefined"

run_consumer() { # name, binary
    "$2" "$SEED" >"$T/run.out" 2>&1 || fail "$1: $(cat "$T/run.out")"
    grep -q "^diffsamp $want_version: " "$T/run.out" || fail "$1 printed: $(cat "$T/run.out")"
    echo "$1: $(cat "$T/run.out")"
}

export PKG_CONFIG_PATH="$LIB/pkgconfig"
[ "$(pkg-config --modversion diffsamp)" = "$want_version" ] || fail "pkg-config --modversion diffsamp: $(pkg-config --modversion diffsamp 2>&1)"
cc $FLAGS -o "$T/pc_shared" "$SRC/tests/install_consumer/consumer.c" $(pkg-config --cflags --libs diffsamp) -lm \
    -Wl,-rpath,"$LIB" 2>"$T/cc.log" || fail "pkg-config shared build: $(head -n 3 "$T/cc.log")"
ldd "$T/pc_shared" | grep -q "$LIB/libdiffsamp.so" || fail "pkg-config shared build does not load the installed library"
run_consumer "pkg-config shared" "$T/pc_shared"
cc $FLAGS -o "$T/pc_static" "$SRC/tests/install_consumer/consumer.c" -I"$P/include" "$LIB/libdiffsamp.a" \
    $(pkg-config --static --libs-only-other --libs-only-l diffsamp | sed 's/-ldiffsamp//') -lm \
    2>"$T/cc.log" || fail "pkg-config static build: $(head -n 3 "$T/cc.log")"
run_consumer "pkg-config static" "$T/pc_static"

cmake -S "$SRC/tests/install_consumer" -B "$T/cm" -DCMAKE_PREFIX_PATH="$P" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_FLAGS="$FLAGS" -DCMAKE_EXE_LINKER_FLAGS="$FLAGS" >"$T/cm.log" 2>&1 \
    || fail "find_package(diffsamp): $(grep -m 3 -i error "$T/cm.log")"
cmake --build "$T/cm" >"$T/cm.log" 2>&1 || fail "CMake consumer build: $(grep -m 3 -i error "$T/cm.log")"
run_consumer "find_package shared" "$T/cm/consumer_shared"
run_consumer "find_package static" "$T/cm/consumer_static"
echo "ok"
