"""Denoising, schedules and sampling runs, with the CLI's names and defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np

from . import _core
from ._arrays import rows_f64
from .models import Model


def denoise(model: Model, x, sigma, backend: str = "auto") -> np.ndarray:
    """D(x; sigma) of ``model`` for rows x (rows x d, or rows x C x H x W); sigma: one
    value or one per row. Returns float64 of x's shape. The model stays bound to the
    backend between calls (the training rows are uploaded once)."""
    shape = np.shape(x)
    a = rows_f64(x, model.d)
    s = np.ascontiguousarray(np.atleast_1d(np.asarray(sigma, dtype=np.float64)).ravel())
    out = np.empty_like(a)
    _core.denoise(model._core, a, a.shape[0], s, out, backend)
    return out.reshape(shape) if len(shape) > 1 else out.reshape(-1)


def _schedule_opts(
    schedule, steps, sigma_min, sigma_max, rho, final_zero, gits
) -> dict:
    o = dict(
        steps=int(steps),
        sigma_min=float(sigma_min),
        sigma_max=float(sigma_max),
        rho=float(rho),
        final_zero=bool(final_zero),
    )
    if isinstance(schedule, str):
        o["kind"] = schedule
    else:  # the caller's sigmas
        o["kind"] = "list"
        o["sigmas"] = np.ascontiguousarray(np.asarray(schedule, dtype=np.float64).ravel())
    for key, value in (gits or {}).items():
        o[key] = value
    return o


def schedule(
    kind: Union[str, Sequence[float]] = "edm",
    steps: int = 18,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    rho: float = 7.0,
    final_zero: bool = True,
    path: Optional[str] = None,
    model: Optional[Model] = None,
    sampler: str = "heun",
    gits: Optional[dict] = None,
    backend: str = "auto",
) -> np.ndarray:
    """The decreasing sigmas a solver walks down (float64 array).

    kind: "edm" (Karras rho-polynomial), "logsnr", "vp", "file" (``path``: one sigma a
    line), "gits" (needs ``model``; its teacher runs on ``backend``; ``gits`` options:
    teacher_steps, warmup, coeff, gits_seed, metric, teacher), or a sequence of sigmas
    (checked and returned as given). With final_zero (the default) N = steps sigmas
    from sigma_max to sigma_min, then 0.
    """
    o = _schedule_opts(kind, steps, sigma_min, sigma_max, rho, final_zero, gits)
    o["sampler"] = sampler
    if path is not None:
        o["path"] = str(path)
    core = model._core if model is not None else None
    return np.array(_core.schedule(o, core, backend), dtype=np.float64)


@dataclass
class Trajectory:
    """A recorded run: ``x`` (points x n x d) at every schedule point from where the
    solver starts, ``denoised`` ((points - 1) x n x d) and their ``sigmas``."""

    x: np.ndarray
    denoised: np.ndarray
    sigmas: np.ndarray


@dataclass
class SampleResult:
    """samples: n x d, or n x C x H x W for image models; sigmas: the schedule built
    (before teleporting); nfe: denoiser evaluations per sample; nfe_full: NFE without
    teleporting (-1 for adaptive); sigma_start: where the solver started; seconds: the
    library's time; trajectory: a Trajectory when asked."""

    samples: np.ndarray
    sigmas: np.ndarray
    nfe: int
    nfe_full: int
    sigma_start: float
    seconds: float
    trajectory: Optional[Trajectory] = None


def sample(
    model: Model,
    n: int = 16,
    sampler: str = "heun",
    steps: int = 18,
    schedule: Union[str, Sequence[float]] = "edm",
    teleport: Optional[float] = None,
    seed: int = 0,
    noise=None,
    backend: str = "auto",
    trajectory: bool = False,
    *,
    teleport_fraction: Optional[float] = None,
    teleport_model: Optional[Model] = None,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    rho: float = 7.0,
    final_zero: bool = True,
    batch: int = 256,
    first_row: int = 0,
    order: int = 0,
    lower_order_final: bool = True,
    variant: str = "bh2",
    rtol: float = 1e-5,
    atol: float = 1e-5,
    full_order: bool = False,
    afs: bool = False,
    dynamic_threshold: bool = False,
    deis_riemann: int = 0,
    gits: Optional[dict] = None,
    progress: bool = False,
) -> SampleResult:
    """Samples n rows as ``diffsamp sample`` does (same names and defaults).

    x = sigma_max * noise (Philox noise from ``seed``: row i of a run is noise row
    first_row + i, as the CLI's; or ``noise``, n x d standard normal rows), an optional
    analytical teleport (``teleport``: the sigma to jump to; ``teleport_fraction``: the
    fraction of steps to skip) with a Gaussian (``teleport_model``, else
    ``model.teleport_gaussian()``), then the solver down the schedule (a kind, or your
    own sigmas). Ctrl-C stops the run before the next denoiser call (KeyboardInterrupt).
    """
    o = _schedule_opts(schedule, steps, sigma_min, sigma_max, rho, final_zero, gits)
    o.update(
        sampler=sampler,
        n=int(n),
        batch=int(batch),
        seed=int(seed),
        first_row=int(first_row),
        order=int(order),
        lower_order_final=bool(lower_order_final),
        variant=variant,
        rtol=float(rtol),
        atol=float(atol),
        full_order=bool(full_order),
        afs=bool(afs),
        dynamic_threshold=bool(dynamic_threshold),
        deis_riemann=int(deis_riemann),
        trajectory=bool(trajectory),
        progress=bool(progress),
    )
    gauss = None
    if teleport or teleport_fraction:
        o["teleport_sigma"] = float(teleport or 0.0)
        o["teleport_fraction"] = float(teleport_fraction or 0.0)
        gauss = (teleport_model or model.teleport_gaussian())._core
    if noise is not None:
        noise = rows_f64(noise, model.d, "noise")
        if noise.shape[0] < n:
            raise ValueError(f"noise: {noise.shape[0]} rows for n = {n}")
        noise = noise[:n]
    out = np.empty((int(n), model.d), dtype=np.float64)
    r = _core.sample(model._core, gauss, o, noise, out, backend)
    shape = model.shape
    samples = out.reshape((int(n),) + shape) if shape else out
    traj = None
    if "trajectory" in r:
        t = r["trajectory"]
        pts, rows = t["points"], t["rows"]
        traj = Trajectory(
            x=np.frombuffer(t["x"], dtype=np.float64).reshape(pts, rows, model.d),
            denoised=np.frombuffer(t["denoised"], dtype=np.float64).reshape(pts - 1, rows, model.d),
            sigmas=np.array(t["sigmas"]),
        )
    return SampleResult(
        samples=samples,
        sigmas=np.array(r["sigmas"]),
        nfe=r["nfe"],
        nfe_full=r["nfe_full"],
        sigma_start=r["sigma_start"],
        seconds=r["seconds"],
        trajectory=traj,
    )
