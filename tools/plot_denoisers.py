#!/usr/bin/python3
"""Relative difference between denoisers vs sigma (log-log), from the CSV of
`diffsamp analyze denoisers`; the crossover threshold is drawn as a line.

usage: tools/plot_denoisers.py denoisers.csv out.png [--threshold 0.1]
"""
import python_with_numpy  # noqa: F401 (first: re-runs with a Python that has numpy)
import argparse
from collections import defaultdict

import matplotlib.pyplot as plt
from plot_common import number, read_csv, save


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv")
    ap.add_argument("png")
    ap.add_argument("--threshold", type=float, default=0.1)
    args = ap.parse_args()
    lines = defaultdict(list)
    for r in read_csv(args.csv):
        key = f"{r['model']} vs {r['reference']}, {r['points']} points"
        lines[key].append((number(r["sigma"]), number(r["rel_diff"])))
    fig, ax = plt.subplots(figsize=(7, 5))
    for key, pts in sorted(lines.items()):
        pts.sort()
        style = "-" if "train" in key else "--"
        ax.plot([p[0] for p in pts], [p[1] for p in pts], style, marker=".", label=key)
    ax.axhline(args.threshold, color="grey", lw=0.8, ls=":", label=f"threshold {args.threshold}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("sigma")
    ax.set_ylabel("|D_model - D_ref| / |D_ref|")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, args.png)


if __name__ == "__main__":
    main()
