"""Figures of the double-descent experiment, drawn from stored results only.

A double-descent table has one row per (learner, width, sample, recorded step) (column ``step``;
the closed-form learners have one step, ``optim.steps``; entries that record the learning rate
also hold ``lr`` and the continuous training time ``time = lr * step``). :func:`final_rows` is
each learner's last step, the classic double descent (:func:`peak_summary`,
:func:`plot_double_descent`); :func:`peak_over_time` and :func:`plot_double_descent_time` follow
the peak in training time. Peak locations carry a bootstrap interval over samples
(:mod:`typicality_ntk.plot.peaks`). Diverged samples are left out and counted; a table whose
samples all diverged draws empty panels that say so.
"""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.colors import Normalize

from typicality_ntk.ntk.threshold import ThresholdFit, fit_threshold
from typicality_ntk.plot._common import (
    diverged_note,
    empty_panel,
    legend_below,
    mean_sem,
    new_figure,
    save_figure,
    time_axis,
)
from typicality_ntk.plot.peaks import LEVEL, peak_interval, peak_interval_over

__all__ = [
    "PEAK_COLUMNS",
    "PEAK_TIME_COLUMNS",
    "final_rows",
    "peak_over_time",
    "peak_summary",
    "plot_double_descent",
    "plot_double_descent_time",
    "scaled_p_star",
    "threshold_fit",
    "time_rows",
]

log = logging.getLogger("typicality_ntk")

#: Columns of :func:`peak_summary` and of ``double_descent_peak.csv``.
PEAK_COLUMNS = (
    "learner",
    "step",
    "n_constraints",
    "peak_width",
    "peak_n_params",
    "peak_ratio",
    "peak_test_loss",
    "kappa",
    "p_star",
    "p_star_lo",
    "p_star_hi",
    "p_star_ratio",
    "peak_over_p_star",
    "kappa_edge",
    "p_star_edge",
    "p_star_edge_ratio",
    "peak_over_p_star_edge",
    "n_diverged",
    "n_runs",
    "peak_ratio_lo",
    "peak_ratio_hi",
    "peak_level",
)
#: P / (n_L N) range of the near-threshold ("edge") fit.
EDGE_RANGE = (1.0, 4.0)
#: Columns of :func:`peak_over_time` and of ``double_descent_peak_time.csv``.
PEAK_TIME_COLUMNS = (
    "learner",
    "step",
    "time",
    "n_constraints",
    "peak_width",
    "peak_n_params",
    "peak_ratio",
    "peak_ratio_lo",
    "peak_ratio_hi",
    "peak_test_loss",
    "n_samples",
)
#: Learners drawn with a time axis (the others are t -> infinity limits), and their line styles.
TIME_STYLES = {"network": "-", "linearized": "--"}


def _learners(table: pd.DataFrame) -> np.ndarray:
    return (table["learner"] if "learner" in table else pd.Series(["?"] * len(table))).to_numpy()


def final_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Each learner's rows at its last recorded step (``d[d.step == d.step.max()]`` per learner):
    one row per (learner, width, sample). A table without ``step`` is returned as it is."""
    if "step" not in table or table.empty:
        return table
    last = table.groupby(_learners(table))["step"].transform("max")
    return table[table["step"].to_numpy() == last.to_numpy()]


def threshold_fit(rows: pd.DataFrame, n: int, lo: float = 2.0, hi: float = np.inf):
    """The threshold fit of the study: :func:`~typicality_ntk.ntk.threshold.fit_threshold` of
    ``sigma_min_j_normalized`` on lo n <= P <= hi n (``rows``: ``ntk_spectrum`` rows, or a
    double-descent learner's own; None when fewer than two widths are there or the fit is
    degenerate). P* for constraints n' is then :func:`scaled_p_star` (kappa^2 n')."""
    rows = rows[rows["n_params"] <= hi * n]
    rows = rows[np.isfinite(rows["sigma_min_j_normalized"].to_numpy(float))]
    try:
        with np.errstate(invalid="ignore", divide="ignore"):
            fit = fit_threshold(rows, n=n, min_ratio=lo, n_boot=400)
    except ValueError as err:
        log.info("double_descent: no threshold fit on P/(n_L N) in [%g, %g]: %s", lo, hi, err)
        return None
    return fit if np.isfinite(fit.kappa) else None


def scaled_p_star(fit: ThresholdFit | None, n: int) -> tuple[float, float, float]:
    """P* = kappa^2 n and its bootstrap interval for ``n`` = n_L N constraints, from a fit made
    at any n (kappa is a property of the architecture): the one definition of P* used by every
    log line, table and figure. NaNs without a fit."""
    if fit is None:
        return (float("nan"),) * 3
    return fit.kappa**2 * n, fit.p_star_lo / fit.n * n, fit.p_star_hi / fit.n * n


def _converged(rows: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Rows whose training did not diverge, and how many did."""
    if "diverged" not in rows:
        return rows, 0
    bad = rows["diverged"].to_numpy() != 0
    return rows[~bad], int(bad.sum())


def _n_runs(rows: pd.DataFrame) -> int:
    """(width, sample) pairs of a learner's rows."""
    cols = [c for c in ("n_params", "sample") if c in rows]
    return len(rows.drop_duplicates(cols)) if cols else len(rows)


def peak_summary(table: pd.DataFrame, *, fit: ThresholdFit | None = None) -> pd.DataFrame:
    """Where the test loss peaks, per learner, against n_L N and the fitted threshold P*.

    On each learner's final rows (:func:`final_rows`; ``step``: the step it is measured at, the
    training time of a trained network). The peak is the argmax over P (``n_params``, the
    learner's trained parameters) of the mean test loss over samples, with a bootstrap interval
    (:func:`~typicality_ntk.plot.peaks.peak_interval`, 68%: ``peak_ratio_lo``, ``peak_ratio_hi``,
    in units of n_L N). P* = kappa^2 n_L N (:func:`scaled_p_star`) with kappa from ``fit`` when
    given (e.g. the ``ntk_spectrum`` fit, as the correspondence figure does), else from
    :func:`threshold_fit` on the same rows' ``sigma_min_j_normalized`` (the learner's own
    Jacobian: the network's NTK, or the readout features for random features):

    * ``p_star``: the fit on every width with P >= 2 n_L N;
    * ``p_star_edge``: the same fit restricted to n_L N <= P <= 4 n_L N (:data:`EDGE_RANGE`),
      where the Bai-Yin edge law holds best. Far above the threshold sigma_min(J~) grows like
      sqrt(lambda_min) of the infinite-width kernel, not like the edge law, which biases the
      all-widths kappa low when the features are correlated (random ReLU features: kappa ~ 0.65,
      edge fit ~ 0.95, the exact rank threshold being P = n_L N).

    NaN where fewer than two widths fall in a fit's range, or every sample diverged. Samples whose
    training diverged (``diverged`` = 1) are left out of everything and counted in
    ``n_diverged`` (of ``n_runs`` (width, sample) pairs).

    Returns:
        One row per learner with :data:`PEAK_COLUMNS`: ``n_constraints`` = n_L N,
        ``peak_ratio`` = peak P / (n_L N), ``p_star_ratio`` = P* / (n_L N) = kappa^2,
        ``peak_over_p_star`` = peak P / P* (and the same for the edge fit).
    """
    out = []
    table = final_rows(table)
    nan = float("nan")
    for learner, rows in table.groupby(_learners(table), sort=False):
        n = int(rows["n_outputs"].iloc[0]) * int(rows["n_train"].iloc[0])
        n_runs = _n_runs(rows)
        rows, n_diverged = _converged(rows)
        row = dict.fromkeys(PEAK_COLUMNS, nan)
        row.update(learner=learner, n_constraints=n, n_diverged=n_diverged, n_runs=n_runs,
                   peak_level=LEVEL)  # fmt: skip
        row["step"] = int(rows["step"].max()) if "step" in rows and len(rows) else -1
        peak = peak_interval(rows, x="n_params", y="test_loss") if len(rows) else None
        if peak is None:
            out.append(row)
            continue
        best = peak.peak
        widths = rows.groupby("n_params")["width"].first()
        own, edge = (threshold_fit(rows, n), threshold_fit(rows, n, *EDGE_RANGE))
        source = fit if fit is not None else own
        p_star, p_lo, p_hi = scaled_p_star(source, n)
        p_edge = scaled_p_star(edge, n)[0]
        kappa = source.kappa if source is not None else nan
        row.update(
            peak_width=int(widths[best]),
            peak_n_params=int(best),
            peak_ratio=best / n,
            peak_ratio_lo=peak.lo / n,
            peak_ratio_hi=peak.hi / n,
            peak_test_loss=float(rows.loc[rows["n_params"] == best, "test_loss"].mean()),
            kappa=kappa,
            p_star=p_star,
            p_star_lo=p_lo,
            p_star_hi=p_hi,
            p_star_ratio=p_star / n,
            peak_over_p_star=best / p_star,
            kappa_edge=edge.kappa if edge is not None else nan,
            p_star_edge=p_edge,
            p_star_edge_ratio=p_edge / n,
            peak_over_p_star_edge=best / p_edge,
        )
        out.append(row)
    return pd.DataFrame(out, columns=list(PEAK_COLUMNS))


def _errorbar(ax, x, stats, **kw):
    ax.errorbar(
        x, stats["mean"], yerr=stats["sem"].fillna(0), fmt="o-", ms=3, capsize=2, lw=1, **kw
    )


def _lr_text(rows: pd.DataFrame | None, optim: dict) -> str:
    """``lr 0.5`` (one learning rate) or ``lr 0.1-2 per width`` (from the rows when they hold
    ``lr``, else from the config)."""
    if rows is not None and "lr" in rows and rows["lr"].notna().any():
        lrs = np.unique(rows["lr"].dropna().to_numpy(float))
        if len(lrs) > 1:
            return f"lr {lrs.min():.3g}-{lrs.max():.3g} per width"
        return f"lr {lrs[0]:.3g}"
    return f"lr {optim.get('lr', '?')}"


def _when(config: dict, learner: str, step, rows: pd.DataFrame | None = None) -> str:
    """``t = <step> <optimiser> steps (lr ...)`` for a time-resolved learner, else ``t -> inf``."""
    if learner not in TIME_STYLES:
        return r"$t\to\infty$"
    optim = (config.get("optim") or {}) if isinstance(config, dict) else {}
    name = "gd" if learner == "linearized" else optim.get("name", "?")
    return f"t = {int(step)} {name} steps ({_lr_text(rows, optim)})"


def _title(config: dict, learner: str, n: int, note: str, step=None, rows=None) -> str:
    cfg = config if isinstance(config, dict) else {}
    data = cfg.get("data") or {}
    ridge = cfg.get("ridge", 0.0)
    when = "" if step is None else f" at {_when(cfg, learner, step, rows)}\n"
    title = (
        f"{learner}{when}{', ' if not when else ''}ridge={ridge:g}, "
        f"label noise={data.get('label_noise', '?')}, $n_L N$={n} ({data.get('source', '?')})"
    )
    return title + (f"\n{note}" if note else "")


def plot_double_descent(table: pd.DataFrame, arrays, config: dict, outdir: Path) -> list[Path]:
    """Test and train loss against P / (n_L N), the measured peak, P = n_L N and P*.

    Drawn from each learner's final rows (:func:`final_rows`); then, when a learner has more than
    one recorded step, the time figure :func:`plot_double_descent_time`. Left: mean +- s.e.m. over
    samples of the test loss and the train loss (log-log); the peak (argmax of the mean test loss)
    is circled, its 68% bootstrap interval drawn as a horizontal bar; dotted line at P = n_L N,
    dashed at the fitted P* = kappa^2 n_L N (widths with P >= 2 n_L N, as ``ntk_spectrum``),
    dash-dotted at the edge fit's P* (n_L N <= P <= 4 n_L N). Middle: the test error. Right:
    sigma_min of the normalised Jacobian with the fits sigma (sqrt(P) - kappa sqrt(n_L N)) that
    give P*. Diverged samples are left out and counted in the title; a learner whose samples all
    diverged gets empty panels saying so. Also writes ``double_descent_peak.csv``
    (:func:`peak_summary`) and logs the peak against n_L N and P*.
    """
    outdir = Path(outdir)
    full = table
    table = final_rows(table)
    summary = peak_summary(table)
    paths: list[Path] = []
    for i, (learner, rows) in enumerate(table.groupby(_learners(table), sort=False)):
        peak = summary.iloc[i]
        n = int(peak["n_constraints"])
        rows, n_diverged = _converged(rows)
        note = diverged_note(n_diverged, int(peak["n_runs"]))
        stem = "double_descent" if i == 0 else f"double_descent_{learner}"
        fig, ax = new_figure(1, 3, size=(4.2, 4.6))
        step = int(peak["step"]) if learner in TIME_STYLES and peak["step"] >= 0 else None
        ax[0].set_title(_title(config, learner, n, note, step, rows), fontsize=8)
        if rows.empty or not np.isfinite(peak["peak_ratio"]):
            for a in ax:
                empty_panel(a, note or "no finite test loss")
            paths += save_figure(fig, outdir, stem)
            log.warning("double_descent (%s): %s; empty figure", learner, note or "no data")
            continue
        test = mean_sem(rows, "n_params", "test_loss")
        train = mean_sem(rows, "n_params", "train_loss")
        err = mean_sem(rows, "n_params", "test_error")
        x = test["n_params"].to_numpy(float) / n
        _errorbar(ax[0], x, test, label="test loss", color="C0")
        # train loss: ridgeless interpolation gives ~1e-30; draw it at a floor below the test loss
        floor = 1e-3 * float(np.nanmin(test["mean"]))
        tr = train["mean"].to_numpy(float)
        low = tr < floor
        ax[0].plot(x[~low], tr[~low], "o-", ms=3, lw=1, color="C1", label="train loss")
        if low.any():
            ax[0].plot(x[low], np.full(low.sum(), floor), "v", ms=3, color="C1",
                       label=f"train loss < {floor:.1g}")  # fmt: skip
        ax[0].errorbar(
            peak["peak_ratio"], peak["peak_test_loss"],
            xerr=[[peak["peak_ratio"] - peak["peak_ratio_lo"]],
                  [peak["peak_ratio_hi"] - peak["peak_ratio"]]],
            fmt="o", ms=11, mfc="none", color="C3", capsize=3,
            label=(rf"peak: $P/(n_L N)$={peak['peak_ratio']:.3g} "
                   rf"[{peak['peak_ratio_lo']:.3g}, {peak['peak_ratio_hi']:.3g}] (68%)"),
        )  # fmt: skip
        _errorbar(ax[1], x, err, color="C2", label="test error")
        sig = mean_sem(rows, "n_params", "sigma_min_j_normalized")
        ax[2].plot(sig["n_params"] / n, sig["mean"], "o", ms=3, label=r"$\tilde\sigma_{\min}(J)$")
        fits = (
            ("p_star", "kappa", (2.0, np.inf), "--", r"$P^*$ (P$\geq$2$n_L N$)"),
            ("p_star_edge", "kappa_edge", EDGE_RANGE, "-.", r"$P^*$ (edge fit)"),
        )
        for (col, kcol, rng, ls, name), color in zip(fits, ("C3", "C4"), strict=True):
            if not np.isfinite(peak[col]):
                continue
            label = rf"{name}, $\kappa$={peak[kcol]:.2f}"
            for a in ax:
                a.axvline(peak[col] / n, color=color, ls=ls, lw=1, label=label)
            fit = threshold_fit(rows, n, *rng)
            grid = np.geomspace(max(peak[col] / n, rng[0]), min(x.max(), rng[1]), 100)
            line = fit.sigma * (np.sqrt(grid * n) - fit.kappa * np.sqrt(n))
            ax[2].plot(grid, line, color=color, ls="-", lw=1)
        for a in ax:
            a.axvline(1.0, color="0.4", ls=":", lw=1, label="$P=n_L N$")
        ax[0].set(xscale="log", yscale="log", xlabel=r"$P/(n_L N)$", ylabel="loss")
        digits = (config.get("data") or {}).get("source") == "digits" if config else False
        kind = "misclassification rate" if digits else "relative MSE"
        ax[1].set(xscale="log", yscale="log", xlabel=r"$P/(n_L N)$", ylabel=f"test error ({kind})")
        ax[2].set(
            xscale="log", xlabel=r"$P/(n_L N)$", ylabel=r"$\tilde\sigma_{\min}(J)$",
        )  # fmt: skip
        ax[2].set_title("smallest singular value, normalised J", fontsize=8)
        for a in ax:
            legend_below(a)
        paths += save_figure(fig, outdir, stem)
        log.info(
            "double_descent (%s): test-loss peak at P = %d (P/(n_L N) = %.3g [%.3g, %.3g] 68%% "
            "bootstrap, width %d); P* = kappa^2 n_L N = %.1f from this run's sigma_min(J~) fit "
            "(P*/(n_L N) = %.3g, peak/P* = %.3g); edge fit P* = %.1f (peak/P* = %.3g)%s",
            learner, peak["peak_n_params"], peak["peak_ratio"], peak["peak_ratio_lo"],
            peak["peak_ratio_hi"], peak["peak_width"], peak["p_star"], peak["p_star_ratio"],
            peak["peak_over_p_star"], peak["p_star_edge"], peak["peak_over_p_star_edge"],
            f"; {note}" if note else "",
        )  # fmt: skip
    csv = outdir / "double_descent_peak.csv"
    csv.parent.mkdir(parents=True, exist_ok=True)
    summary.to_csv(csv, index=False)
    return paths + [csv] + plot_double_descent_time(full, config, outdir)


# -- time ---------------------------------------------------------------------------------------
def _constraints(rows: pd.DataFrame) -> int:
    return int(rows["n_outputs"].iloc[0]) * int(rows["n_train"].iloc[0])


def _regrid(rows: pd.DataFrame) -> pd.DataFrame:
    """One learner's rows whose widths have different time grids (a learning rate per width), the
    test loss interpolated (linear in log t) per (width, sample) onto one log-spaced grid over the
    times every width reached; t = 0 rows are kept as they are."""
    pos = rows[rows["t"] > 0]
    ranges = pos.groupby("n_params")["t"].agg(["min", "max"])
    lo, hi = float(ranges["min"].max()), float(ranges["max"].min())
    if not lo < hi:
        log.warning("double_descent: the widths' training times do not overlap; not regridded")
        return rows
    grid = np.geomspace(lo, hi, int(pos.groupby("n_params")["t"].nunique().max()))
    out = [rows[rows["t"] <= 0]]
    for _, g in pos.groupby(["n_params", "sample"], sort=False):
        g = g.sort_values("t")
        ok = np.isfinite(g["test_loss"].to_numpy(float))
        base = g.iloc[[0] * len(grid)].reset_index(drop=True)
        loss = np.full(len(grid), np.nan)
        if ok.sum() >= 1:
            loss = np.interp(np.log(grid), np.log(g["t"].to_numpy(float)[ok]),
                             g["test_loss"].to_numpy(float)[ok])  # fmt: skip
        out.append(base.assign(t=grid, time=grid, step=np.nan, test_loss=loss,
                               train_loss=np.nan))  # fmt: skip
    return pd.concat(out, ignore_index=True)


def time_rows(table: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The rows with a column ``t`` of training time, and its axis label.

    ``t`` is the continuous time ``lr * step`` (column ``time``) when the entry holds it, else
    the step (older entries). Widths trained with different learning rates have different times
    at the same step: their test loss is interpolated onto one grid of times (per learner), so
    that a curve "at time t" compares widths at the same t. The closed-form learners (t ->
    infinity) keep ``t`` = their one step.
    """
    col, label = time_axis(table)
    table = table.assign(t=table[col].to_numpy(float))
    if col == "step":
        return table, label
    parts = []
    for learner, rows in table.groupby(_learners(table), sort=False):
        if learner not in TIME_STYLES:  # closed forms (t -> infinity): one row per sample
            parts.append(rows.assign(t=rows["step"].to_numpy(float)))
            continue
        grids = rows.groupby("n_params")["t"].apply(lambda s: tuple(np.unique(s)))
        same = grids.nunique() <= 1
        parts.append(rows if same else _regrid(rows))
    return pd.concat(parts, ignore_index=True), label


def _mean_loss(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean test loss over the converged samples per (t, n_params): a (t x P) table."""
    rows, _ = _converged(rows)
    return rows.pivot_table(index="t", columns="n_params", values="test_loss", aggfunc="mean")


def peak_over_time(table: pd.DataFrame) -> pd.DataFrame:
    """The test-loss peak at every recorded time of each time-resolved learner.

    At each time (``step``, or ``time`` = lr * step where the entry holds it, see
    :func:`time_rows`), the argmax over P of the mean test loss over samples, diverged samples
    left out (as in :func:`peak_summary`), with its 68% bootstrap interval over samples
    (:func:`~typicality_ntk.plot.peaks.peak_interval_over`); the closed-form learners (one step)
    give one row each.

    Returns:
        One row per (learner, time) with :data:`PEAK_TIME_COLUMNS` (``peak_ratio`` = peak P /
        (n_L N), ``peak_ratio_lo/hi`` its interval; ``time`` NaN for entries without it, ``step``
        NaN where times were interpolated; ``n_samples``: the samples averaged at the peak).
    """
    out = []
    if table.empty:
        return pd.DataFrame(out, columns=list(PEAK_TIME_COLUMNS))
    rows_t, _ = time_rows(table)
    has_time = "time" in table
    for learner, rows in rows_t.groupby(_learners(rows_t), sort=False):
        n = _constraints(rows)
        ok, _ = _converged(rows)
        ok = ok[np.isfinite(ok["test_loss"].to_numpy(float))]
        if ok.empty:
            continue
        widths = ok.groupby("n_params")["width"].first()
        counts = ok.pivot_table(index="t", columns="n_params", values="test_loss", aggfunc="count")
        steps = ok.groupby("t")["step"].first()
        boot = peak_interval_over(ok, by="t").set_index("t")
        for t, b in boot.iterrows():
            best = b["peak"]
            out.append(
                {
                    "learner": learner,
                    "step": float(steps.get(t, np.nan)),
                    "time": float(t) if has_time and learner in TIME_STYLES else np.nan,
                    "n_constraints": n,
                    "peak_width": int(widths[best]),
                    "peak_n_params": int(best),
                    "peak_ratio": best / n,
                    "peak_ratio_lo": b["lo"] / n,
                    "peak_ratio_hi": b["hi"] / n,
                    "peak_test_loss": float(
                        ok.loc[(ok["t"] == t) & (ok["n_params"] == best), "test_loss"].mean()
                    ),  # fmt: skip
                    "n_samples": int(counts.loc[t, best]),
                }
            )
    return pd.DataFrame(out, columns=list(PEAK_TIME_COLUMNS))


def _some_steps(steps: np.ndarray, k: int = 5) -> list[float]:
    """About ``k`` recorded times, log-spaced between the first non-zero one and the last."""
    steps = np.sort(np.asarray(steps, float))
    pos = steps[steps > 0]
    if len(pos) <= k:
        return [float(s) for s in pos] or [float(s) for s in steps]
    want = np.geomspace(pos[0], pos[-1], k)
    picked = {float(pos[np.argmin(np.abs(np.log(pos) - np.log(w)))]) for w in want}
    return sorted(picked)


def _edges(values: np.ndarray) -> np.ndarray:
    """Cell edges for centres on a log axis (geometric midpoints, half a cell beyond the ends)."""
    v = np.log(np.asarray(values, float))
    if len(v) == 1:
        return np.exp(np.array([v[0] - 0.5, v[0] + 0.5]))
    mid = (v[1:] + v[:-1]) / 2
    return np.exp(np.concatenate([[2 * v[0] - mid[0]], mid, [2 * v[-1] - mid[-1]]]))


def _heat(ax, fig, grid: pd.DataFrame, n: int, title: str, tlabel: str, *, cmap="magma",
          norm=None, label=""):  # fmt: skip
    """``grid`` (t x P) as cells over (P / (n_L N), t), t = 0 left out (log time)."""
    grid = grid[grid.index > 0]
    if grid.empty:
        empty_panel(ax, "no recorded time > 0")
        ax.set_title(title, fontsize=8)
        return None
    x = grid.columns.to_numpy(float) / n
    y = grid.index.to_numpy(float)
    mesh = ax.pcolormesh(_edges(x), _edges(y), grid.to_numpy(float), cmap=cmap, norm=norm,
                         shading="flat")  # fmt: skip
    fig.colorbar(mesh, ax=ax, label=label, pad=0.01)
    ax.set(xscale="log", yscale="log", xlabel=r"$P/(n_L N)$", ylabel=tlabel)
    ax.set_title(title, fontsize=8)
    ax.axvline(1.0, color="w", ls=":", lw=1)
    return mesh


def _fmt_t(t: float) -> str:
    return f"{t:.3g}" if t != int(t) or t >= 1e5 else f"{int(t)}"


def plot_double_descent_time(
    table: pd.DataFrame, config: dict, outdir: Path, *, stem: str = "double_descent_time"
) -> list[Path]:
    """The double descent in training time, for the time-resolved learners of ``table``.

    Time is ``lr * step`` (the entry's ``time`` column) when the entry holds it, else the step
    (:func:`time_rows`). Top left: mean test loss against P / (n_L N) at about five recorded
    times (colour: time; network solid, linearised dashed) and the t -> infinity limit
    (``ntk_regression``, black) where the table holds it. Top middle and right: the peak's height
    and location (argmax over P of the mean test loss, :func:`peak_over_time`, its 68% bootstrap
    interval over samples shaded) against time, with the t -> infinity peak, P = n_L N and the
    fitted P* (:func:`peak_summary` on the final rows: the edge fit, else the all-widths one).
    Bottom: heat maps of log10 mean test loss over (P / (n_L N), t) per time-resolved learner,
    the peak's path drawn on them; with both the network and its linearisation, also
    log10(test loss network / linearised): where the network leaves its linearisation (small
    widths, long times). Diverged samples are left out and counted in the title (all diverged:
    empty panels that say so). Also writes ``double_descent_peak_time.csv``. Returns ``[]`` when
    no learner has more than one step.
    """
    if "step" not in table or table.empty:
        return []
    learners = _learners(table)
    timed = [lrn for lrn in TIME_STYLES if lrn in set(learners)]
    timed = [lrn for lrn in timed if table.loc[learners == lrn, "step"].nunique() > 1]
    if not timed:
        return []
    outdir = Path(outdir)
    n = _constraints(table)
    rows_t, tlabel = time_rows(table)
    peaks = peak_over_time(table)
    summary = peak_summary(table).set_index("learner")
    lrn_t = _learners(rows_t)
    by = {lrn: rows_t[lrn_t == lrn] for lrn in set(lrn_t)}
    both = "network" in timed and "linearized" in timed
    n_heat = len(timed) + both
    if n_heat == 1:  # one row: curves, heat map, height, location
        fig, ax = new_figure(1, 4, size=(4.7, 4.6))
        top, heats = [ax[0], ax[2], ax[3]], [ax[1]]
    else:  # curves, height, location; heat maps (and the gap) below
        fig, ax = new_figure(2, 3, size=(4.4, 4.2))
        top, heats = list(ax[:3]), list(ax[3 : 3 + n_heat])
        for a in ax[3 + n_heat :]:
            a.set_visible(False)
    notes = []
    for lrn in timed:
        rows = final_rows(by[lrn])
        k = _converged(rows)[1]
        if k:
            notes.append(f"{lrn}: {diverged_note(k, _n_runs(rows))}")
    cfg = config if isinstance(config, dict) else {}
    data = cfg.get("data") or {}
    title = (
        f"double descent in training time: $n_L N$={n}, label noise "
        f"{data.get('label_noise', '?')}, "
        f"{_when(cfg, timed[0], table['step'].max(), table[learners == timed[0]])}"
    )
    fig.suptitle(title + ("\n" + "; ".join(notes) if notes else ""), fontsize=10)
    grids = {lrn: _mean_loss(by[lrn]) for lrn in timed}
    grids = {lrn: g for lrn, g in grids.items() if g.notna().any().any()}
    csv = outdir / f"{stem.replace('double_descent_time', 'double_descent_peak_time')}.csv"
    if not grids:  # every sample of every time-resolved learner diverged
        for a in ax:
            if a.get_visible():
                empty_panel(a, "; ".join(notes) or "no finite test loss")
        paths = save_figure(fig, outdir, stem)
        peaks.to_csv(csv, index=False)
        return paths + [csv]
    timed_ok = list(grids)

    # (a) test loss against P at a few times
    times = _some_steps(grids[timed_ok[0]].index.to_numpy())
    colors = matplotlib.colormaps["viridis"](np.linspace(0.0, 0.9, len(times)))
    for lrn in timed_ok:
        g = grids[lrn]
        for t, color in zip(times, colors, strict=True):
            if t not in g.index:
                continue
            row = g.loc[t].dropna()
            label = f"t = {_fmt_t(t)}" if lrn == timed_ok[0] else None
            top[0].plot(row.index / n, row.to_numpy(), TIME_STYLES[lrn], color=color, lw=1.2,
                        marker="o" if lrn == "network" else None, ms=2.5, label=label)  # fmt: skip
    inf_rows = _converged(by["ntk_regression"])[0] if "ntk_regression" in by else None
    if inf_rows is not None and len(inf_rows):
        inf = _mean_loss(by["ntk_regression"]).iloc[-1].dropna()
        top[0].plot(inf.index / n, inf.to_numpy(), "-", color="k", lw=1.8,
                    label=r"$t\to\infty$ (NTK regression)")  # fmt: skip
    for lrn in timed_ok:  # legend entries for the line styles
        top[0].plot([], [], TIME_STYLES[lrn], color="0.3", label=lrn)
    top[0].axvline(1.0, color="0.4", ls=":", lw=1, label="$P = n_L N$")
    top[0].set(xscale="log", yscale="log", xlabel=r"$P/(n_L N)$", ylabel="mean test loss")
    top[0].set_title("test loss at several training times", fontsize=9)

    # (b, c) the peak's height and location against time, with the bootstrap interval
    p_star = {}
    for lrn in timed_ok:
        if lrn in summary.index:
            edge, full = summary.loc[lrn, "p_star_edge"], summary.loc[lrn, "p_star"]
            p_star[lrn] = edge if np.isfinite(edge) else full
    for i, lrn in enumerate(timed_ok):
        pk = peaks[(peaks["learner"] == lrn) & (peaks["time" if "time" in table else "step"] > 0)]
        tt = pk["time"] if "time" in table else pk["step"]
        kw = {"ls": TIME_STYLES[lrn], "marker": "o", "ms": 3, "lw": 1.2, "color": f"C{i}"}
        top[1].plot(tt, pk["peak_test_loss"], label=lrn, **kw)
        top[2].plot(tt, pk["peak_ratio"], label=f"{lrn}: argmax", **kw)
        top[2].fill_between(tt, pk["peak_ratio_lo"], pk["peak_ratio_hi"], color=f"C{i}",
                            alpha=0.2, lw=0, step="mid",
                            label=f"{lrn}: 68% bootstrap interval")  # fmt: skip
    if inf_rows is not None and len(inf_rows):
        inf_peak = peaks[peaks["learner"] == "ntk_regression"].iloc[-1]
        top[1].axhline(inf_peak["peak_test_loss"], color="k", lw=1.5,
                       label=r"$t\to\infty$ (NTK regression)")  # fmt: skip
        top[2].axhline(inf_peak["peak_ratio"], color="k", lw=1.5,
                       label=r"$t\to\infty$ (NTK regression)")  # fmt: skip
    top[2].axhline(1.0, color="0.4", ls=":", lw=1, label="$P = n_L N$")
    for lrn, ps in p_star.items():
        if np.isfinite(ps):
            top[2].axhline(ps / n, color="C3", ls="-.", lw=1, label=rf"$P^*$ ({lrn} fit)")
            break
    top[1].set(xscale="log", yscale="log", xlabel=tlabel, ylabel="peak test loss")
    top[1].set_title("height of the peak", fontsize=9)
    top[2].set(xscale="log", yscale="log", xlabel=tlabel, ylabel=r"peak location $P/(n_L N)$")
    top[2].set_title("location of the peak", fontsize=9)
    for a in top:
        legend_below(a)

    # (d) heat maps, and the gap network - linearised; colours from t >= 10 (past the start)
    logs = {lrn: np.log10(g) for lrn, g in grids.items()}
    vals = np.concatenate([g[g.index >= min(10, g.index.max())].to_numpy(float).ravel()
                           for g in logs.values()])  # fmt: skip
    vals = vals[np.isfinite(vals)]
    norm = Normalize(*np.percentile(vals, [1, 99])) if vals.size else None
    for j, lrn in enumerate(timed):
        if lrn not in logs:
            empty_panel(heats[j], f"{lrn}: {diverged_note(1, 1)}")
            continue
        _heat(heats[j], fig, logs[lrn], n, f"{lrn}: log10 mean test loss", tlabel, norm=norm,
              label="log10 test loss")  # fmt: skip
        pk = peaks[(peaks["learner"] == lrn)]
        tt = pk["time"] if "time" in table else pk["step"]
        heats[j].plot(pk["peak_ratio"][tt > 0], tt[tt > 0], "o", ms=2.5, mfc="none", color="c",
                      label="peak (argmax over P)")  # fmt: skip
        legend_below(heats[j], ncol=1)
    if both:
        if "network" in grids and "linearized" in grids:
            net, lin = grids["network"], grids["linearized"]
            common = net.index.intersection(lin.index)
            cols = net.columns.intersection(lin.columns)
            gap = np.log10(net.loc[common, cols] / lin.loc[common, cols])
            vals = np.abs(gap[gap.index > 0].to_numpy(float))
            vals = vals[np.isfinite(vals)]
            lim = float(np.percentile(vals, 99)) if vals.size else 1.0
            _heat(heats[-1], fig, gap, n, "network vs its linearisation", tlabel, cmap="RdBu_r",
                  norm=Normalize(-lim, lim),
                  label="log10(test loss network / linearised)")  # fmt: skip
        else:
            empty_panel(heats[-1], "no gap: one learner has no converged sample")
    paths = save_figure(fig, outdir, stem)
    peaks.to_csv(csv, index=False)
    for lrn in timed_ok:
        pk = peaks[peaks["learner"] == lrn]
        first = pk.iloc[1 if len(pk) > 1 else 0]
        last = pk.iloc[-1]
        tcol = "time" if "time" in table else "step"
        log.info(
            "double_descent (%s): peak test loss %.3g at P/(n_L N) = %.3g (%s = %s) -> %.3g at "
            "%.3g [%.3g, %.3g] (68%% bootstrap; %s = %s)", lrn, first["peak_test_loss"],
            first["peak_ratio"], tcol, _fmt_t(first[tcol]), last["peak_test_loss"],
            last["peak_ratio"], last["peak_ratio_lo"], last["peak_ratio_hi"], tcol,
            _fmt_t(last[tcol]),
        )  # fmt: skip
    return paths + [csv]
