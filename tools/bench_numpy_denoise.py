#!/usr/bin/python3
"""The empirical denoiser in numpy (float32), the baseline of bench/bench_cpu_denoise.c:
logits X Y^T, a row-wise log-sum-exp and P Y, without chunking, on Fashion-MNIST
(N = 60,000, d = 784) or random rows of that shape. Prints "numpy_denoise_ms M"
(median over the repeats) and "numpy_denoise_gflops G" (4 B N d per evaluation).

usage: /usr/bin/python3 tools/bench_numpy_denoise.py [B] [repeats] [idx.gz path]
Run it with Debian's python3 (it has python3-numpy), not a pyenv python.
"""
import python_with_numpy  # noqa: F401 (first: re-runs with a Python that has numpy)
import gzip
import os
import sys
import time

import numpy as np


def load_rows(path):
    if os.path.exists(path):
        with gzip.open(path) as f:
            raw = np.frombuffer(f.read(), np.uint8, offset=16)
        return (raw.reshape(-1, 784).astype(np.float32) / np.float32(127.5)) - np.float32(1), path
    rng = np.random.default_rng(7)
    return (rng.standard_normal((60000, 784)) / 3).astype(np.float32), "random"


def denoise(x, y, half_sq, mean, sigma):
    logits = ((x - mean) @ y.T - half_sq) * np.float32(1.0 / (sigma * sigma))
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    return p @ y + mean


def main():
    b = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    path = sys.argv[3] if len(sys.argv) > 3 else \
        "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
    rows, source = load_rows(path)
    mean = rows.mean(axis=0, dtype=np.float64).astype(np.float32)
    y = rows - mean
    half_sq = np.float32(0.5) * np.einsum("ij,ij->i", y, y)
    sigma = 1.0
    rng = np.random.default_rng(1)
    x = rows[(np.arange(b) * 233) % len(y)] + np.float32(sigma) * rng.standard_normal(
        (b, y.shape[1])).astype(np.float32)
    times = []
    for r in range(repeats + 1):  # r = 0: warm-up
        t0 = time.perf_counter()
        denoise(x, y, half_sq, mean, sigma)
        if r > 0:
            times.append((time.perf_counter() - t0) * 1e3)
    ms = float(np.median(times))
    print(f"numpy_data {source}")
    print(f"numpy_denoise_ms {ms:.2f}")
    print(f"numpy_denoise_gflops {4.0 * b * y.shape[0] * y.shape[1] / ms * 1e-6:.1f}")


if __name__ == "__main__":
    main()
