"""Figures of the double-descent experiment, drawn from stored results only."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from typicality_ntk.ntk.threshold import fit_threshold
from typicality_ntk.plot._common import mean_sem, new_figure, save_figure

__all__ = ["PEAK_COLUMNS", "peak_summary", "plot_double_descent"]

log = logging.getLogger("typicality_ntk")

#: Columns of :func:`peak_summary` and of ``double_descent_peak.csv``.
PEAK_COLUMNS = (
    "learner",
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

    The peak is the argmax over P (``n_params``, the learner's trained parameters) of the mean
    test loss over samples. P* = kappa^2 n_L N comes from
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
    learners = table["learner"] if "learner" in table else pd.Series(["?"] * len(table))
    for learner, rows in table.groupby(learners.to_numpy(), sort=False):
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


def _title(config: dict, learner: str, n: int, n_diverged: int) -> str:
    cfg = config if isinstance(config, dict) else {}
    data = cfg.get("data") or {}
    ridge = cfg.get("ridge", 0.0)
    title = (
        f"{learner}, ridge={ridge:g}, label noise={data.get('label_noise', '?')}, "
        f"$n_L N$={n} ({data.get('source', '?')})"
    )
    return title + (f"; {n_diverged} diverged samples left out" if n_diverged else "")


def plot_double_descent(table: pd.DataFrame, arrays, config: dict, outdir: Path) -> list[Path]:
    """Test and train loss against P / (n_L N), the measured peak, P = n_L N and P*.

    Left: mean +- s.e.m. over samples of the test loss and the train loss (log-log); the peak
    (argmax of the mean test loss) is circled; dotted line at P = n_L N, dashed at the fitted
    P* = kappa^2 n_L N (widths with P >= 2 n_L N, as ``ntk_spectrum``), dash-dotted at the edge
    fit's P* (n_L N <= P <= 4 n_L N). Middle: the test error. Right: sigma_min of the normalised
    Jacobian with the fits sigma (sqrt(P) - kappa sqrt(n_L N)) that give P*. Also writes
    ``double_descent_peak.csv`` (:func:`peak_summary`) and logs the peak against n_L N and P*.
    """
    outdir = Path(outdir)
    summary = peak_summary(table)
    learners = table["learner"] if "learner" in table else pd.Series(["?"] * len(table))
    paths: list[Path] = []
    for i, (learner, rows) in enumerate(table.groupby(learners.to_numpy(), sort=False)):
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
        ax[0].set_title(_title(config, learner, n, n_diverged), fontsize=8)
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
    return paths + [csv]
