"""Figures of the double-descent experiment, drawn from stored results only.

A double-descent table has one row per (learner, width, sample, recorded step) (column ``step``;
the closed-form learners have one step, ``optim.steps``). :func:`final_rows` is each learner's
last step, the classic double descent (:func:`peak_summary`, :func:`plot_double_descent`);
:func:`peak_over_time` and :func:`plot_double_descent_time` follow the peak in training time.
"""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.colors import Normalize

from typicality_ntk.ntk.threshold import fit_threshold
from typicality_ntk.plot._common import mean_sem, new_figure, save_figure

__all__ = [
    "PEAK_COLUMNS",
    "PEAK_TIME_COLUMNS",
    "final_rows",
    "peak_over_time",
    "peak_summary",
    "plot_double_descent",
    "plot_double_descent_time",
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
)
#: P / (n_L N) range of the near-threshold ("edge") fit.
EDGE_RANGE = (1.0, 4.0)
#: Columns of :func:`peak_over_time` and of ``double_descent_peak_time.csv``.
PEAK_TIME_COLUMNS = (
    "learner",
    "step",
    "n_constraints",
    "peak_width",
    "peak_n_params",
    "peak_ratio",
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


def _fit(rows: pd.DataFrame, n: int, lo: float = 2.0, hi: float = np.inf):
    """fit_threshold on lo n <= P <= hi n (None when fewer than two widths are there)."""
    try:
        return fit_threshold(rows[rows["n_params"] <= hi * n], n=n, min_ratio=lo, n_boot=400)
    except ValueError as err:
        log.info("double_descent: no threshold fit on P/(n_L N) in [%g, %g]: %s", lo, hi, err)
        return None


def _converged(rows: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Rows whose training did not diverge, and how many did."""
    if "diverged" not in rows:
        return rows, 0
    bad = rows["diverged"].to_numpy() != 0
    return rows[~bad], int(bad.sum())


def peak_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Where the test loss peaks, per learner, against n_L N and the fitted threshold P*.

    On each learner's final rows (:func:`final_rows`; ``step``: the step it is measured at, the
    training time of a trained network). The peak is the argmax over P (``n_params``, the
    learner's trained parameters) of the mean test loss over samples. P* = kappa^2 n_L N comes
    from
    :func:`~typicality_ntk.ntk.threshold.fit_threshold` on the same rows' ``sigma_min_j_normalized``
    (the learner's own Jacobian: the network's NTK, or the readout features for random features):

    * ``p_star``: the ``ntk_spectrum`` fit, on every width with P >= 2 n_L N;
    * ``p_star_edge``: the same fit restricted to n_L N <= P <= 4 n_L N (:data:`EDGE_RANGE`),
      where the Bai-Yin edge law holds best. Far above the threshold sigma_min(J~) grows like
      sqrt(lambda_min) of the infinite-width kernel, not like the edge law, which biases the
      all-widths kappa low when the features are correlated (random ReLU features: kappa ~ 0.65,
      edge fit ~ 0.95, the exact rank threshold being P = n_L N).

    NaN where fewer than two widths fall in a fit's range. Samples whose training diverged
    (``diverged`` = 1, network learner) are left out of everything and counted in ``n_diverged``.

    Returns:
        One row per learner with :data:`PEAK_COLUMNS`: ``n_constraints`` = n_L N,
        ``peak_ratio`` = peak P / (n_L N), ``p_star_ratio`` = P* / (n_L N) = kappa^2,
        ``peak_over_p_star`` = peak P / P* (and the same for the edge fit).
    """
    out = []
    table = final_rows(table)
    for learner, rows in table.groupby(_learners(table), sort=False):
        n = int(rows["n_outputs"].iloc[0]) * int(rows["n_train"].iloc[0])
        rows, n_diverged = _converged(rows)
        stats = rows.groupby("n_params", sort=True).agg(
            test_loss=("test_loss", "mean"), width=("width", "first")
        )
        best = stats["test_loss"].idxmax()
        fit, edge = _fit(rows, n), _fit(rows, n, *EDGE_RANGE)
        nan = float("nan")
        p_star = fit.p_star if fit is not None else nan
        p_edge = edge.p_star if edge is not None else nan
        out.append(
            {
                "learner": learner,
                "step": int(rows["step"].max()) if "step" in rows else -1,
                "n_constraints": n,
                "peak_width": int(stats.loc[best, "width"]),
                "peak_n_params": int(best),
                "peak_ratio": best / n,
                "peak_test_loss": float(stats.loc[best, "test_loss"]),
                "kappa": fit.kappa if fit is not None else nan,
                "p_star": p_star,
                "p_star_lo": fit.p_star_lo if fit is not None else nan,
                "p_star_hi": fit.p_star_hi if fit is not None else nan,
                "p_star_ratio": p_star / n,
                "peak_over_p_star": best / p_star,
                "kappa_edge": edge.kappa if edge is not None else nan,
                "p_star_edge": p_edge,
                "p_star_edge_ratio": p_edge / n,
                "peak_over_p_star_edge": best / p_edge,
                "n_diverged": n_diverged,
            }
        )
    return pd.DataFrame(out, columns=list(PEAK_COLUMNS))


def _errorbar(ax, x, stats, **kw):
    ax.errorbar(
        x, stats["mean"], yerr=stats["sem"].fillna(0), fmt="o-", ms=3, capsize=2, lw=1, **kw
    )


def _when(config: dict, learner: str, step) -> str:
    """``t = <step> <optimiser> steps (lr ...)`` for a time-resolved learner, else ``t -> inf``."""
    if learner not in TIME_STYLES:
        return r"$t\to\infty$"
    optim = (config.get("optim") or {}) if isinstance(config, dict) else {}
    name = "gd" if learner == "linearized" else optim.get("name", "?")
    return f"t = {int(step)} {name} steps (lr {optim.get('lr', '?')})"


def _title(config: dict, learner: str, n: int, n_diverged: int, step=None) -> str:
    cfg = config if isinstance(config, dict) else {}
    data = cfg.get("data") or {}
    ridge = cfg.get("ridge", 0.0)
    when = "" if step is None else f" at {_when(cfg, learner, step)}\n"
    title = (
        f"{learner}{when}, ridge={ridge:g}, label noise={data.get('label_noise', '?')}, "
        f"$n_L N$={n} ({data.get('source', '?')})"
    )
    return title + (f"; {n_diverged} diverged samples left out" if n_diverged else "")


def plot_double_descent(table: pd.DataFrame, arrays, config: dict, outdir: Path) -> list[Path]:
    """Test and train loss against P / (n_L N), the measured peak, P = n_L N and P*.

    Drawn from each learner's final rows (:func:`final_rows`); then, when a learner has more than
    one recorded step, the time figure :func:`plot_double_descent_time`. Left: mean +- s.e.m. over
    samples of the test loss and the train loss (log-log); the peak (argmax of the mean test loss)
    is circled; dotted line at P = n_L N, dashed at the fitted P* = kappa^2 n_L N (widths with P >=
    2 n_L N, as ``ntk_spectrum``), dash-dotted at the edge fit's P* (n_L N <= P <= 4 n_L N).
    Middle: the test error. Right: sigma_min of the normalised Jacobian with the fits sigma
    (sqrt(P) - kappa sqrt(n_L N)) that give P*. Also writes ``double_descent_peak.csv``
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
        fig, ax = new_figure(1, 3, size=(4.2, 3.4))
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
        ax[0].plot(
            peak["peak_ratio"], peak["peak_test_loss"], "o", ms=11, mfc="none", color="C3",
            label=rf"peak: $P/(n_L N)$={peak['peak_ratio']:.3g}",
        )  # fmt: skip
        _errorbar(ax[1], x, err, color="C2")
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
            fit = _fit(rows, n, *rng)
            grid = np.geomspace(max(peak[col] / n, rng[0]), min(x.max(), rng[1]), 100)
            line = fit.sigma * (np.sqrt(grid * n) - fit.kappa * np.sqrt(n))
            ax[2].plot(grid, line, color=color, ls="-", lw=1)
        for a in ax:
            a.axvline(1.0, color="0.4", ls=":", lw=1, label="$P=n_L N$")
        ax[0].set(xscale="log", yscale="log", xlabel=r"$P/(n_L N)$", ylabel="loss")
        step = int(peak["step"]) if learner in TIME_STYLES else None
        ax[0].set_title(_title(config, learner, n, n_diverged, step), fontsize=8)
        digits = (config.get("data") or {}).get("source") == "digits" if config else False
        kind = "misclassification rate" if digits else "relative MSE"
        ax[1].set(xscale="log", yscale="log", xlabel=r"$P/(n_L N)$", ylabel=f"test error ({kind})")
        ax[2].set(
            xscale="log", xlabel=r"$P/(n_L N)$", ylabel=r"$\tilde\sigma_{\min}(J)$",
            title="smallest singular value, normalised J",
        )  # fmt: skip
        ax[0].legend(fontsize=7)
        ax[2].legend(fontsize=7)
        stem = "double_descent" if i == 0 else f"double_descent_{learner}"
        paths += save_figure(fig, outdir, stem)
        log.info(
            "double_descent (%s): test-loss peak at P = %d (P/(n_L N) = %.3g, width %d); "
            "P* = %.1f (P*/(n_L N) = %.3g, peak/P* = %.3g); edge fit P* = %.1f (peak/P* = %.3g)",
            learner, peak["peak_n_params"], peak["peak_ratio"], peak["peak_width"],
            peak["p_star"], peak["p_star_ratio"], peak["peak_over_p_star"],
            peak["p_star_edge"], peak["peak_over_p_star_edge"],
        )  # fmt: skip
    csv = outdir / "double_descent_peak.csv"
    csv.parent.mkdir(parents=True, exist_ok=True)
    summary.to_csv(csv, index=False)
    return paths + [csv] + plot_double_descent_time(full, config, outdir)


# -- time ---------------------------------------------------------------------------------------
def _constraints(rows: pd.DataFrame) -> int:
    return int(rows["n_outputs"].iloc[0]) * int(rows["n_train"].iloc[0])


def _mean_loss(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean test loss over the converged samples per (step, n_params): a (step x P) table."""
    rows, _ = _converged(rows)
    return rows.pivot_table(index="step", columns="n_params", values="test_loss", aggfunc="mean")


def peak_over_time(table: pd.DataFrame) -> pd.DataFrame:
    """The test-loss peak at every recorded step of each time-resolved learner.

    At each step, the argmax over P of the mean test loss over samples (diverged samples left
    out, as in :func:`peak_summary`); the closed-form learners (one step) give one row each.

    Returns:
        One row per (learner, step) with :data:`PEAK_TIME_COLUMNS` (``peak_ratio`` = peak P /
        (n_L N); ``n_samples``: the samples averaged at the peak).
    """
    out = []
    for learner, rows in table.groupby(_learners(table), sort=False):
        n = _constraints(rows)
        ok, _ = _converged(rows)
        widths = ok.groupby("n_params")["width"].first()
        grid = _mean_loss(rows)
        counts = ok.pivot_table(
            index="step", columns="n_params", values="test_loss", aggfunc="count"
        )
        for step, losses in grid.iterrows():
            if not losses.notna().any():
                continue
            best = losses.idxmax()
            out.append(
                {
                    "learner": learner,
                    "step": int(step),
                    "n_constraints": n,
                    "peak_width": int(widths[best]),
                    "peak_n_params": int(best),
                    "peak_ratio": best / n,
                    "peak_test_loss": float(losses[best]),
                    "n_samples": int(counts.loc[step, best]),
                }
            )
    return pd.DataFrame(out, columns=list(PEAK_TIME_COLUMNS))


def _some_steps(steps: np.ndarray, k: int = 5) -> list[int]:
    """About ``k`` recorded steps, log-spaced between the first non-zero one and the last."""
    steps = np.sort(np.asarray(steps, np.int64))
    pos = steps[steps > 0]
    if len(pos) <= k:
        return [int(s) for s in pos] or [int(s) for s in steps]
    want = np.geomspace(pos[0], pos[-1], k)
    picked = {int(pos[np.argmin(np.abs(np.log(pos) - np.log(w)))]) for w in want}
    return sorted(picked)


def _edges(values: np.ndarray) -> np.ndarray:
    """Cell edges for centres on a log axis (geometric midpoints, half a cell beyond the ends)."""
    v = np.log(np.asarray(values, float))
    if len(v) == 1:
        return np.exp(np.array([v[0] - 0.5, v[0] + 0.5]))
    mid = (v[1:] + v[:-1]) / 2
    return np.exp(np.concatenate([[2 * v[0] - mid[0]], mid, [2 * v[-1] - mid[-1]]]))


def _heat(ax, fig, grid: pd.DataFrame, n: int, title: str, *, cmap="magma", norm=None, label=""):
    """``grid`` (step x P) as cells over (P / (n_L N), step), step 0 left out (log time)."""
    grid = grid[grid.index > 0]
    x = grid.columns.to_numpy(float) / n
    y = grid.index.to_numpy(float)
    mesh = ax.pcolormesh(_edges(x), _edges(y), grid.to_numpy(float), cmap=cmap, norm=norm,
                         shading="flat")  # fmt: skip
    fig.colorbar(mesh, ax=ax, label=label, pad=0.01)
    ax.set(xscale="log", yscale="log", xlabel=r"$P/(n_L N)$", ylabel="training step t")
    ax.set_title(title, fontsize=8)
    ax.axvline(1.0, color="w", ls=":", lw=1)
    return mesh


def plot_double_descent_time(
    table: pd.DataFrame, config: dict, outdir: Path, *, stem: str = "double_descent_time"
) -> list[Path]:
    """The double descent in training time, for the time-resolved learners of ``table``.

    Top left: mean test loss against P / (n_L N) at about five recorded steps (colour: time;
    network solid, linearised dashed) and the t -> infinity limit (``ntk_regression``, black)
    where the table holds it. Top middle and right: the peak's height and location (argmax over
    P of the mean test loss, :func:`peak_over_time`) against the step, with the t -> infinity
    peak, P = n_L N and the fitted P* (:func:`peak_summary` on the final rows: the edge fit,
    else the all-widths one). Bottom: heat maps of log10 mean test loss over (P / (n_L N), step)
    per time-resolved learner, the peak's path drawn on them; with both the network and its
    linearisation, also log10(test loss network / linearised): where the network leaves its
    linearisation (small widths, long times). Diverged samples are left out. Also writes
    ``double_descent_peak_time.csv``. Returns ``[]`` when no learner has more than one step.
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
    peaks = peak_over_time(table)
    summary = peak_summary(table).set_index("learner")
    by = {lrn: table[learners == lrn] for lrn in set(learners)}
    both = "network" in timed and "linearized" in timed
    n_heat = len(timed) + both
    if n_heat == 1:  # one row: curves, heat map, height, location
        fig, ax = new_figure(1, 4, size=(4.7, 3.8))
        top, heats = [ax[0], ax[2], ax[3]], [ax[1]]
    else:  # curves, height, location; heat maps (and the gap) below
        fig, ax = new_figure(2, 3, size=(4.4, 3.6))
        top, heats = list(ax[:3]), list(ax[3 : 3 + n_heat])
        for a in ax[3 + n_heat :]:
            a.set_visible(False)

    # (a) test loss against P at a few times
    steps = _some_steps(by[timed[0]]["step"].unique())
    colors = matplotlib.colormaps["viridis"](np.linspace(0.0, 0.9, len(steps)))
    grids = {lrn: _mean_loss(by[lrn]) for lrn in timed}
    for lrn in timed:
        g = grids[lrn]
        for step, color in zip(steps, colors, strict=True):
            if step not in g.index:
                continue
            row = g.loc[step].dropna()
            label = f"t = {step}" if lrn == timed[0] else None
            top[0].plot(row.index / n, row.to_numpy(), TIME_STYLES[lrn], color=color, lw=1.2,
                        marker="o" if lrn == "network" else None, ms=2.5, label=label)  # fmt: skip
    if "ntk_regression" in by:
        inf = _mean_loss(by["ntk_regression"]).iloc[-1].dropna()
        top[0].plot(inf.index / n, inf.to_numpy(), "-", color="k", lw=1.8,
                    label=r"$t\to\infty$ (NTK regression)")  # fmt: skip
    for lrn in timed:  # legend entries for the line styles
        top[0].plot([], [], TIME_STYLES[lrn], color="0.3", label=lrn)
    top[0].axvline(1.0, color="0.4", ls=":", lw=1)
    top[0].set(xscale="log", yscale="log", xlabel=r"$P/(n_L N)$", ylabel="mean test loss")
    top[0].set_title("test loss at several training times", fontsize=9)
    lo, hi = top[0].get_ylim()
    top[0].set_ylim(lo, hi * (hi / lo) ** 0.45)  # headroom for the legend
    top[0].legend(fontsize=6.5, loc="upper center", ncol=3, framealpha=0.8)

    # (b, c) the peak's height and location against time
    p_star = {}
    for lrn in timed:
        if lrn in summary.index:
            edge, full = summary.loc[lrn, "p_star_edge"], summary.loc[lrn, "p_star"]
            p_star[lrn] = edge if np.isfinite(edge) else full
    for i, lrn in enumerate(timed):
        pk = peaks[(peaks["learner"] == lrn) & (peaks["step"] > 0)]
        kw = {"ls": TIME_STYLES[lrn], "marker": "o", "ms": 3, "lw": 1.2, "color": f"C{i}"}
        top[1].plot(pk["step"], pk["peak_test_loss"], label=lrn, **kw)
        top[2].plot(pk["step"], pk["peak_ratio"], label=lrn, **kw)
    if "ntk_regression" in by:
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
    top[1].set(xscale="log", yscale="log", xlabel="training step t", ylabel="peak test loss")
    top[1].set_title("height of the peak", fontsize=9)
    top[2].set(xscale="log", yscale="log", xlabel="training step t",
               ylabel=r"peak location $P/(n_L N)$")  # fmt: skip
    top[2].set_title("location of the peak", fontsize=9)
    top[1].legend(fontsize=6.5, framealpha=0.8)
    top[2].legend(fontsize=6.5, framealpha=0.8, loc="upper left")

    # (d) heat maps, and the gap network - linearised; colours from t >= 10 (past the start)
    logs = {lrn: np.log10(g) for lrn, g in grids.items()}
    vals = np.concatenate([g[g.index >= min(10, g.index.max())].to_numpy(float).ravel()
                           for g in logs.values()])  # fmt: skip
    vals = vals[np.isfinite(vals)]
    norm = Normalize(*np.percentile(vals, [1, 99])) if vals.size else None
    for j, lrn in enumerate(timed):
        _heat(heats[j], fig, logs[lrn], n, f"{lrn}: log10 mean test loss", norm=norm,
              label="log10 test loss")  # fmt: skip
        pk = peaks[(peaks["learner"] == lrn) & (peaks["step"] > 0)]
        heats[j].plot(pk["peak_ratio"], pk["step"], "o", ms=2.5, mfc="none", color="c",
                      label="peak (argmax over P)")  # fmt: skip
        heats[j].legend(fontsize=7, loc="lower right")
    if both:
        net, lin = grids["network"], grids["linearized"]
        common = net.index.intersection(lin.index)
        cols = net.columns.intersection(lin.columns)
        gap = np.log10(net.loc[common, cols] / lin.loc[common, cols])
        vals = np.abs(gap[gap.index > 0].to_numpy(float))
        vals = vals[np.isfinite(vals)]
        lim = float(np.percentile(vals, 99)) if vals.size else 1.0
        _heat(heats[-1], fig, gap, n, "network vs its linearisation", cmap="RdBu_r",
              norm=Normalize(-lim, lim), label="log10(test loss network / linearised)")  # fmt: skip
    n_div = int(sum(_converged(by[lrn])[1] for lrn in timed))
    cfg = config if isinstance(config, dict) else {}
    data = cfg.get("data") or {}
    title = (
        f"double descent in training time: $n_L N$={n}, label noise "
        f"{data.get('label_noise', '?')}, {_when(cfg, timed[0], table['step'].max())}"
    )
    fig.suptitle(title + (f"; {n_div} diverged rows left out" if n_div else ""), fontsize=10)
    paths = save_figure(fig, outdir, stem)
    csv = outdir / f"{stem.replace('double_descent_time', 'double_descent_peak_time')}.csv"
    peaks.to_csv(csv, index=False)
    for lrn in timed:
        pk = peaks[peaks["learner"] == lrn]
        first = pk.iloc[1 if len(pk) > 1 else 0]
        log.info(
            "double_descent (%s): peak test loss %.3g at P/(n_L N) = %.3g (t = %d) -> %.3g at "
            "%.3g (t = %d)", lrn, first["peak_test_loss"], first["peak_ratio"], first["step"],
            pk["peak_test_loss"].iloc[-1], pk["peak_ratio"].iloc[-1], pk["step"].iloc[-1],
        )  # fmt: skip
    return paths + [csv]
