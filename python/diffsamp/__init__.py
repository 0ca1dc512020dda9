"""diffsamp: sampling from analytic diffusion models and your own denoisers.

numpy in, numpy out. The work runs in libdiffsamp (C, with the CUDA backend when built
with nvcc); names and defaults follow the ``diffsamp`` command line, and noise drawn from
``seed`` is the CLI's, so a notebook and a batch run agree.

>>> import diffsamp as ds
>>> x, labels = ds.load_data("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
>>> model = ds.Model.gmm(x[:2000], k=10)
>>> run = ds.sample(model, n=16, sampler="heun", steps=18, seed=0)
>>> run.samples.shape
(16, 1, 28, 28)
"""

from ._arrays import DEFAULT_DATA, load_data
from .models import Model
from .sampling import SampleResult, denoise, sample, schedule
from .analysis import (
    MemorizationResult,
    TrajectoryGeometry,
    compare_denoisers,
    memorization,
    pca_frechet,
    trajectory_geometry,
)
from . import _core

__version__ = _core.version()
__all__ = [
    "DEFAULT_DATA",
    "load_data",
    "Model",
    "SampleResult",
    "denoise",
    "sample",
    "schedule",
    "MemorizationResult",
    "TrajectoryGeometry",
    "compare_denoisers",
    "memorization",
    "pca_frechet",
    "trajectory_geometry",
    "cuda_devices",
]


def cuda_devices() -> int:
    """Number of CUDA devices this build can use (0 without CUDA or without a GPU)."""
    return _core.cuda_devices()
