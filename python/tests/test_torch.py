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
