"""The analyses of ``diffsamp analyze``: trajectory geometry, memorisation, PCA-Frechet
distance and the comparison of denoisers across noise levels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from . import _core
from ._arrays import rows_train, rows_f64
from .models import Model

MEMORIZED_RATIO = 1.0 / 3.0


@dataclass
class TrajectoryGeometry:
    """Per sample (rows) and schedule point (columns): ``deviation`` from the chord x_0 ->
    final over its length; ``angle`` (degrees) between successive steps; ``pca_frac``
    (b x 3) variance fraction in the top 1, 2, 3 components; ``dist_x``,
    ``dist_denoised``: distances of x_s and D(x_s) to the final sample."""

    deviation: np.ndarray
    angle: np.ndarray
    pca_frac: np.ndarray
    dist_x: np.ndarray
    dist_denoised: np.ndarray


def trajectory_geometry(trajectory=None, *, x=None, denoised=None) -> TrajectoryGeometry:
    """Geometry of a recorded run: a ``SampleResult.trajectory``, or ``x`` (steps x b x
    d) and ``denoised`` (steps or steps - 1 points x b x d)."""
    if trajectory is not None:
        x, denoised = trajectory.x, trajectory.denoised
    x = np.ascontiguousarray(x, dtype=np.float64)
    denoised = np.ascontiguousarray(denoised, dtype=np.float64)
    if x.ndim != 3 or denoised.ndim != 3 or denoised.shape[1:] != x.shape[1:]:
        raise ValueError("trajectory: expected x (steps x b x d) and denoised (points x b x d)")
    steps, b, d = x.shape
    nd = denoised.shape[0]
    r = _core.traj_geometry(x, denoised, steps, b, d, nd)

    def arr(key, cols):
        return np.frombuffer(r[key], dtype=np.float64).reshape(b, cols)

    return TrajectoryGeometry(
        deviation=arr("deviation", steps),
        angle=arr("angle", max(steps - 2, 0)),
        pca_frac=arr("pca_frac", 3),
        dist_x=arr("dist_x", steps),
        dist_denoised=arr("dist_denoised", nd),
    )


@dataclass
class MemorizationResult:
    """nearest: index of each sample's nearest training row; d1, d2: distances to the
    nearest and second-nearest rows; ratio = d1 / d2; memorized: ratio < 1/3; fraction:
    the memorised share."""

    nearest: np.ndarray
    d1: np.ndarray
    d2: np.ndarray
    ratio: np.ndarray
    memorized: np.ndarray
    fraction: float


def memorization(samples, train) -> MemorizationResult:
    """Nearest training rows of each sample (the 1/3 distance-ratio criterion)."""
    t = rows_train(train, "train")
    x = rows_f64(samples, t.shape[1], "samples")
    r = _core.memorization(t, t.shape[0], t.shape[1], x, x.shape[0])
    ratio = np.frombuffer(r["ratio"], dtype=np.float64)
    return MemorizationResult(
        nearest=np.frombuffer(r["nearest"], dtype=np.int64),
        d1=np.frombuffer(r["d1"], dtype=np.float64),
        d2=np.frombuffer(r["d2"], dtype=np.float64),
        ratio=ratio,
        memorized=ratio < MEMORIZED_RATIO,
        fraction=r["fraction"],
    )


def pca_frechet(a, b, train, k: int = 64) -> float:
    """Frechet distance between Gaussians fitted to two sets of rows, in the space of
    the top-k principal components of ``train`` (the CLI's --pca-k 64)."""
    t = rows_train(train, "train")
    xa = rows_f64(a, t.shape[1], "a")
    xb = rows_f64(b, t.shape[1], "b")
    return _core.pca_frechet(t, t.shape[0], t.shape[1], int(k), xa, xa.shape[0], xb, xb.shape[0])


def compare_denoisers(
    reference: Model,
    models: Sequence[Model],
    y,
    sigmas: Optional[Sequence[float]] = None,
    seed: int = 0,
    backend: str = "auto",
):
    """Denoisers of ``models`` against ``reference`` at x = y_i + sigma n_i (n_i from
    ``seed``, as the CLI's): returns (sigmas, rel_diff, score_ev), rel_diff and score_ev
    of shape (len(models), len(sigmas)): |D_m - D_ref| / |D_ref| and the explained
    variance of the reference score. Default sigmas: 25 log-spaced from 0.002 to 80."""
    if sigmas is None:
        sigmas = np.geomspace(0.002, 80.0, 25)
    s = np.ascontiguousarray(np.asarray(sigmas, dtype=np.float64).ravel())
    pts = rows_f64(y, reference.d, "y")
    cores = [reference._core] + [m._core for m in models]
    rel, ev = _core.denoiser_diff(cores, pts, pts.shape[0], s, int(seed), backend)
    shape = (len(models), s.size)
    return (
        s,
        np.frombuffer(rel, dtype=np.float64).reshape(shape),
        np.frombuffer(ev, dtype=np.float64).reshape(shape),
    )
