"""Shared helpers for the plot scripts (run by a Python with numpy and matplotlib: see
python_with_numpy.py): CSV reading and PNG output (matplotlib, Agg)."""
import csv
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_csv(path):
    """Rows of a CSV file as dicts of strings."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def number(text):
    """A CSV cell as a float (NaN when empty)."""
    return float(text) if text not in ("", None) else float("nan")


def save(fig, path):
    """Writes the figure as a PNG atomically (temporary name, then rename)."""
    tmp = path + ".tmp.png"
    fig.tight_layout()
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    print("wrote", path)


def labelled(args):
    """(path, label) pairs from "path[:label]" arguments; the label defaults to the
    path's folder name."""
    out = []
    for arg in args:
        path, sep, label = arg.rpartition(":")
        if not sep or "/" in label:
            path, label = arg, os.path.basename(os.path.dirname(os.path.abspath(arg)))
        out.append((path, label))
    return out
