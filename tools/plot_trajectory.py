#!/usr/bin/python3
"""Trajectory geometry plots from `diffsamp analyze trajectory` and a recorded run:
deviation from the chord and convergence to the final sample (from the steps CSV), and
a 2-D projection of a few trajectories onto each one's top two principal components
(from PREFIX_x.npy and PREFIX_denoised.npy).

usage: tools/plot_trajectory.py trajectory_steps.csv out.png [--trajectory PREFIX]
"""
import python_with_numpy  # noqa: F401 (first: re-runs with a Python that has numpy)
import argparse

import matplotlib.pyplot as plt
import numpy as np
from plot_common import number, read_csv, save


def positive(values):
    """Zeros (the final point's distance to itself) left out of log plots."""
    return [v if v > 0 else float("nan") for v in values]


def curves(ax_dev, ax_conv, rows):
    sigma = [number(r["sigma"]) for r in rows]
    step = [number(r["step"]) for r in rows]
    ax_dev.plot(step, [number(r["deviation_mean"]) for r in rows], marker=".", label="mean")
    ax_dev.plot(step, [number(r["deviation_q95"]) for r in rows], marker=".", label="95% quantile")
    ax_dev.set_xlabel("step")
    ax_dev.set_ylabel("distance to chord / chord length")
    ax_dev.set_title("deviation from the straight line")
    ax_dev.legend(fontsize=8)
    ax_conv.plot(step, positive([number(r["dist_x_mean"]) for r in rows]), marker=".",
                 label="sampling |x_i - x_final|")
    ax_conv.plot(step, positive([number(r["dist_denoised_mean"]) for r in rows]), marker=".",
                 label="denoising |D(x_i) - x_final|")
    ax_conv.set_yscale("log")
    ax_conv.set_xlabel("step")
    ax_conv.set_ylabel("mean distance to the final sample")
    ax_conv.set_title("convergence")
    ax_conv.legend(fontsize=8)
    top = ax_conv.secondary_xaxis("top")
    ticks = step[:: max(1, len(step) // 5)]
    top.set_xticks(ticks)
    top.set_xticklabels([f"{sigma[int(t)]:.3g}" for t in ticks], fontsize=7)
    top.set_xlabel("sigma", fontsize=8)


def projection(ax, prefix, count=6):
    x = np.load(prefix + "_x.npy")
    den = np.load(prefix + "_denoised.npy")
    for b in range(min(count, x.shape[1])):
        pts = x[:, b, :]
        mean = pts.mean(axis=0)
        scale = np.linalg.norm(pts[0] - pts[-1])
        if scale == 0:  # a sample that ends where it started has no chord to scale by
            continue
        _, _, vt = np.linalg.svd(pts - mean, full_matrices=False)
        basis = np.zeros((pts.shape[1], 2))  # PC 2 stays 0 for one-dimensional data
        basis[:, : min(2, len(vt))] = vt[:2].T
        p = (pts - mean) @ basis / scale
        q = (den[:, b, :] - mean) @ basis / scale
        line = ax.plot(p[:, 0], p[:, 1], marker=".", lw=1)[0]
        ax.plot(q[:, 0], q[:, 1], ls=":", color=line.get_color(), lw=1)
        ax.plot(p[-1, 0], p[-1, 1], marker="*", color=line.get_color(), ms=10)
    ax.set_title("x_i (solid) and D(x_i) (dotted), own top-2 PCs")
    ax.set_xlabel("PC 1 / chord length")
    ax.set_ylabel("PC 2 / chord length")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv")
    ap.add_argument("png")
    ap.add_argument("--trajectory", help="PREFIX of the recorded trajectory for the projection")
    args = ap.parse_args()
    rows = read_csv(args.csv)
    panels = 3 if args.trajectory else 2
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 4.2))
    curves(axes[0], axes[1], rows)
    if args.trajectory:
        projection(axes[2], args.trajectory)
    save(fig, args.png)


if __name__ == "__main__":
    main()
