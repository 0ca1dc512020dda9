"""Imported first by the tools that need numpy (and matplotlib): when the Python running
them lacks either (a pyenv or venv `python3` on PATH often does), re-runs the same
command with Debian's /usr/bin/python3, which tools/setup.sh equips (python3-numpy,
python3-matplotlib); with neither, says so in one line and exits 2."""
import importlib.util
import os
import sys

DEBIAN_PYTHON = "/usr/bin/python3"
NEEDED = ("numpy", "matplotlib")


def _missing():
    return [m for m in NEEDED if importlib.util.find_spec(m) is None]


if _missing():
    if os.path.realpath(sys.executable) != os.path.realpath(DEBIAN_PYTHON) and os.access(
        DEBIAN_PYTHON, os.X_OK
    ):
        os.execv(DEBIAN_PYTHON, [DEBIAN_PYTHON] + sys.argv)
    sys.exit(
        "%s: needs %s, which %s lacks (run tools/setup.sh, or use a Python with them)"
        % (os.path.basename(sys.argv[0]), " and ".join(_missing()), sys.executable)
    )
