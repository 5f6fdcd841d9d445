"""What every suite's figures share: one publication style, PNG + vector PDF, colours.

Each suite draws its figures in its own module (`validation.experiments.synthetic_figures`,
`validation.experiments.paper_figures`, `validation.robot_media`) from rows of a results
table (JSON-ready dicts, as stored in ``results["tables"]``), so ``modebound plot RUN``
redraws every figure from ``results.json`` without rerunning anything.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: never needs a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

STYLE = {
    "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 7,
    "xtick.labelsize": 7, "ytick.labelsize": 7, "axes.spines.top": False,
    "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.25, "grid.linewidth": 0.5,
    "lines.linewidth": 1.2, "lines.markersize": 4, "figure.figsize": (3.4, 2.5),
    "figure.dpi": 150, "savefig.dpi": 200, "savefig.bbox": "tight",
    # Type 42 (TrueType) fonts: the PDF text stays editable and journals accept it.
    "pdf.fonttype": 42, "ps.fonttype": 42, "legend.frameon": False,
}
COLOURS = {"flow": "#1b6ca8", "diffusion": "#d1495b", "cvae": "#2e8b57", "gmm": "#8e6bb8",
           "regression": "#777777"}


@contextlib.contextmanager
def publication_style() -> Iterator[None]:
    """One clean matplotlib style for every figure of every suite (a ``rc_context``)."""
    with plt.rc_context(STYLE):
        yield


def save_figure(fig, out_dir: Path, name: str) -> list[Path]:
    """Save ``fig`` as ``out_dir/figures/name.png`` and ``.pdf``; returns both paths."""
    folder = Path(out_dir) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.png", folder / f"{name}.pdf"]
    # The PDF backend subsets fonts with fontTools, which logs a harmless warning about
    # the font's 1970s timestamp on every figure; keep the user's terminal clean.
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    for p in paths:
        fig.savefig(p)
    return paths


def as_number(v) -> float:
    """A table value as float (None, "inf", "nan" strings included)."""
    if v is None:
        return math.nan
    return float(v)


def finite_rows(rows: Sequence[dict], *keys: str) -> list[dict]:
    """The rows whose ``keys`` all hold finite numbers."""
    return [r for r in rows if all(math.isfinite(as_number(r.get(k))) for k in keys)]


def plot_check_power(checks: Sequence[dict]):
    """Per proposition: how many checks PASSed, FAILed or were INCONCLUSIVE, split into
    those that could have failed (solid) and those no outcome could fail (hatched)."""
    props = sorted({str(c["proposition"]) for c in checks})
    fig, ax = plt.subplots(figsize=(max(3.4, 0.45 * len(props) + 1.5), 2.5))
    colours = {"PASS": "#2e8b57", "FAIL": "#d1495b", "INCONCLUSIVE": "#e0a030"}
    bottom = np.zeros(len(props))
    for failable in (True, False):
        for verdict in ("PASS", "FAIL", "INCONCLUSIVE"):
            h = np.array([sum(1 for c in checks if str(c["proposition"]) == p
                              and c["verdict"] == verdict and bool(c.get("failable")) == failable)
                          for p in props], dtype=float)
            if not h.any():
                continue
            ax.bar(props, h, bottom=bottom, color=colours[verdict],
                   hatch=None if failable else "///", edgecolor="white", lw=0.5,
                   label=f"{verdict} ({'failable' if failable else 'could not fail'})")
            bottom += h
    n_fail = sum(bool(c.get("failable")) for c in checks)
    ax.set(ylabel="checks", title=f"{n_fail} of {len(checks)} checks could fail")
    ax.tick_params(axis="x", rotation=45)
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def plot_sandwich(rows: Sequence[dict], label_key: str = "policy"):
    """The two-sided Lipschitz sandwich per policy: the constant its masses demand (a
    lower bound from samples alone), the gradient-based lower bound, and the certificate,
    on a log scale; the ratio certified / demanded is the tightness of what is known."""
    pts = [r for r in rows if as_number(r.get("lipschitz_upper")) > 0]
    fig, ax = plt.subplots(figsize=(3.4, max(2.0, 0.28 * len(pts) + 0.8)))
    for i, r in enumerate(pts):
        up = as_number(r["lipschitz_upper"])
        dem = as_number(r.get("lipschitz_demanded"))
        low = as_number(r.get("lipschitz_lower"))
        left = dem if dem > 0 else (low if low > 0 else up)
        ax.plot([left, up], [i, i], "-", color="0.6", lw=1.0)
        ax.plot(up, i, "s", color="#1b6ca8", label="certified" if i == 0 else None)
        if dem > 0:
            ax.plot(dem, i, ">", color="#d1495b", label="demanded by masses" if i == 0 else None)
        if low > 0:
            ax.plot(low, i, "o", mfc="none", color="k", label="gradient lower" if i == 0 else None)
    ax.set_yticks(range(len(pts)), [str(r.get(label_key, "")) for r in pts], fontsize=6)
    ax.set_xscale("log")
    ax.set_xlabel("Lipschitz constant of noise -> chunk")
    ax.legend(fontsize=6, loc="lower right")
    return fig


__all__ = ["COLOURS", "STYLE", "as_number", "finite_rows", "plot_check_power", "plot_sandwich",
           "publication_style", "save_figure"]
