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


__all__ = ["COLOURS", "STYLE", "as_number", "finite_rows", "publication_style", "save_figure"]
