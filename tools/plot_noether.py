#!/usr/bin/python3
"""Most likely paths and their Noether quantities from `diffsamp analyze noether`: one
column per run folder (noether_nodes.csv, noether_midpoints.csv and, when the run had
data, noether_data.csv drawn in grey), rows: the paths in the (x0, x1) plane, the angular
momentum J, the momentum component p0 and the energy E along each path against t
(reverse process: t = sigma_from - sigma).

usage: tools/plot_noether.py out.png LABEL=FOLDER [LABEL=FOLDER ...]
"""
import argparse
import os

import matplotlib.pyplot as plt
import numpy as np
from plot_common import number, read_csv, save


def by_path(rows):
    paths = {}
    for r in rows:
        paths.setdefault(int(r["path"]), []).append(r)
    return [paths[k] for k in sorted(paths)]


def column(axes, label, folder):
    data = os.path.join(folder, "noether_data.csv")
    points = None
    if os.path.exists(data):
        points = np.array([[number(r["x0"]), number(r["x1"])] for r in read_csv(data)])
    nodes = by_path(read_csv(os.path.join(folder, "noether_nodes.csv")))
    mids = by_path(read_csv(os.path.join(folder, "noether_midpoints.csv")))
    ax_path, ax_j, ax_p, ax_e = axes
    if points is not None:
        ax_path.scatter(points[:, 0], points[:, 1], s=6, color="0.6", label="data")
    for i, (rows, mrows) in enumerate(zip(nodes, mids)):
        t = [number(r["t"]) for r in rows]
        line = ax_path.plot([number(r["x0"]) for r in rows], [number(r["x1"]) for r in rows],
                            lw=1.2, label=f"path {i}")[0]
        color = line.get_color()
        ax_path.plot(number(rows[-1]["x0"]), number(rows[-1]["x1"]), marker="*", color=color)
        ax_j.plot(t, [number(r["angular"]) for r in rows], color=color)
        ax_p.plot(t, [number(r["p0"]) for r in rows], color=color)
        ax_e.plot([number(r["t"]) for r in mrows], [number(r["energy"]) for r in mrows],
                  color=color)
    ax_path.plot(number(nodes[0][0]["x0"]), number(nodes[0][0]["x1"]), marker="o", color="k")
    ax_path.set_aspect("equal", adjustable="datalim")
    ax_path.set_title(label, fontsize=9)
    ax_path.set_xlabel("x0")
    ax_path.set_ylabel("x1")
    for ax, name in ((ax_j, "angular momentum J"), (ax_p, "momentum p0"), (ax_e, "energy E")):
        ax.set_ylabel(name, fontsize=8)
        ax.set_xlabel("t", fontsize=8)


def pairs(items):
    out = []
    for item in items:
        label, sep, path = item.rpartition("=")
        if not sep:
            raise SystemExit(f"plot_noether.py: '{item}': expected LABEL=PATH")
        out.append((label, path))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("png")
    ap.add_argument("runs", nargs="+", help="LABEL=FOLDER of an analyze noether run")
    args = ap.parse_args()
    runs = pairs(args.runs)
    fig, axes = plt.subplots(4, len(runs), figsize=(3.6 * len(runs), 11), squeeze=False)
    for c, (label, folder) in enumerate(runs):
        column(axes[:, c], label, folder)
    save(fig, args.png)


if __name__ == "__main__":
    main()
