"""Figure plumbing shared by every plot: no pyplot state, PNG + PDF side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["new_figure", "save_figure", "mean_sem"]


def new_figure(nrows: int = 1, ncols: int = 1, *, size=(4.2, 3.4)) -> tuple[Figure, np.ndarray]:
    """A figure with an (nrows, ncols) array of axes, independent of any GUI backend."""
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    return fig, axes


def save_figure(fig: Figure, outdir: str | Path, stem: str) -> list[Path]:
    """Write ``<outdir>/<stem>.png`` and ``.pdf``; returns both paths."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = [outdir / f"{stem}.png", outdir / f"{stem}.pdf"]
    for path in paths:
        fig.savefig(path, dpi=130)
    return paths


def mean_sem(table: pd.DataFrame, by: str | list[str], column: str) -> pd.DataFrame:
    """Mean and standard error of the mean of ``column`` per group: columns ``mean``, ``sem``."""
    g = table.groupby(by)[column]
    out = g.agg(["mean", "std", "count"]).reset_index()
    out["sem"] = out["std"] / np.sqrt(out["count"])
    return out
