"""Figures of the training experiments, drawn from stored results only (tables and named arrays)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import NullLocator

from typicality_ntk.ntk.train import log_spaced_steps
from typicality_ntk.plot._common import (
    diverged_note,
    empty_panel,
    legend_below,
    mean_sem,
    new_figure,
    save_figure,
)

__all__ = ["plot_lazy_training", "width_slope"]

log = logging.getLogger("typicality_ntk")


def width_slope(widths, values) -> float:
    """Least-squares slope of log(values) against log(widths) (NaN with < 2 positive points)."""
    w, v = np.asarray(widths, float), np.asarray(values, float)
    ok = (w > 0) & (v > 0) & np.isfinite(v)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(w[ok]), np.log(v[ok]), 1)[0])


def _loss_curves(arrays, widths) -> dict:
    """width -> loss_curve (samples, log_points), from ``{"loss_curve/<point>": array}`` (point
    order = ``widths``) or from a list of :class:`~typicality_ntk.store.ArrayRecord`."""
    out = {}
    if isinstance(arrays, dict):
        for p, w in enumerate(widths):
            if f"loss_curve/{p}" in arrays:
                out[w] = np.asarray(arrays[f"loss_curve/{p}"], float)
        return out
    for rec in arrays or []:
        if getattr(rec, "name", None) == "loss_curve" and "width" in rec.point:
            out[rec.point["width"]] = np.asarray(rec.array, float)
    return out


def _errorbar(ax, stats, label=None, **kw):
    ax.errorbar(
        stats["width"], stats["mean"], yerr=stats["sem"].fillna(0), fmt="o-", ms=3.5, capsize=2,
        label=label, **kw,
    )  # fmt: skip


def _slope_panel(ax, good: pd.DataFrame, column: str, ylabel: str, title: str) -> float:
    """Mean +- s.e.m. of ``column`` vs width on log-log, its fitted slope and width^(-1/2)."""
    stats = mean_sem(good, "width", column)
    slope = width_slope(stats["width"], stats["mean"])
    _errorbar(ax, stats, label=f"measured, slope {slope:.2f}")
    w = stats["width"].to_numpy(float)
    m = stats["mean"].to_numpy(float)
    ok = m > 0
    if ok.sum() >= 2:
        coef = np.polyfit(np.log(w[ok]), np.log(m[ok]), 1)
        ax.plot(w, np.exp(np.polyval(coef, np.log(w))), "C3-", lw=1, label="fit")
        anchor = np.exp(np.mean(np.log(m[ok]) + 0.5 * np.log(w[ok])))
        ax.plot(w, anchor * w**-0.5, "k:", lw=1, label="∝ width^(-1/2)")
    ax.set(xscale="log", yscale="log", xlabel="width", ylabel=ylabel, title=title)
    ax.legend(fontsize=7)
    return slope


def plot_lazy_training(table: pd.DataFrame, arrays, config: dict, outdir: Path) -> list[Path]:
    """Lazy-training diagnostics vs width; error bars are mean +- s.e.m. over initialisations.

    Panels: relative train loss L(theta_T)/L(theta_0); |theta_T - theta_0|/|theta_0| with its
    fitted log-log slope and the width^(-1/2) reference; the relative NTK change (same); the gaps
    between the trained net and its linearisation / kernel regression on the test set; the mean
    loss curves L(theta_t)/L(theta_0) per width against the training time lr * t when the entry
    records each width's ``lr`` (else against the step); the test losses of the net, the
    linearised net and kernel regression. Diverged samples are left out (and counted in the
    title); when all diverged, the panels say so.
    """
    widths = table.drop_duplicates("width")["width"].to_numpy()  # point order
    diverged = table["diverged"].to_numpy() != 0
    good = table[~diverged]
    fig, ax = new_figure(2, 3, size=(4.0, 3.3))
    optim = config.get("optim", {}) if isinstance(config, dict) else {}
    name = optim.get("name", "?")
    lr = f"lr={optim.get('lr', '?')}"
    if "lr" in table and table["lr"].notna().any():
        lrs = np.unique(table["lr"].dropna().to_numpy(float))
        lr = f"lr={lrs[0]:.3g}" if len(lrs) == 1 else f"lr={lrs.min():.3g}-{lrs.max():.3g} by width"
    note = diverged_note(int(diverged.sum()), len(table))
    fig.suptitle(
        f"lazy training ({name}, {lr}, N={int(table['n_train'].iloc[0])})"
        + (f"; {note}" if note else ""),
        fontsize=9,
    )
    if good.empty:
        for a in ax:
            empty_panel(a, note)
        return save_figure(fig, outdir, "lazy_training")

    _errorbar(ax[0], mean_sem(good, "width", "relative_train_loss"))
    ax[0].set(
        xscale="log", yscale="log", xlabel="width", ylabel="L(θ_T) / L(θ_0)",
        title="final train loss",
    )  # fmt: skip

    s_param = _slope_panel(ax[1], good, "param_change", "|θ_T − θ_0| / |θ_0|", "parameter change")
    s_ntk = _slope_panel(ax[2], good, "ntk_change", "‖K_T − K_0‖_F / ‖K_0‖_F", "NTK change")
    log.info("lazy_training: log-log slopes vs width: param %.3f, ntk %.3f", s_param, s_ntk)

    _errorbar(ax[3], mean_sem(good, "width", "linearization_gap"), label="f vs f_lin")
    _errorbar(ax[3], mean_sem(good, "width", "kernel_regression_gap"), label="f vs f_kr")
    ax[3].set(
        xscale="log", yscale="log", xlabel="width", ylabel="relative RMS gap (test)",
        title="distance to the linearised net",
    )  # fmt: skip
    ax[3].legend(fontsize=7)

    steps = int(optim.get("steps", 0))
    curves = _loss_curves(arrays, widths)
    width_lr = {}  # width -> its learning rate, when the entry records it (column ``lr``)
    if "lr" in table and table["lr"].notna().all():
        width_lr = table.groupby("width")["lr"].first().to_dict()
    lo = np.inf
    for p, w in enumerate(widths):
        if w not in curves:
            continue
        curve = curves[w]
        keep = ~diverged[table["width"].to_numpy() == w]
        curve = curve[keep] if keep.shape[0] == curve.shape[0] else curve
        if curve.size == 0:
            continue
        rel = curve / curve[:, :1]
        t = (
            log_spaced_steps(steps, int(optim.get("log_points", curve.shape[1])))
            if steps
            else np.arange(curve.shape[1])
        )
        if t.shape[0] != rel.shape[1]:
            t = np.arange(rel.shape[1])
        lr_w = width_lr.get(w, np.nan)
        if np.isfinite(lr_w):  # continuous time lr * step: widths with different rates compare
            t = lr_w * t
            lo = min(lo, lr_w)
        ax[4].plot(t, rel.mean(axis=0), color=f"C{p % 10}", lw=1.2, label=f"width {w}")
    ax[4].set_xscale("symlog", linthresh=lo if np.isfinite(lo) else 1)
    xlabel = r"training time $\eta\,t$ (lr $\times$ step)" if width_lr else "step"
    ax[4].set(yscale="log", xlabel=xlabel, ylabel="L(θ_t) / L(θ_0)", title="loss curves")
    legend_below(ax[4], ncol=2)

    for column, label in (
        ("test_loss", "net f(θ_T)"),
        ("test_loss_linearized", "linearised f_lin(θ_T)"),
        ("test_loss_kernel", "kernel regression"),
    ):
        _errorbar(ax[5], mean_sem(good, "width", column), label=label)
    ax[5].set(xscale="log", yscale="log", xlabel="width", ylabel="test loss", title="test loss")
    ax[5].legend(fontsize=7)
    # minor ticks cost drawing time; drop them where major ticks label the axis anyway
    span = float(np.max(widths)) / float(np.min(widths))
    for a in ax if span >= 100 else ax[4:5]:
        a.xaxis.set_minor_locator(NullLocator())
    return save_figure(fig, outdir, "lazy_training")
