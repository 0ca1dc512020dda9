"""Models: the analytic ones (empirical, Gaussian, mixture) fitted to data or loaded from
a model folder, and ``Model.from_denoiser``, which runs your own denoiser inside
diffsamp's solvers (a callback model in the C library)."""

from __future__ import annotations

import os
from typing import Callable, Optional, Tuple

import numpy as np

from . import _core
from ._arrays import image_shape, rows_train


def _training(data, labels=None):
    """(rows or path, labels, shape) for a fit: a data set path is read by the library in
    its own precision (uint8 pixels stay exact, as the CLI's fit); arrays are read in
    place when C-ordered float32 or float64."""
    if isinstance(data, (str, os.PathLike)):
        return os.fspath(data), labels, (0, 0, 0)
    shape = image_shape(data)
    x = rows_train(data)
    if labels is not None:
        labels = np.ascontiguousarray(labels, dtype=np.int32)
    return x, labels, shape


def _fit_core(kind, x, labels, shape, **opts):
    if isinstance(x, str):
        return _core.fit(x, 0, 0, kind, path=x, **opts)
    return _core.fit(x, x.shape[0], x.shape[1], kind, labels=labels, shape=shape, **opts)


def _host_result(r):
    """A denoiser's result as an array on the host without a copy where it allows: numpy
    arrays as they are, DLPack exporters on the host (torch CPU tensors, ...) through
    np.from_dlpack; device tensors are moved to the host."""
    if isinstance(r, np.ndarray):
        return r
    if hasattr(r, "detach"):  # a torch tensor: no autograd graph to keep
        r = r.detach()
    if hasattr(r, "__dlpack__"):
        try:
            return np.from_dlpack(r)
        except (BufferError, RuntimeError, TypeError, ValueError):
            if hasattr(r, "cpu"):
                return np.from_dlpack(r.cpu())
            raise
    return np.asarray(r)


def _numpy_adapter(fn: Callable) -> Callable:
    """The C callback of a numpy denoiser: float64 host arrays over the batch (ref's
    batches themselves; on cpu and cuda the library's float64 host copies), x and sigma
    read-only; fn(x, sigma)'s result is written into out."""

    def call(xv, sm, ov):
        x, out = np.asarray(xv), np.asarray(ov)
        r = _host_result(fn(x, np.frombuffer(sm, dtype=np.float64)))
        if r.size != out.size:
            raise ValueError(
                f"denoiser returned shape {r.shape} for x of shape {x.shape}"
                " (expected the shape of x)"
            )
        if not np.shares_memory(r, out):
            out[...] = r.reshape(out.shape)

    return call


def torch_denoiser(module, device=None, dtype=None, copy_input: bool = False) -> Callable:
    """Adapts a torch module (or function) ``D(x, sigma)`` on torch tensors for
    ``Model.from_denoiser``. x reaches it through DLPack without a copy: the batch itself,
    float64 on the ref backend, float32 on cpu, a float32 CUDA tensor on cuda (kDLCUDA).
    It is moved to ``device`` (default: the module's, else the batch's) as ``dtype``
    (default: the module's parameter dtype, else the batch's) only where these differ.
    x is the solver's state: the module must not write to it (``copy_input=True`` hands
    it a copy). The result is written into the output batch on its device (one copy into
    the library's memory; none through the host on cuda). On CUDA the device is
    synchronised before and after the module (the library's work, then torch's, finish)."""
    import torch

    params = list(module.parameters()) if hasattr(module, "parameters") else []
    dev = torch.device(device) if device else (params[0].device if params else None)
    dt = dtype or (params[0].dtype if params else None)

    def call(xv, sm, ov):
        with torch.no_grad():
            tx = torch.from_dlpack(xv)
            if tx.is_cuda:
                torch.cuda.synchronize(tx.device)
            tin = tx.to(device=dev or tx.device, dtype=dt or tx.dtype)
            if copy_input and tin.data_ptr() == tx.data_ptr():
                tin = tin.clone()
            ts = torch.tensor(np.frombuffer(sm, dtype=np.float64), dtype=tin.dtype, device=tin.device)
            r = module(tin, ts)
            tout = torch.from_dlpack(ov)
            if r.numel() != tout.numel():
                raise ValueError(
                    f"denoiser returned shape {tuple(r.shape)} for x of shape"
                    f" {tuple(tx.shape)} (expected the shape of x)"
                )
            if r.data_ptr() != tout.data_ptr():
                tout.copy_(r.reshape(tout.shape))
            if tout.is_cuda:
                torch.cuda.synchronize(tout.device)

    call._diffsamp_accepts = _core.ACCEPT_HOST_F64 | _core.ACCEPT_HOST_F32 | _core.ACCEPT_CUDA_F32
    return call


class Model:
    """A model diffsamp samples from. Build one with ``Model.empirical``,
    ``Model.gaussian``, ``Model.gmm``, ``Model.load`` or ``Model.from_denoiser``."""

    def __init__(self, core, train=None, gaussian: Optional["Model"] = None):
        self._core = core
        self._info = core.info()
        self._train = train  # (rows or path, labels, shape) for a teleport Gaussian fit
        self._gaussian = gaussian

    # ---- construction ----

    @classmethod
    def _fit(cls, kind, data, labels=None, **opts) -> "Model":
        train = _training(data, labels)
        return cls(_fit_core(kind, *train, **opts), train=train)

    @classmethod
    def empirical(cls, Y, labels=None) -> "Model":
        """The empirical model: the training set itself (the exact score of its
        Gaussian-smoothed distribution). Y: N x d (or N x C x H x W) array, or a data
        set path (then ``save`` can refer to the file)."""
        return cls._fit("empirical", Y, labels)

    @classmethod
    def gaussian(cls, Y, rank: Optional[int] = None) -> "Model":
        """A Gaussian fitted to Y (mean and covariance; ``rank`` keeps the top-rank
        eigenvectors plus an isotropic residual, None: full rank)."""
        return cls._fit("gaussian", Y, rank=int(rank or 0))

    @classmethod
    def gmm(
        cls,
        Y,
        k: int = 10,
        seed: int = 0,
        rank: Optional[int] = None,
        labels=None,
        from_labels: bool = False,
        kmeans_iters: int = 50,
        var_floor: float = 1e-4,
    ) -> "Model":
        """A Gaussian mixture of k components (k-means++ with ``seed``, then one
        Gaussian per cluster; ``from_labels``: one component per class label)."""
        return cls._fit(
            "gmm",
            Y,
            labels,
            k=int(k),
            seed=int(seed),
            rank=int(rank or 0),
            from_labels=bool(from_labels),
            kmeans_iters=int(kmeans_iters),
            var_floor=float(var_floor),
        )

    @classmethod
    def load(cls, dir) -> "Model":
        """Reads a model folder written by ``save`` or ``diffsamp prepare``."""
        return cls(_core.load_model(os.fspath(dir)))

    @classmethod
    def from_denoiser(
        cls,
        D: Callable,
        dim: int,
        shape: Optional[Tuple[int, int, int]] = None,
        gaussian: Optional["Model"] = None,
    ) -> "Model":
        """Your own denoiser as a model for every solver, schedule, GITS and teleport.

        D(x, sigma) -> array: x is rows x dim (float64, read-only), sigma one value per
        row; it returns D(x; sigma) of x's shape (numpy, or anything exporting DLPack,
        such as torch tensors, taken without a copy on the host). On the ref backend x is
        a view of the solver's batch (no copy); on cpu and cuda a float64 host copy.
        ``torch_denoiser(module)`` instead hands a torch module the batch itself through
        DLPack on every backend (CUDA tensors on cuda). ``shape`` (C, H, W) makes samples
        images; ``gaussian`` is the Gaussian model teleporting jumps with.
        """
        if shape is not None and int(np.prod(shape)) != dim:
            raise ValueError(f"from_denoiser: shape {shape} does not hold dim = {dim} values")
        accepts = getattr(D, "_diffsamp_accepts", None)
        fn = D if accepts else _numpy_adapter(D)
        core = _core.callback_model(int(dim), fn, accepts or _core.ACCEPT_HOST_F64)
        m = cls(core, gaussian=gaussian)
        m._shape = tuple(shape) if shape else (0, 0, 0)
        return m

    def save(self, dir) -> None:
        """Writes the model folder (model.txt and .npy arrays), as ``diffsamp prepare``."""
        self._core.save(os.fspath(dir))

    # ---- properties ----

    @property
    def kind(self) -> str:
        """"empirical", "gaussian", "gmm" or "callback"."""
        return self._info["kind"]

    @property
    def d(self) -> int:
        """Data dimension."""
        return self._info["d"]

    @property
    def shape(self) -> Optional[Tuple[int, int, int]]:
        """(C, H, W) of image models, else None."""
        s = getattr(self, "_shape", None) or self._info["shape"]
        return tuple(s) if s[0] > 0 else None

    @property
    def sigma_data(self) -> float:
        """Root-mean-square deviation of the training data from its mean."""
        return self._info["sigma_data"]

    @property
    def mean(self) -> np.ndarray:
        """Mean of the training data (d,)."""
        return np.frombuffer(self._core.mean(), dtype=np.float64)

    def __repr__(self) -> str:
        shape = f", shape={self.shape}" if self.shape else ""
        return f"Model(kind={self.kind!r}, d={self.d}{shape})"

    # ---- evaluation ----

    def denoise(self, x, sigma, backend: str = "auto") -> np.ndarray:
        """D(x; sigma) for rows x (rows x d, or images); sigma: one value or one per
        row. Returns float64 of x's shape. float64 C-ordered x is read in place."""
        from .sampling import denoise

        return denoise(self, x, sigma, backend=backend)

    def teleport_gaussian(self) -> "Model":
        """The Gaussian teleporting jumps with: the one given to ``from_denoiser``, the
        model itself when Gaussian, else one fitted to its training data (as the CLI)."""
        if self._gaussian is not None:
            return self._gaussian
        if self.kind == "gaussian":
            return self
        if self._train is None:
            raise ValueError(
                "teleport: this model holds no training data; pass teleport_model= "
                "(a Gaussian Model)"
            )
        x, _, shape = self._train
        self._gaussian = Model(_fit_core("gaussian", x, None, shape))
        return self._gaussian
