"""Convergence of the finite-width NTK to the infinite-width kernel, from stored results only.

:func:`plot_ntk_convergence` draws ``ntk_convergence.png``/``.pdf`` (mean ± s.e.m. of the relative
kernel errors against the width on log-log axes, a least-squares line with its slope and a
``width^(-1/2)`` reference) and writes the fits to ``ntk_convergence_fit.csv``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from typicality_ntk.plot._common import mean_sem, new_figure, save_figure

__all__ = ["FIT_COLUMNS", "convergence_fits", "fit_loglog", "plot_ntk_convergence"]

#: Columns of ``ntk_convergence_fit.csv``; ``mean error ~ exp(intercept) * width**slope``.
FIT_COLUMNS = (
    "metric",
    "slope",
    "slope_stderr",
    "intercept",
    "intercept_stderr",
    "n_widths",
    "width_min",
    "width_max",
)

_LABELS = {
    "rel_error_ntk": "NTK",
    "rel_error_nngp": "NNGP",
    "rel_error_diag": "NTK diagonal",
    "rel_error_offdiag": "NTK off-diagonal",
}


def fit_loglog(x, y) -> dict[str, float]:
    """Ordinary least squares of ``ln y`` on ``ln x``.

    Returns:
        ``slope``, ``intercept`` (natural log: ``y ~ exp(intercept) x**slope``) and their standard
        errors (NaN with fewer than three points); only finite, positive pairs are used.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    lx, ly = np.log(x[ok]), np.log(y[ok])
    n = lx.size
    out = dict.fromkeys(("slope", "slope_stderr", "intercept", "intercept_stderr"), float("nan"))
    out["n"] = n
    if n < 2 or np.ptp(lx) == 0:
        return out
    xm, ym = lx.mean(), ly.mean()
    sxx = float(np.sum((lx - xm) ** 2))
    slope = float(np.sum((lx - xm) * (ly - ym)) / sxx)
    intercept = float(ym - slope * xm)
    out.update(slope=slope, intercept=intercept)
    if n > 2:
        s2 = float(np.sum((ly - intercept - slope * lx) ** 2)) / (n - 2)
        out["slope_stderr"] = float(np.sqrt(s2 / sxx))
        out["intercept_stderr"] = float(np.sqrt(s2 * (1.0 / n + xm**2 / sxx)))
    return out


def convergence_fits(table: pd.DataFrame, metrics=("rel_error_ntk", "rel_error_nngp")):
    """One row per metric present: the log-log fit of its mean over samples against the width."""
    rows = []
    for metric in metrics:
        if metric not in table.columns:
            continue
        stats = mean_sem(table, "width", metric).sort_values("width")
        fit = fit_loglog(stats["width"], stats["mean"])
        rows.append(
            {
                "metric": metric,
                "slope": fit["slope"],
                "slope_stderr": fit["slope_stderr"],
                "intercept": fit["intercept"],
                "intercept_stderr": fit["intercept_stderr"],
                "n_widths": fit["n"],
                "width_min": int(stats["width"].min()),
                "width_max": int(stats["width"].max()),
            }
        )
    return pd.DataFrame(rows, columns=list(FIT_COLUMNS))


def _one_two_five(value, _pos) -> str:
    mantissa = value / 10 ** np.floor(np.log10(value)) if value > 0 else 0.0
    return f"{value:g}" if np.isclose(mantissa, 2) or np.isclose(mantissa, 5) else ""


_ONE_TWO_FIVE = FuncFormatter(_one_two_five)


def _errorbar(ax, stats, label, **kw):
    ax.errorbar(
        stats["width"],
        stats["mean"],
        yerr=stats["sem"],
        fmt="o",
        ms=3.5,
        capsize=2,
        label=label,
        **kw,
    )


def plot_ntk_convergence(table: pd.DataFrame, arrays, config: dict, outdir: Path) -> list[Path]:
    """Relative kernel errors vs width (log-log) with fitted slopes; writes the fit table too."""
    outdir = Path(outdir)
    fits = convergence_fits(table)
    fig, ax = new_figure(1, 2)
    widths = np.sort(table["width"].unique()).astype(float)
    w_line = np.geomspace(widths.min(), widths.max(), 50)
    for i, row in enumerate(fits.itertuples()):
        stats = mean_sem(table, "width", row.metric)
        color = f"C{i}"
        _errorbar(ax[0], stats, _LABELS[row.metric], color=color)
        if np.isfinite(row.slope):
            err = f" ± {row.slope_stderr:.3f}" if np.isfinite(row.slope_stderr) else ""
            ax[0].plot(
                w_line,
                np.exp(row.intercept) * w_line**row.slope,
                "--",
                color=color,
                lw=1,
                label=f"fit: slope {row.slope:.3f}{err}",
            )
    ntk = fits[fits["metric"] == "rel_error_ntk"]
    if len(ntk) and np.isfinite(ntk["slope"].iloc[0]):
        # Through the NTK fit at the geometric-mean width, so the two slopes compare by eye.
        w_mid = float(np.exp(np.mean(np.log(widths))))
        y_mid = float(np.exp(ntk["intercept"].iloc[0]) * w_mid ** ntk["slope"].iloc[0])
        ax[0].plot(
            w_line, y_mid * (w_line / w_mid) ** -0.5, ":", c="gray", lw=1.2, label="∝ n^(-1/2)"
        )
    model = config.get("model", {}) if isinstance(config, dict) else {}
    title = "finite-width NTK at init vs Θ∞"
    if model:
        title = f"{model.get('activation')}, depth {model.get('depth')}: K vs Θ∞"
    ax[0].set(xscale="log", yscale="log", xlabel="width n", ylabel="‖K − Θ∞‖_F / ‖Θ∞‖_F")
    ax[0].set_title(title, fontsize=9)

    for i, metric in enumerate(("rel_error_diag", "rel_error_offdiag")):
        if metric in table.columns:
            _errorbar(ax[1], mean_sem(table, "width", metric), _LABELS[metric], color=f"C{i + 2}")
    ax[1].set(xscale="log", yscale="log", xlabel="width n", ylabel="relative Frobenius error")
    ax[1].set_title("NTK: diagonal vs off-diagonal entries", fontsize=9)
    for a in ax:
        # Plain-text tick labels (log axes default to mathtext, whose layout is most of the
        # drawing time): one x tick per width; y labelled on the 1-2-5 series.
        a.xaxis.set_major_locator(FixedLocator(widths))
        a.xaxis.set_major_formatter("{x:.0f}")
        a.xaxis.set_minor_locator(NullLocator())
        a.yaxis.set_major_formatter("{x:g}")
        a.yaxis.set_minor_formatter(_ONE_TWO_FIVE)
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=7)
    paths = save_figure(fig, outdir, "ntk_convergence")
    csv = outdir / "ntk_convergence_fit.csv"
    fits.to_csv(csv, index=False)
    return [*paths, csv]
