#!/usr/bin/python3
"""Emergence plots from `diffsamp analyze emergence`: each principal component's
emergence sigma (median over samples, quartiles as bars) against its variance, with the
Gaussian closed form, and the measured medians against the closed form's prediction.

usage: tools/plot_emergence.py out.png emergence.csv[:label] [emergence.csv[:label] ...]
"""
import python_with_numpy  # noqa: F401 (first: re-runs with a Python that has numpy)
import argparse

import matplotlib.pyplot as plt
from plot_common import labelled, number, read_csv, save


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("png")
    ap.add_argument("csv", nargs="+", help="emergence.csv, optionally :label")
    args = ap.parse_args()
    fig, (ax_var, ax_pred) = plt.subplots(1, 2, figsize=(10, 4.2))
    lo, hi = float("inf"), 0.0
    for path, label in labelled(args.csv):
        rows = read_csv(path)
        var = [number(r["variance"]) for r in rows]
        med = [number(r["sigma_median"]) for r in rows]
        err = [[m - number(r["sigma_q25"]) for m, r in zip(med, rows)],
               [number(r["sigma_q75"]) - m for m, r in zip(med, rows)]]
        pred = [number(r["gaussian_predicted"]) for r in rows]
        line = ax_var.errorbar(var, med, yerr=err, fmt=".", ms=4, lw=0.6, label=label)
        ax_pred.plot(pred, med, ".", ms=5, color=line[0].get_color(), label=label)
        lo, hi = min(lo, *pred, *med), max(hi, *pred, *med)
    ax_var.plot(var, pred, "k--", lw=1, label="Gaussian closed form (median)")
    ax_var.set_xscale("log")
    ax_var.set_yscale("log")
    ax_var.set_xlabel("component variance lambda_j")
    ax_var.set_ylabel("emergence sigma (median, quartiles)")
    ax_var.set_title("outline first: high-variance components settle early")
    ax_var.legend(fontsize=8)
    ax_pred.plot([lo, hi], [lo, hi], "k:", lw=1, label="measured = predicted")
    ax_pred.set_xscale("log")
    ax_pred.set_yscale("log")
    ax_pred.set_xlabel("Gaussian closed form: sqrt(lambda ((1 - tol/0.674)^-2 - 1))")
    ax_pred.set_ylabel("measured emergence sigma (median)")
    ax_pred.set_title("measured against predicted, per component")
    ax_pred.legend(fontsize=8)
    save(fig, args.png)


if __name__ == "__main__":
    main()
