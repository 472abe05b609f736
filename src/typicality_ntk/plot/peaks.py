r"""Where a curve of sample means peaks, with a bootstrap interval over the samples.

A double-descent curve is the mean test loss over samples (initialisations) at each P; its peak
is the argmax over P. Its uncertainty comes from the samples: :func:`bootstrap_argmax` resamples
the samples of each P independently with replacement, recomputes the mean curve and its argmax,
and returns the bootstrap distribution of the argmax; :func:`peak_interval` reports its median
and a central percentile interval (68% by default: the 16th and 84th percentiles; the peak sits
on the grid of measured P, so the quantiles are grid values, ``inverted_cdf``).

The resampling is keyed explicitly: ``seed`` builds a :class:`numpy.random.Generator`, so the same
table and seed give the same interval.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

__all__ = ["PeakInterval", "bootstrap_argmax", "peak_interval", "peak_interval_over"]

#: The default interval: 68% central (16th to 84th percentile), one "sigma".
LEVEL = 0.68


@dataclass(frozen=True)
class PeakInterval:
    """The argmax of a mean curve and its bootstrap distribution's median and interval.

    Attributes:
        peak: argmax of the mean curve over all samples (the point estimate).
        median, lo, hi: median and central ``level`` interval of the bootstrap argmax.
        level: the interval's probability (0.68: 16th to 84th percentile).
        n_boot: bootstrap resamples.
        n_samples: samples per x value (the smallest count over x; diverged ones excluded).
    """

    peak: float
    median: float
    lo: float
    hi: float
    level: float
    n_boot: int
    n_samples: int

    def scaled(self, scale: float) -> PeakInterval:
        """The same interval in units of ``scale`` (e.g. P / P*)."""
        return PeakInterval(self.peak / scale, self.median / scale, self.lo / scale,
                            self.hi / scale, self.level, self.n_boot, self.n_samples)  # fmt: skip

    def text(self, digits: int = 3) -> str:
        """``1.32 [0.39, 1.32] (68%), median 0.95``: the argmax, the bootstrap interval and
        median."""
        f = f"{{:.{digits}g}}"
        return (f"{f.format(self.peak)} [{f.format(self.lo)}, {f.format(self.hi)}] "
                f"({self.level:.0%}), median {f.format(self.median)}")  # fmt: skip

    def as_dict(self) -> dict:
        return asdict(self)


def bootstrap_argmax(curves: list[np.ndarray], *, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """Bootstrap distribution of the argmax over x of the mean over samples.

    Args:
        curves: one array per x value, of shape (n_samples_x, T): that x's samples (rows) at T
            positions (e.g. recorded training steps; T = 1 for one curve). NaN entries are left
            out of the means; an x without finite samples never wins.
        n_boot: resamples.
        seed: seed of the numpy Generator that draws the resamples.

    Returns:
        Integer array of shape (n_boot, T): index into ``curves`` of the argmax, or -1 where no x
        has a finite mean.
    """
    rng = np.random.default_rng(seed)
    t = curves[0].shape[1] if curves else 0
    means = np.full((n_boot, t, len(curves)), -np.inf)
    for i, c in enumerate(curves):
        c = np.asarray(c, float)
        if c.shape[0] == 0:
            continue
        idx = rng.integers(0, c.shape[0], size=(n_boot, c.shape[0]))
        draws = c[idx]  # (n_boot, n_samples, T)
        finite = np.isfinite(draws)
        count = finite.sum(axis=1)
        total = np.where(finite, draws, 0.0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            means[:, :, i] = np.where(count > 0, total / np.maximum(count, 1), -np.inf)
    best = np.argmax(means, axis=2)
    return np.where(np.isfinite(np.max(means, axis=2)), best, -1)


def _quantiles(values: np.ndarray, level: float) -> tuple[float, float, float]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (float("nan"),) * 3
    q = np.quantile(values, [0.5, (1 - level) / 2, (1 + level) / 2], method="inverted_cdf")
    return float(q[0]), float(q[1]), float(q[2])


def _nanmean(c: np.ndarray) -> np.ndarray:
    """Mean over axis 0 of the finite entries; NaN where there are none (no warning)."""
    finite = np.isfinite(c)
    count = finite.sum(axis=0)
    return np.where(count > 0, np.where(finite, c, 0.0).sum(axis=0) / np.maximum(count, 1), np.nan)


def _curves(rows: pd.DataFrame, x: str, y: str, by: str | None):
    """x values (sorted) and per x an (n_samples, T) array of ``y`` (T positions of ``by``)."""
    xs = np.sort(rows[x].unique())
    if by is None:
        return xs, None, [rows.loc[rows[x] == v, y].to_numpy(float)[:, None] for v in xs]
    positions = np.sort(rows[by].unique())
    curves = []
    for v in xs:
        grid = rows[rows[x] == v].pivot_table(index="sample", columns=by, values=y,
                                              aggfunc="mean", dropna=False)  # fmt: skip
        curves.append(grid.reindex(columns=positions).to_numpy(float))
    return xs, positions, curves


def peak_interval(
    rows: pd.DataFrame,
    *,
    x: str = "n_params",
    y: str = "test_loss",
    n_boot: int = 1000,
    level: float = LEVEL,
    seed: int = 0,
) -> PeakInterval | None:
    """Argmax over ``x`` of the mean of ``y`` over samples, with its bootstrap interval.

    Args:
        rows: one row per (x, sample) (e.g. a learner's final double-descent rows, diverged samples
            already removed).
        x, y: the abscissa and the curve's column.
        n_boot, level, seed: resamples, the interval's probability, the Generator's seed.

    Returns:
        The :class:`PeakInterval` in units of ``x``, or None when no x has a finite mean.
    """
    rows = rows[np.isfinite(rows[y].to_numpy(float))]
    if rows.empty:
        return None
    xs, _, curves = _curves(rows, x, y, None)
    means = np.array([_nanmean(c)[0] for c in curves])
    idx = bootstrap_argmax(curves, n_boot=n_boot, seed=seed)[:, 0]
    peaks = np.where(idx >= 0, xs[np.maximum(idx, 0)], np.nan).astype(float)
    median, lo, hi = _quantiles(peaks, level)
    return PeakInterval(float(xs[int(np.argmax(means))]), median, lo, hi, level, n_boot,
                        int(min(c.shape[0] for c in curves)))  # fmt: skip


def peak_interval_over(
    rows: pd.DataFrame,
    *,
    by: str = "step",
    x: str = "n_params",
    y: str = "test_loss",
    n_boot: int = 400,
    level: float = LEVEL,
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`peak_interval` at every value of ``by`` (e.g. each recorded training step), with one
    resample of the samples shared by all steps (a sample's whole history is drawn together).

    Returns:
        One row per value of ``by`` with a finite curve: ``by``, ``peak``, ``median``, ``lo``,
        ``hi`` (in units of ``x``), ``level``.
    """
    rows = rows[np.isfinite(rows[y].to_numpy(float))]
    cols = [by, "peak", "median", "lo", "hi", "level"]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    xs, positions, curves = _curves(rows, x, y, by)
    idx = bootstrap_argmax(curves, n_boot=n_boot, seed=seed)  # (n_boot, T)
    peaks = np.where(idx >= 0, xs[np.maximum(idx, 0)], np.nan).astype(float)
    means = np.stack([_nanmean(c) for c in curves], axis=1)  # (T, n_x)
    out = []
    for j, pos in enumerate(positions):
        if not np.isfinite(means[j]).any():
            continue
        median, lo, hi = _quantiles(peaks[:, j], level)
        out.append({by: pos, "peak": float(xs[int(np.nanargmax(means[j]))]), "median": median,
                    "lo": lo, "hi": hi, "level": level})  # fmt: skip
    return pd.DataFrame(out, columns=cols)
