"""Figures of the NTK spectrum, drawn from stored results only."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from typicality_ntk.ntk.threshold import fit_threshold
from typicality_ntk.plot._common import mean_sem, new_figure, save_figure
from typicality_ntk.quantum.theory import mp_density, mp_edges

__all__ = ["plot_ntk_spectrum"]

log = logging.getLogger("typicality_ntk")

#: P / (n_L N) ratios whose eigenvalue densities are drawn (the nearest stored widths).
DENSITY_RATIOS = (2.0, 8.0, np.inf)


def _eigenvalues_by_p(arrays) -> dict[int, np.ndarray]:
    """P -> eigenvalues of K, shape (samples, n), from the store's array records."""
    return {
        int(r.point["n_params"]): np.asarray(r.array, float)
        for r in arrays
        if r.name == "ntk_eigenvalues"
    }


def plot_ntk_spectrum(table: pd.DataFrame, arrays, config: dict, outdir: Path) -> list[Path]:
    """lambda_min vs P with the threshold fit; eigenvalue densities of K vs Marchenko-Pastur.

    Left: lambda_min(K) / (tr K / n) against P / n (n = n_L N), which for a Gaussian J is the lower
    Marchenko-Pastur edge (1 - sqrt(n / P))^2, with the fit sigma^2 (1 - kappa sqrt(n / P))^2
    (from sigma_min(J~) = sigma (sqrt(P) - kappa sqrt(n))), the threshold P* = kappa^2 n and P = n.
    Right: the eigenvalues of K / (tr K / n) at a few P against the MP density with c = n / P.
    Also writes ``ntk_threshold.json`` (the fit) and logs kappa, P* and P*/n.
    """
    n = int(table["n_outputs"].iloc[0]) * int(table["n_train"].iloc[0])
    eigs = _eigenvalues_by_p(arrays)
    table = table.copy()
    traces = {p: e.sum(axis=1) for p, e in eigs.items()}
    table["lambda_min_normalized"] = [
        lm / (traces[p][s] / n) if p in traces else np.nan
        for p, s, lm in zip(table["n_params"], table["sample"], table["lambda_min"], strict=True)
    ]
    fig, ax = new_figure(1, 2, size=(4.6, 3.6))
    paths: list[Path] = []
    ratio = table["n_params"].to_numpy(float) / n
    stats = mean_sem(table.assign(ratio=ratio), "ratio", "lambda_min_normalized")
    pos = stats["mean"] > 0
    ax[0].errorbar(
        stats["ratio"][pos], stats["mean"][pos], yerr=stats["sem"][pos], fmt="o", ms=3,
        label=r"$\lambda_{\min}(K)\,n/\mathrm{tr}K$",
    )  # fmt: skip
    grid = np.geomspace(max(ratio.min(), 1.0001), ratio.max(), 200)
    ax[0].plot(grid, (1 - np.sqrt(1 / grid)) ** 2, "k:", lw=1, label="MP edge (Gaussian J)")
    try:
        fit = fit_threshold(table, n=n)
    except ValueError as err:
        log.warning("ntk_spectrum: no threshold fit: %s", err)
        fit = None
    if fit is not None:
        g = grid[grid > fit.p_star_ratio]
        curve = fit.sigma**2 * (1 - fit.kappa * np.sqrt(1 / g)) ** 2
        ax[0].plot(g, curve, "C3-", lw=1.2, label=rf"fit, $\kappa$={fit.kappa:.2f}")
        ax[0].axvline(fit.p_star_ratio, color="C3", ls="--", lw=1, label=r"$P^*=\kappa^2 n_L N$")
        json_path = Path(outdir) / "ntk_threshold.json"
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(fit.as_dict(), indent=2) + "\n")
        paths.append(json_path)
        log.info(
            "ntk_spectrum: kappa = %.3f [%.3f, %.3f], sigma = %.3f, P* = %.1f, P*/(n_L N) = %.3f",
            fit.kappa, fit.kappa_lo, fit.kappa_hi, fit.sigma, fit.p_star, fit.p_star_ratio,
        )  # fmt: skip
    ax[0].axvline(1.0, color="0.5", ls=":", lw=1)
    ax[0].set(
        xscale="log", yscale="log", xlabel=r"$P/(n_L N)$", title=f"$n_L N$ = {n}",
        ylabel=r"$\lambda_{\min}(K)\,n_L N/\mathrm{tr}K$",
    )  # fmt: skip
    ax[0].legend(fontsize=7)

    available = np.array(sorted(eigs), float)
    chosen = []
    for r in DENSITY_RATIOS:
        if available.size:
            p = int(available[np.argmin(np.abs(np.log(available / (n * min(r, 1e12)))))])
            if p not in chosen and p > n:
                chosen.append(p)
    for i, p in enumerate(chosen):
        e = eigs[p]
        x = (e / (e.sum(axis=1, keepdims=True) / n)).ravel()
        c = n / p
        lo, hi = mp_edges(c)
        bins = np.linspace(0, max(hi * 1.3, np.quantile(x, 0.99)), 60)
        label = f"P/n={p / n:.3g}"
        ax[1].hist(x, bins=bins, density=True, histtype="step", color=f"C{i}", label=label)
        xs = np.linspace(lo, hi, 300)
        ax[1].plot(xs, mp_density(xs, c), color=f"C{i}", ls="--", lw=1)
    ax[1].set(xlabel=r"$\lambda\,n/\mathrm{tr}K$", ylabel="density", title="MP (dashed), c = n/P")
    ax[1].set_yscale("log")
    if chosen:
        ax[1].legend(fontsize=7)
    return save_figure(fig, outdir, "ntk_spectrum") + paths
