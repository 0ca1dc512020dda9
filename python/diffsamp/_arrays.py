"""Array conversions shared by the package: C-ordered float64 / float32 views that copy
only when the dtype or layout does not already fit."""

from __future__ import annotations

import os
from typing import Optional, Tuple

import numpy as np

from . import _core

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def rows_f64(x, d: Optional[int] = None, what: str = "x") -> np.ndarray:
    """x as a C-ordered float64 (rows x d) array: no copy when it already is one."""
    a = np.asarray(x)
    if a.dtype != np.float64 or not a.flags.c_contiguous:
        a = np.ascontiguousarray(a, dtype=np.float64)
    if d is not None:
        if a.ndim == 2 and a.shape[1] == d:
            pass
        elif a.ndim == 1 and a.size == d:
            a = a.reshape(1, d)
        elif a.ndim >= 2 and a.size % d == 0 and int(np.prod(a.shape[1:])) == d:
            a = a.reshape(a.shape[0], d)
        else:
            raise ValueError(f"{what}: shape {a.shape} does not hold rows of d = {d} values")
    return a


def rows_train(x, what: str = "data") -> np.ndarray:
    """Training rows as a C-ordered float32 or float64 (n x d) array, kept in their own
    precision (no copy when they are one of the two; other dtypes become float64)."""
    a = np.asarray(x)
    if a.dtype not in (np.float32, np.float64) or not a.flags.c_contiguous:
        a = np.ascontiguousarray(a, dtype=a.dtype if a.dtype == np.float32 else np.float64)
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    if a.ndim > 2:
        a = a.reshape(a.shape[0], -1)
    if a.ndim != 2 or a.shape[0] < 1:
        raise ValueError(f"{what}: expected an N x d array, got shape {a.shape}")
    return a


def image_shape(x) -> Tuple[int, int, int]:
    """(C, H, W) of N x C x H x W or N x H x W input, (0, 0, 0) for plain rows."""
    shape = np.shape(x)
    if len(shape) == 4:
        return tuple(int(v) for v in shape[1:])
    if len(shape) == 3:
        return (1, int(shape[1]), int(shape[2]))
    return (0, 0, 0)


def load_data(path: str = DEFAULT_DATA) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Loads a data set as the CLI does (.npy, IDX (.gz), CIFAR-10 .bin, PNG folder).

    Returns ``(x, labels)``: x float32, N x C x H x W for images (uint8 pixels mapped to
    [-1, 1]) or N x d; labels int32 (N,) or None.
    """
    r = _core.load_data(os.fspath(path))
    x = np.frombuffer(r["x"], dtype=np.float32).reshape(r["n"], r["d"])
    c, h, w = r["shape"]
    if c * h * w == r["d"] and c > 0:
        x = x.reshape(r["n"], c, h, w)
    labels = None if r["labels"] is None else np.frombuffer(r["labels"], dtype=np.int32)
    return x, labels
