"""Shared fixtures: the seed (DIFFSAMP_TEST_SEED, else fresh and printed), the diffsamp
program installed with the package (for the CLI comparisons), small random data sets."""

import os
import subprocess
import time

import numpy as np
import pytest

import diffsamp  # the suite fails, not skips, when the module cannot be imported


@pytest.fixture(scope="session")
def seed():
    s = int(os.environ.get("DIFFSAMP_TEST_SEED", time.time_ns() % 2**31))
    print(f"test seed: {s} (set DIFFSAMP_TEST_SEED to replay)")
    return s


@pytest.fixture(scope="session")
def cli():
    """Runs the diffsamp program built with this package (DIFFSAMP_BIN overrides it)."""
    exe = os.environ.get("DIFFSAMP_BIN") or os.path.join(
        os.path.dirname(diffsamp.__file__), "bin", "diffsamp"
    )
    assert os.access(exe, os.X_OK), f"diffsamp program not found at {exe}"

    def run(*args):
        p = subprocess.run([exe, *map(str, args)], capture_output=True, text=True)
        assert p.returncode == 0, f"diffsamp {' '.join(map(str, args))}: {p.stderr}"
        return p

    return run


@pytest.fixture
def anisotropic(seed):
    """400 rows in d = 12 with covariance eigenvalues from 0.01 to 4 and a non-zero mean
    (float32, as a data set is)."""
    rng = np.random.default_rng(seed)
    d = 12
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    scale = np.sqrt(np.geomspace(0.01, 4.0, d))
    y = rng.standard_normal((400, d)) * scale @ q.T + rng.standard_normal(d)
    return y.astype(np.float32)
