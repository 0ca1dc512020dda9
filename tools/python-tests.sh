#!/bin/sh
# The Python package: pip install . into a virtual environment (numpy, pytest and
# scikit-build-core from PyPI at install time), then the pytest suite in python/tests.
# The suite fails, not skips, when the module cannot be built or imported.
# Usage: tools/python-tests.sh [venv-dir]   (PYTHON picks the interpreter, default python3)
set -eu
cd "$(dirname "$0")/.."
VENV=${1:-build-venv}
tools/setup.sh
[ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$VENV"
VENV=$(cd "$VENV" && pwd) # absolute: pytest runs from python/tests
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip
$PIP install -q numpy pytest "scikit-build-core>=0.5"
# No build isolation: the build uses the scikit-build-core just installed and the
# system's cmake; the CMake build folder (build-pip/) is kept between runs.
CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) $PIP install -q --no-build-isolation .
cd python/tests
OPENBLAS_NUM_THREADS=2 "$VENV/bin/python" -m pytest -q -rs
