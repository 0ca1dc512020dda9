#!/usr/bin/python3
"""Sample grid of several models from the same noise: per model, a row of its first
samples and below it the nearest training image of each (from analyze memorization).

usage: tools/plot_models.py TRAIN.npy out.png NAME=FOLDER ... [--cols 8]

FOLDER holds samples.npy (rows of the image shape of TRAIN.npy, grey) and
memorization.csv; TRAIN.npy is the (N, H, W) training set the models were fitted to.
"""
import python_with_numpy  # noqa: F401 (first: re-runs with a Python that has numpy)
import argparse

import numpy as np

from plot_common import plt, read_csv, save


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("out")
    ap.add_argument("models", nargs="+", help="NAME=FOLDER")
    ap.add_argument("--cols", type=int, default=8)
    a = ap.parse_args()
    train = np.load(a.train, mmap_mode="r")
    h, w = train.shape[1], train.shape[2]
    to_unit = (lambda v: v / 255.0) if train.dtype == np.uint8 else (lambda v: (v + 1) / 2)
    fig, axes = plt.subplots(2 * len(a.models), a.cols, figsize=(a.cols * 0.9, len(a.models) * 2.0),
                             squeeze=False)
    for m, spec in enumerate(a.models):
        name, folder = spec.split("=", 1)
        x = np.load(folder + "/samples.npy").reshape(-1, h, w)
        nearest = [int(r["nearest"]) for r in read_csv(folder + "/memorization.csv")]
        for c in range(a.cols):
            if c >= len(x):  # a model run with fewer samples leaves its cells blank
                for r in (2 * m, 2 * m + 1):
                    axes[r][c].axis("off")
                continue
            for r, img in ((2 * m, (x[c] + 1) / 2), (2 * m + 1, to_unit(train[nearest[c]]))):
                ax = axes[r][c]
                ax.imshow(np.clip(img, 0, 1), cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
        axes[2 * m][0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
        axes[2 * m + 1][0].set_ylabel("nearest", rotation=0, ha="right", va="center", fontsize=7)
    save(fig, a.out)


if __name__ == "__main__":
    main()
