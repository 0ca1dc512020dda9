#!/usr/bin/python3
"""Density of the pooled samples of several models of a 2-D toy set, one panel each, with
the training points in red (the manner of Vastola 2025, figure 3), from the folders
tools/findings_linear_features.sh writes (each holds pooled.npy, the samples of every
seed, n x 2).

usage: tools/plot_linear_features.py out.png data.npy folder[:label] [folder[:label] ...]
"""
import python_with_numpy  # noqa: F401 (first: re-runs with a Python that has numpy)
import os
import sys

import matplotlib.pyplot as plt
import numpy as np
from plot_common import save


def main(argv):
    if len(argv) < 4:
        sys.exit(__doc__)
    out, data = argv[1], np.load(argv[2])
    panels = []
    for arg in argv[3:]:
        folder, sep, label = arg.rpartition(":")
        panels.append((folder, label) if sep else (arg, os.path.basename(arg.rstrip("/"))))
    cols = min(3, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows), squeeze=False)
    edges = np.linspace(-1.5, 1.5, 121)
    for ax, (folder, label) in zip(axes.flat, panels):
        x = np.load(os.path.join(folder, "pooled.npy")).reshape(-1, 2)
        h, _, _ = np.histogram2d(x[:, 0], x[:, 1], bins=[edges, edges])
        ax.imshow(np.log1p(h.T), origin="lower", extent=(-1.5, 1.5, -1.5, 1.5), cmap="magma")
        ax.scatter(data[:, 0], data[:, 1], s=18, c="red", marker="o")
        ax.set_title(f"{label} ({len(x)} samples)", fontsize=9)
        ax.set_xticks([-1, 0, 1])
        ax.set_yticks([-1, 0, 1])
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    save(fig, out)


if __name__ == "__main__":
    main(sys.argv)
