"""A torch module as the denoiser (needs torch from PyPI, CPU; skipped without it)."""

import numpy as np
import pytest

import diffsamp as ds

torch = pytest.importorskip("torch", reason="torch is not installed: the torch adapter is untested")


def test_torch_module_denoiser(seed):
    class Shrink(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lam = torch.nn.Parameter(torch.tensor(2.0, dtype=torch.float64))

        def forward(self, x, sigma):
            return x * (self.lam / (self.lam + sigma[:, None] ** 2))

    from diffsamp.models import torch_denoiser

    m = ds.Model.from_denoiser(torch_denoiser(Shrink()), dim=3)
    r = ds.sample(m, n=4, seed=seed, backend="ref")
    # N(0, 2 I): the ODE's exact map x_T * sqrt(2 / (2 + sigma_max^2))
    ref = ds.sample(ds.Model.from_denoiser(lambda x, s: x * (2 / (2 + s[:, None] ** 2)), dim=3),
                    n=4, seed=seed, backend="ref")
    assert np.linalg.norm(r.samples - ref.samples) / np.linalg.norm(ref.samples) < 1e-12


def spied(module, seen):
    """torch_denoiser(module), recording the address of each batch view it is handed."""
    from diffsamp.models import torch_denoiser

    inner = torch_denoiser(module)

    def call(xv, sm, ov):
        seen.append(("view", xv.ptr, ov.ptr))
        inner(xv, sm, ov)

    call._diffsamp_accepts = inner._diffsamp_accepts
    return call


class Recorder(torch.nn.Module):
    """N(0, 2 I)'s denoiser without parameters; records the input tensor's address,
    dtype and device."""

    def __init__(self, seen):
        super().__init__()
        self.seen = seen

    def forward(self, x, sigma):
        self.seen.append(("x", x.data_ptr(), x.dtype, x.device.type))
        return x * (2.0 / (2.0 + sigma[:, None] ** 2))


@pytest.mark.parametrize("backend,dtype", [("ref", torch.float64), ("cpu", torch.float32)])
def test_torch_gets_the_batch_through_dlpack(backend, dtype, seed):
    """On ref and cpu the module's x is the batch itself (same address, the backend's
    dtype: no copy), and a run equals the numpy callable's."""
    seen = []
    m = ds.Model.from_denoiser(spied(Recorder(seen), seen), dim=6)
    r = ds.sample(m, n=5, steps=6, seed=seed, backend=backend)
    ref = ds.sample(ds.Model.from_denoiser(lambda x, s: x * (2 / (2 + s[:, None] ** 2)), dim=6),
                    n=5, steps=6, seed=seed, backend=backend)
    views = [e for e in seen if e[0] == "view"]
    xs = [e for e in seen if e[0] == "x"]
    assert len(views) == len(xs) > 0
    assert all(v[1] == x[1] and x[2] == dtype and x[3] == "cpu" for v, x in zip(views, xs))
    # ref: both float64 (1e-12). cpu: the same float32 batches; the numpy callable
    # computes in float64 and rounds once, torch in float32 (two roundings): each of the
    # 11 evaluations differs by ~2^-24 relative, carried by the contracting ODE
    tol = 1e-12 if backend == "ref" else 11 * 4 * 2.0**-24
    assert np.linalg.norm(r.samples - ref.samples) / np.linalg.norm(ref.samples) < tol


def test_torch_copy_of_a_view():
    """torch.from_dlpack(view, copy=True): the view refuses to copy (TypeError), torch
    retries without it and copies itself."""
    seen = []

    def call(xv, sm, ov):
        t = torch.from_dlpack(xv, copy=True)
        seen.append(t.data_ptr() != xv.ptr)
        torch.from_dlpack(ov).copy_(t)

    m = ds.Model(ds._core.callback_model(3, call, ds._core.ACCEPT_HOST_F64))
    x = np.arange(6.0).reshape(2, 3)
    assert np.array_equal(m.denoise(x, 1.0, backend="ref"), x) and seen == [True]


def test_numpy_callable_may_return_torch(seed):
    """A numpy-side denoiser returning a torch CPU tensor: taken through DLPack."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 4))
    m = ds.Model.from_denoiser(lambda x, s: torch.tensor(x) * 0.5, dim=4)
    got = m.denoise(x, 1.0, backend="ref")
    assert np.array_equal(got, 0.5 * x)


@pytest.mark.skipif(not (torch.cuda.is_available() and ds._core.cuda_devices() > 0),
                    reason="no CUDA device with torch and diffsamp: the kDLCUDA path is unverified here")
def test_torch_cuda_batch_without_copy(seed):
    seen = []
    m = ds.Model.from_denoiser(spied(Recorder(seen), seen), dim=6)
    r = ds.sample(m, n=5, steps=6, seed=seed, backend="cuda")
    views = [e for e in seen if e[0] == "view"]
    xs = [e for e in seen if e[0] == "x"]
    assert all(v[1] == x[1] and x[2] == torch.float32 and x[3] == "cuda" for v, x in zip(views, xs))
    ref = ds.sample(ds.Model.from_denoiser(lambda x, s: x * (2 / (2 + s[:, None] ** 2)), dim=6),
                    n=5, steps=6, seed=seed, backend="cuda")
    assert np.linalg.norm(r.samples - ref.samples) / np.linalg.norm(ref.samples) < 11 * 4 * 2.0**-24
