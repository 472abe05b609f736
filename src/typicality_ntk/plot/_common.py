"""Figure plumbing shared by every plot: no pyplot state, PNG + PDF side by side."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter
from matplotlib.transforms import ScaledTranslation

__all__ = [
    "FIGURE_HOOKS",
    "diverged_note",
    "empty_panel",
    "legend_below",
    "mean_sem",
    "new_figure",
    "save_figure",
    "time_axis",
]

#: Called as ``hook(fig, stem)`` by :func:`save_figure` after the figure is laid out and before
#: it is written (tests append a collector; empty otherwise).
FIGURE_HOOKS: list[Callable[[Figure, str], None]] = []


def new_figure(nrows: int = 1, ncols: int = 1, *, size=(4.2, 3.4)) -> tuple[Figure, np.ndarray]:
    """A figure with an (nrows, ncols) array of axes, independent of any GUI backend."""
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    FigureCanvasAgg(fig)  # a renderer for text extents (declutter, checks) without pyplot
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    return fig, axes


def _overlaps(boxes, margin: float = -1.0) -> np.ndarray:
    """Per box, whether it overlaps another of ``boxes`` (``margin`` pixels apart or closer; the
    default: overlapping by more than a pixel each way)."""
    hit = np.zeros(len(boxes), bool)
    for i, a in enumerate(boxes):
        for j in range(i + 1, len(boxes)):
            b = boxes[j]
            dx = min(a.x1, b.x1) - max(a.x0, b.x0)
            dy = min(a.y1, b.y1) - max(a.y0, b.y0)
            if dx > -margin and dy > -margin:
                hit[i] = hit[j] = True
    return hit


def _tick_labels(axis, minor: bool, renderer):
    ticks = axis.get_minor_ticks() if minor else axis.get_major_ticks()
    lo, hi = sorted(axis.get_view_interval())
    out = []
    for tick in ticks:
        if not (lo <= tick.get_loc() <= hi):
            continue
        for label in (tick.label1, tick.label2):
            if label.get_visible() and label.get_text():
                out.append(label.get_window_extent(renderer))
    return out


def declutter_ticks(fig: Figure) -> bool:
    """Drop minor tick labels (log axes' 2x10^0, 3x10^0, ...) where they collide with each other
    or with the major labels; thin major labels that still collide (every other one kept). Reads
    the last draw's text extents; returns whether anything changed."""
    renderer = fig.canvas.get_renderer()
    changed = False
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            major = _tick_labels(axis, False, renderer)
            minor = _tick_labels(axis, True, renderer)
            # a margin: the layout may still shrink the axes a little after this draw
            if minor and _overlaps(major + minor, margin=4.0).any():
                axis.set_minor_formatter(NullFormatter())
                changed = True
            elif len(major) > 2 and _overlaps(major).any():
                axis.set_ticks(axis.get_majorticklocs()[::2])
                changed = True
    return changed


def legend_below(ax, handles=None, labels=None, *, ncol: int = 1, fontsize: float = 6.5):
    """The axes' legend under its tick and axis labels, out of the data; its exact offset is set
    when the figure is saved (:func:`place_legends`). Nothing when nothing is labelled."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    leg = ax.legend(handles, labels, fontsize=fontsize, ncol=ncol, loc="upper center",
                    bbox_to_anchor=(0.5, -0.15), frameon=False)  # fmt: skip
    leg._tntk_below = True
    return leg


def place_legends(fig: Figure) -> None:
    """Anchor each :func:`legend_below` legend a fixed physical distance under its axes: the
    height of the x tick and axis labels as the last draw measured them (text sizes do not
    change with the layout), so the layout engine can then move the axes freely."""
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is None or not getattr(leg, "_tntk_below", False):
            continue
        boxes = [ax.xaxis.get_tightbbox(renderer), ax.get_window_extent(renderer)]
        for other in fig.axes:  # a twin's x axis shares the place
            if other is not ax and other.bbox.bounds == ax.bbox.bounds:
                boxes.append(other.xaxis.get_tightbbox(renderer))
        below = ax.get_window_extent(renderer).y0 - min(b.y0 for b in boxes if b is not None)
        shift = ScaledTranslation(0, -(below + 3) / fig.dpi, fig.dpi_scale_trans)
        leg.set_bbox_to_anchor((0.5, 0.0), transform=ax.transAxes + shift)


def save_figure(fig: Figure, outdir: str | Path, stem: str) -> list[Path]:
    """Write ``<outdir>/<stem>.png`` and ``.pdf`` (:func:`figure_formats`); returns the paths."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    fig.canvas.draw()  # lay out once, then tidy what it shows (savefig draws the result)
    if declutter_ticks(fig):
        fig.canvas.draw()  # fewer tick labels: measure the label heights again
    place_legends(fig)
    for hook in FIGURE_HOOKS:
        hook(fig, stem)
    paths = [outdir / f"{stem}.{ext}" for ext in figure_formats()]
    for path in paths:
        fig.savefig(path, dpi=130)
    return paths


#: Environment variable: the file formats of every figure, comma-separated (default png,pdf).
FORMATS_ENV = "TNTK_FIGURE_FORMATS"


def figure_formats() -> tuple[str, ...]:
    """The formats :func:`save_figure` writes: ``$TNTK_FIGURE_FORMATS`` (e.g. ``png``: each
    format is one more full draw of the figure), else ``png`` and ``pdf``."""
    value = os.environ.get(FORMATS_ENV, "png,pdf")
    return tuple(f.strip().lower() for f in value.split(",") if f.strip()) or ("png",)


def mean_sem(table: pd.DataFrame, by: str | list[str], column: str) -> pd.DataFrame:
    """Mean and standard error of the mean of ``column`` per group: columns ``mean``, ``sem``."""
    g = table.groupby(by)[column]
    out = g.agg(["mean", "std", "count"]).reset_index()
    out["sem"] = out["std"] / np.sqrt(out["count"])
    return out


def time_axis(table: pd.DataFrame) -> tuple[str, str]:
    """(column, axis label) of training time: the continuous time ``lr * step`` (column
    ``time``, written next to ``lr`` by runs whose learning rate may differ per width) when every
    row has it, else the step count (older entries)."""
    if "time" in table and len(table) and table["time"].notna().all():
        return "time", r"training time $\eta\,t$ (lr $\times$ step)"
    return "step", "training step t"


def diverged_note(n_diverged: int, n_total: int, what: str = "samples") -> str:
    """``"k of N samples diverged, left out"`` (empty when none did)."""
    if not n_diverged:
        return ""
    if n_diverged >= n_total:
        return f"all {n_total} {what} diverged"
    return f"{n_diverged} of {n_total} {what} diverged, left out"


def empty_panel(ax, text: str) -> None:
    """An axes with nothing to draw: its reason in the middle, no ticks."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=9,
            wrap=True)  # fmt: skip
    ax.set_xticks([])
    ax.set_yticks([])
