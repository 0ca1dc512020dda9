"""Callback denoisers on the backend's own batches (issue 18, requirement 4): views
without a copy through the buffer protocol and DLPack, numpy only (the torch side is in
test_torch.py)."""

import numpy as np
import pytest

import diffsamp as ds
from diffsamp import _core

ALL = _core.ACCEPT_HOST_F64 | _core.ACCEPT_HOST_F32 | _core.ACCEPT_CUDA_F32


def shrink(lam):
    """The denoiser of N(0, lam I) on float arrays: x lam / (lam + sigma^2)."""
    return lambda x, s: x * (lam / (lam + s[:, None] ** 2))


def native(fn, seen):
    """A raw callback on the batch views: records each view's dtype and whether numpy's
    arrays over them (buffer protocol and np.from_dlpack) start at the batch's address."""

    def call(xv, sm, ov):
        x, xd, out = np.asarray(xv), np.from_dlpack(xv), np.asarray(ov)
        seen.append((xv.dtype, x.ctypes.data == xv.ptr, xd.ctypes.data == xv.ptr,
                     out.ctypes.data == ov.ptr, x.flags.writeable, xv))
        out[...] = fn(x, np.frombuffer(sm, dtype=np.float64))

    return call


@pytest.mark.parametrize("backend,dtype", [("ref", "float64"), ("cpu", "float32")])
def test_native_views_without_copy(backend, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((5, 7))
    sigma = rng.uniform(0.1, 3.0, 5)
    seen = []
    m = ds.Model(_core.callback_model(7, native(shrink(1.7), seen), ALL))
    got = m.denoise(x, sigma, backend=backend)
    want = shrink(1.7)(x, sigma)
    # ref: float64 throughout (1e-15); cpu: x rounded to float32, the product
    # computed in float32 and rounded again: a few units of 2^-24 relative
    tol = 1e-14 if dtype == "float64" else 4 * 2.0**-24
    assert np.linalg.norm(got - want) / np.linalg.norm(want) < tol
    kind, same_buffer, same_dlpack, same_out, writeable, view = seen[0]
    assert kind == dtype and same_buffer and same_dlpack and same_out
    assert not writeable  # x is the solver's state
    with pytest.raises(BufferError):  # the view closes when the call returns
        memoryview(view)


def test_numpy_callable_on_ref_is_the_batch(seed):
    """A plain numpy denoiser on ref gets the float64 batch itself, read-only; on cpu a
    float64 host copy (its batch is float32), and both equal the formula."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((4, 3))
    flags = []

    def fn(x, s):
        flags.append((x.dtype, x.flags.writeable, x.flags.owndata))
        return shrink(2.0)(x, s)

    m = ds.Model.from_denoiser(fn, dim=3)
    for backend in ("ref", "cpu"):
        got = m.denoise(x, 0.7, backend=backend)
        want = shrink(2.0)(x, np.full(4, 0.7))
        tol = 1e-14 if backend == "ref" else 4 * 2.0**-24
        assert np.linalg.norm(got - want) / np.linalg.norm(want) < tol
    assert flags[0] == (np.float64, False, False)


def test_dlpack_refuses_what_it_cannot_do():
    kept = []

    def call(xv, sm, ov):
        with pytest.raises(BufferError):  # another device than the batch's
            xv.__dlpack__(dl_device=(2, 0))
        with pytest.raises(TypeError):  # no copies: the consumer copies itself
            xv.__dlpack__(copy=True)
        assert xv.__dlpack_device__() == (1, 0) and xv.shape == (2, 3)
        with pytest.raises(ValueError):  # x is read-only
            np.asarray(xv)[0, 0] = 1.0
        kept.append(xv)
        np.asarray(ov)[...] = np.asarray(xv)

    m = ds.Model(_core.callback_model(3, call, ALL))
    m.denoise(np.ones((2, 3)), 1.0, backend="ref")
    with pytest.raises(BufferError):
        kept[0].__dlpack__()
