#!/usr/bin/env python3
"""diffsamp from Python: the overhead of one denoise call, a sampling run against the
CLI on the same work, and against a plain numpy script doing the same exact-score
(empirical) sampling; plus the cost of a Python denoiser inside diffsamp's solvers.
Every ratio is measured in this run, on this machine.

Usage: python bench/bench_python.py [--data PATH] [--train N] [--n N] [--steps N]
       (needs the package installed: pip install .). Per-call figures are given in CPU
       time too (process_time), which a loaded machine moves less than wall time.
"""

import argparse
import json
import os
import subprocess
import tempfile
import time

import numpy as np

import diffsamp as ds


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), float(np.median(times))


def numpy_empirical_heun(y, sigmas, x):
    """The numpy script: EDM Heun on the empirical denoiser, float32 BLAS as diffsamp's cpu
    backend (softmax over centred training rows)."""
    mean = y.mean(0)
    yc = (y - mean).astype(np.float32)
    half = 0.5 * (yc.astype(np.float64) ** 2).sum(1).astype(np.float32)

    def D(x, s):
        xc = (x - mean).astype(np.float32)
        logits = (xc @ yc.T - half) / np.float32(s * s)
        logits -= logits.max(1, keepdims=True)
        w = np.exp(logits)
        w /= w.sum(1, keepdims=True)
        return (w @ yc).astype(np.float64) + mean

    for i in range(len(sigmas) - 1):
        s, t = sigmas[i], sigmas[i + 1]
        d = (x - D(x, s)) / s
        xn = x + (t - s) * d
        if t > 0:
            xn = x + (t - s) * 0.5 * (d + (xn - D(xn, t)) / t)
        x = xn
    return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=ds.DEFAULT_DATA)
    ap.add_argument("--train", type=int, default=10000, help="training rows used")
    ap.add_argument("--n", type=int, default=256, help="samples")
    ap.add_argument("--steps", type=int, default=18)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    cli = os.path.join(os.path.dirname(ds.__file__), "bin", "diffsamp")

    # 1. One denoise call on a tiny model (d = 4, one row; the work is < 1 us), and
    # the same call through the library's C entry point without the package's checks.
    g = ds.Model.gaussian(np.random.default_rng(0).standard_normal((100, 4)))
    x1 = np.ones((1, 4))
    for backend in ("ref", "cpu"):
        g.denoise(x1, 1.0, backend=backend)
        n_calls = 20000
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n_calls):
            g.denoise(x1, 1.0, backend=backend)
        per = (time.perf_counter() - t0) / n_calls
        cpu = (time.process_time() - c0) / n_calls
        print(f"denoise call, d = 4, 1 row, {backend}: {per * 1e6:.1f} us wall, {cpu * 1e6:.1f} us "
              f"CPU per call (work < 1 us: an upper bound on the Python overhead; goal <= 50 us)")

    # 2. A Python denoiser inside the solvers against the built-in Gaussian (same
    # work: d = 4, the numpy Gaussian denoiser costs a few us).
    mu = g.mean

    def pyden(x, s):
        return mu + (x - mu) / (1 + s[:, None] ** 2)

    cb = ds.Model.from_denoiser(pyden, dim=4)
    def cpu_time(fn):
        c0 = time.process_time()
        fn()
        return time.process_time() - c0

    tb = min(cpu_time(lambda: ds.sample(g, n=1, steps=200, backend="ref")) for _ in range(a.repeat))
    tc = min(cpu_time(lambda: ds.sample(cb, n=1, steps=200, backend="ref")) for _ in range(a.repeat))
    print(f"Python denoiser in the solver (heun, 399 calls, d = 4, CPU time): {tc / 399 * 1e6:.1f} "
          f"us per call vs built-in {tb / 399 * 1e6:.1f} us per call")

    # 3. Sampling: Python API vs the CLI (same model folder, n, steps, backend cpu), and
    # vs the numpy script on the same sigmas and noise.
    x, _ = ds.load_data(a.data)
    y = x[: a.train].reshape(a.train, -1)
    with tempfile.TemporaryDirectory() as tmp:
        np.save(os.path.join(tmp, "y.npy"), y)
        subprocess.run([cli, "prepare", "--data", os.path.join(tmp, "y.npy"), "--model",
                        "empirical", "--out", os.path.join(tmp, "m")], check=True,
                       capture_output=True)
        m = ds.Model.load(os.path.join(tmp, "m"))
        # Interleaved, best of each: the machine's load moves both alike.
        cli_times, py_times, py_lib = [], [], []
        for r in range(a.repeat):
            out = os.path.join(tmp, f"s{r}")
            subprocess.run([cli, "sample", "--model-dir", os.path.join(tmp, "m"), "--n",
                            str(a.n), "--steps", str(a.steps), "--backend", "cpu", "--no-npy",
                            "--out", out], check=True, capture_output=True)
            with open(os.path.join(out, "run.json")) as f:
                cli_times.append(json.load(f)["seconds"]["sample"])
            t0 = time.perf_counter()
            res = ds.sample(m, n=a.n, steps=a.steps, backend="cpu")
            py_times.append(time.perf_counter() - t0)
            py_lib.append(res.seconds)
        tp, tcli = min(py_times), min(cli_times)
        wrap = min(w - l for w, l in zip(py_times, py_lib))
        print(f"sample, empirical N = {a.train}, d = {y.shape[1]}, n = {a.n}, heun "
              f"{a.steps} steps, cpu: Python {tp:.3f} s (median {np.median(py_times):.3f}), "
              f"CLI (run.json sample time) {tcli:.3f} s (median {np.median(cli_times):.3f}): "
              f"Python / CLI = {tp / tcli:.3f} (goal <= 1.02); Python's own share of a run "
              f"(wall - library time) {wrap * 1e3:.2f} ms = {wrap / tp * 100:.3f}%")
        sig = ds.schedule("edm", steps=a.steps)
        noise = np.random.default_rng(1).standard_normal((a.n, y.shape[1]))
        yf = y.astype(np.float64)
        tn, tnm = best_of(lambda: numpy_empirical_heun(yf, sig, sig[0] * noise), a.repeat)
        tq, _ = best_of(lambda: ds.sample(m, n=a.n, steps=a.steps, noise=noise, backend="cpu"),
                        a.repeat)
        got = ds.sample(m, n=a.n, steps=a.steps, noise=noise, backend="ref" if a.n <= 16 else "cpu")
        want = numpy_empirical_heun(yf, sig, sig[0] * noise)
        err = np.linalg.norm(got.samples.reshape(a.n, -1) - want) / np.linalg.norm(want)
        print(f"same run in the numpy script: {tn:.3f} s (median {tnm:.3f}); diffsamp {tq:.3f} s: "
              f"numpy / diffsamp = {tn / tq:.2f}; samples differ by {err:.2e} (relative)")


if __name__ == "__main__":
    main()
