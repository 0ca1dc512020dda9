#!/usr/bin/python3
"""Perturbation plots from `diffsamp analyze perturbation`: the relative change of the
final samples against the sigma of the step perturbed, and the fraction of samples that
end on another training image (flip rate) or nearest another training row.

usage: tools/plot_perturbation.py out.png perturbation.csv[:label] [more.csv[:label] ...]
"""
import python_with_numpy  # noqa: F401 (first: re-runs with a Python that has numpy)
import argparse

import matplotlib.pyplot as plt
from plot_common import labelled, number, read_csv, save


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("png")
    ap.add_argument("csv", nargs="+", help="perturbation.csv, optionally :label")
    args = ap.parse_args()
    fig, (ax_change, ax_flip) = plt.subplots(1, 2, figsize=(10, 4.2))
    for path, label in labelled(args.csv):
        rows = read_csv(path)
        sigma = [number(r["sigma"]) for r in rows]
        mean = ax_change.plot(sigma, [number(r["change_mean"]) for r in rows], marker=".",
                              label=label + " mean")[0]
        ax_change.plot(sigma, [number(r["change_q95"]) for r in rows], ls=":",
                       color=mean.get_color(), label=label + " 95% quantile")
        ax_flip.plot(sigma, [number(r["flip_rate"]) for r in rows], marker=".",
                     color=mean.get_color(), label=label + " flip rate")
        ax_flip.plot(sigma, [number(r["nearest_changed"]) for r in rows], ls=":",
                     color=mean.get_color(), label=label + " nearest row changed")
    for ax in (ax_change, ax_flip):
        ax.set_xscale("log")
        ax.invert_xaxis()  # the run's order: from sigma_max down
        ax.set_xlabel("sigma of the step perturbed")
        ax.legend(fontsize=7)
    ax_change.set_yscale("symlog", linthresh=1e-6)  # a change of exactly 0 stays visible
    ax_change.set_ylim(bottom=0)
    ax_change.set_ylabel("|x_final' - x_final| / |x_final|")
    ax_change.set_title("change of the final sample")
    ax_flip.set_ylabel("fraction of samples")
    ax_flip.set_ylim(-0.02, 1.02)
    ax_flip.set_title("ends on another training image")
    save(fig, args.png)


if __name__ == "__main__":
    main()
