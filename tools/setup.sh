#!/bin/sh
# Installs, only when missing, the Debian packages diffsamp needs to build, test and
# run its demo. Idempotent; runs apt-get update only when something must be installed.
set -eu

PACKAGES="build-essential cmake pkg-config libpng-dev zlib1g-dev libopenblas-dev \
liblapacke-dev libcmocka-dev dataset-fashion-mnist python3-numpy python3-matplotlib python3-dev \
python3-venv clang libclang-rt-14-dev valgrind libopenmpi-dev openmpi-bin"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "setup: all packages present"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "setup: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "setup: done"
