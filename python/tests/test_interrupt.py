"""Ctrl-C (SIGINT) stops a run within one denoiser call, for built-in models (the GIL
is released; the library polls the signal before every call) and Python denoisers."""

import os
import signal
import threading
import time

import numpy as np
import pytest

import diffsamp as ds


def test_ctrl_c_python_denoiser():
    calls = []

    def d(x, s):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return 0.5 * x

    m = ds.Model.from_denoiser(d, dim=4)
    with pytest.raises(KeyboardInterrupt):
        ds.sample(m, n=4, steps=50)
    assert len(calls) <= 4  # the signal is seen before the next call


def test_ctrl_c_builtin_model(seed):
    y = np.random.default_rng(seed).standard_normal((3000, 64)).astype(np.float32)
    m = ds.Model.empirical(y)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    t0 = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        ds.sample(m, n=64, steps=400, backend="ref")  # ~800 calls: many seconds
    elapsed = time.perf_counter() - t0
    timer.cancel()
    assert elapsed < 5.0
