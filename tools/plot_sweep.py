#!/usr/bin/python3
"""Error against the adaptive ground truth vs NFE, one line per solver/schedule (log-log),
from the CSV of `diffsamp sweep`.

usage: tools/plot_sweep.py sweep.csv out.png [--metric error_mean] [--where teleport=0 ...]
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
    ap.add_argument("--metric", default="error_mean", help="column to plot against nfe")
    ap.add_argument("--where", action="append", default=[],
                    help="keep only rows with COLUMN=VALUE (repeatable)")
    args = ap.parse_args()
    keep = [w.split("=", 1) for w in args.where]
    lines = defaultdict(list)
    for r in read_csv(args.csv):
        if r["solver"] == "adaptive" or any(r[c] != v for c, v in keep):
            continue
        key = f"{r['solver']} / {r['schedule']}" + (
            f" / teleport {r['teleport']}" if r["teleport"] not in ("0", "none", "") else "")
        lines[key].append((number(r["nfe"]), number(r[args.metric])))
    fig, ax = plt.subplots(figsize=(7, 5))
    for key, pts in sorted(lines.items()):
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=key)
    ax.set_xscale("log")
    ax.set_yscale("log")
    nfes = sorted({p[0] for pts in lines.values() for p in pts})
    ax.set_xticks(nfes)
    ax.set_xticklabels([f"{v:g}" for v in nfes])
    ax.set_xlabel("NFE")
    ax.set_ylabel(args.metric.replace("_", " ") + " vs adaptive")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, args.png)


if __name__ == "__main__":
    main()
