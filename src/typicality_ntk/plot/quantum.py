"""Figures of the quantum side, drawn from stored results only (tables and named arrays).

Each ``plot_*(table, arrays, config, outdir) -> [paths]`` draws; exact-theory overlays come from
:mod:`typicality_ntk.quantum.theory`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from typicality_ntk.plot._common import mean_sem, new_figure, save_figure
from typicality_ntk.quantum import theory
from typicality_ntk.quantum.fluctuations import cut_fluctuations

__all__ = ["plot_page_curve", "plot_typicality", "plot_mp_spectrum", "typicality_tail_table"]


def _errorbar(ax, x, stats, label, **kw):
    ax.errorbar(x, stats["mean"], yerr=stats["sem"], fmt="o", ms=3.5, capsize=2, label=label, **kw)


def _spread(ax, x, mean, exact_mean, exact_var, sample_var, label):
    """The distribution's +-1 sd: exact as a band around the exact mean, sampled as bars."""
    sd = np.sqrt(np.asarray(exact_var, dtype=float))
    exact_mean = np.asarray(exact_mean, dtype=float)
    ax.fill_between(
        x,
        exact_mean - sd,
        exact_mean + sd,
        color="C1",
        alpha=0.25,
        lw=0,
        label=f"{label} ± 1 sd (exact)",
    )
    ax.errorbar(
        x,
        mean,
        yerr=np.sqrt(np.asarray(sample_var, dtype=float)),
        fmt="none",
        ecolor="C0",
        elinewidth=0.8,
        capsize=5,
        alpha=0.7,
        label="sampled ± 1 sd",
    )


def _sd_panel(ax, x, fluct, column, exact_label, ylabel, title):
    """Sampled standard deviation (+- its SE, delta method) against the exact one, log scale."""
    sd = np.sqrt(fluct[f"{column}_var"].to_numpy())
    with np.errstate(divide="ignore", invalid="ignore"):
        sd_se = fluct[f"{column}_var_se"].to_numpy() / (2.0 * sd)  # SE[s] ~= SE[s^2] / (2 s)
    ax.plot(x, np.sqrt(fluct[f"{column}_var_exact"].to_numpy()), "-", c="C1", label=exact_label)
    ax.errorbar(x, sd, yerr=sd_se, fmt="o", ms=3.5, capsize=2, c="C0", label="sampled sd ± SE")
    ax.set(xlabel="log2 dA", ylabel=ylabel, yscale="log", title=title)


def plot_page_curve(table: pd.DataFrame, arrays, config: dict, outdir: Path) -> list[Path]:
    """S_vN, purity, S_2 and trace distance vs log2 dA, against Page, Lubkin and Eq. 2.

    Besides the means (markers: sampled mean +- SE), the S_vN and purity panels show the spread
    of the distribution: the exact +-1 sd band (Vivo-Pato-Oshanin/Wei variance around Page's mean;
    Giraud's variance around Lubkin's mean) and the sampled +-1 sd as wide-capped bars. The right
    column compares the two standard deviations directly on a log scale, where they can be read
    (at 8 qubits the sd of S_vN is ~0.03 nats on a curve of height ~2.3).
    """
    fig, ax = new_figure(2, 3)
    ax = ax.reshape(2, 3)
    cuts = table[["d_a", "d_b"]].drop_duplicates().sort_values("d_a")
    k = np.log2(cuts["d_a"].to_numpy())
    pairs = list(zip(cuts["d_a"], cuts["d_b"], strict=True))
    n = int(np.log2(pairs[0][0] * pairs[0][1]))
    fluct = cut_fluctuations(table).set_index("d_a").loc[cuts["d_a"]]

    s_stats = mean_sem(table, "d_a", "s_vn")
    page = [theory.page_entropy(a, b) for a, b in pairs]
    _spread(ax[0, 0], k, s_stats["mean"], page, fluct["s_vn_var_exact"], fluct["s_vn_var"], "Page")
    _errorbar(ax[0, 0], k, s_stats, "sampled mean ± SE")
    ax[0, 0].plot(k, page, "-", c="C1", label="Page (exact)")
    ax[0, 0].plot(
        k, [theory.page_entropy_approx(a, b) for a, b in pairs], ":", c="C2", label="log m - m/2n"
    )
    ax[0, 0].plot(
        k, [np.log(min(a, b)) for a, b in pairs], "--", c="gray", lw=0.8, label="log min(dA,dB)"
    )
    ax[0, 0].axvline(n / 2, c="k", lw=0.5)
    ax[0, 0].set(xlabel="log2 dA", ylabel="S_vN (nats)", title=f"Page curve, {n} qubits")

    p_stats = mean_sem(table, "d_a", "purity")
    lubkin = [theory.lubkin_purity(a, b) for a, b in pairs]
    p_exact, p_var = fluct["purity_var_exact"], fluct["purity_var"]
    _spread(ax[0, 1], k, p_stats["mean"], lubkin, p_exact, p_var, "Lubkin")
    _errorbar(ax[0, 1], k, p_stats, "sampled mean ± SE")
    ax[0, 1].plot(k, lubkin, "-", c="C1", label="Lubkin")
    ax[0, 1].set(xlabel="log2 dA", ylabel="Tr rho_A^2", yscale="log", title="purity")

    _sd_panel(
        ax[0, 2],
        k,
        fluct,
        "s_vn",
        "exact (Vivo-Pato-Oshanin)",
        "sd of S_vN (nats)",
        "entropy fluctuations",
    )
    _sd_panel(
        ax[1, 2], k, fluct, "purity", "exact (Giraud)", "sd of Tr rho_A^2", "purity fluctuations"
    )

    _errorbar(ax[1, 0], k, mean_sem(table, "d_a", "s_renyi_2"), "sampled")
    ax[1, 0].plot(
        k, [theory.renyi_entropy_mp(2, a, b) for a, b in pairs], "-", label="Eq. 2, alpha=2"
    )
    ax[1, 0].plot(k, [-np.log(x) for x in lubkin], ":", label="-log Lubkin")
    ax[1, 0].set(xlabel="log2 dA", ylabel="S_2 (nats)", title="Rényi-2")

    _errorbar(ax[1, 1], k, mean_sem(table, "d_a", "trace_distance"), "sampled")
    ax[1, 1].plot(k, [theory.mp_trace_distance(a, b) for a, b in pairs], "-", label="MP limit")
    ax[1, 1].set(xlabel="log2 dA", ylabel="1/2 ||rho_A - I/dA||_1", title="distinguishability")
    for a in ax.ravel():
        a.legend(fontsize=7)
    return save_figure(fig, outdir, "page_curve")


def typicality_tail_table(table: pd.DataFrame, eps) -> pd.DataFrame:
    """Empirical P(|Delta| >= eps) with its binomial standard error, next to the Eq. 1 bound."""
    rows = []
    for d, grp in table.groupby("d"):
        dev = np.abs(grp["deviation"].to_numpy())
        var_mc = float(grp["mc_var"].iloc[0])
        for e in eps:
            p = float(np.mean(dev >= e))
            rows.append(
                {
                    "d": d,
                    "eps": e,
                    "p_tail": p,
                    "se": np.sqrt(max(p * (1 - p), 1e-300) / dev.size),
                    "bound_eq1": float(theory.typicality_bound(var_mc, e, d)),
                }
            )
    return pd.DataFrame(rows)


def plot_typicality(table: pd.DataFrame, arrays, config: dict, outdir: Path) -> list[Path]:
    """Spread of Delta vs d against the exact Haar variance; tails against Eq. 1."""
    fig, ax = new_figure(1, 2)
    stats = (
        table.groupby("d")
        .agg(var=("deviation", "var"), haar_var=("haar_var", "first"), count=("deviation", "size"))
        .reset_index()
    )
    se = stats["var"] * np.sqrt(2.0 / (stats["count"] - 1))  # Gaussian approx. SE of a variance
    ax[0].errorbar(stats["d"], stats["var"], yerr=se, fmt="o", ms=3.5, capsize=2, label="sampled")
    ax[0].plot(stats["d"], stats["haar_var"], "-", label="Var_mc/(d+1) (exact)")
    ax[0].set(
        xscale="log",
        yscale="log",
        xlabel="d",
        ylabel="Var <psi|O|psi>",
        title="typicality: variance vs d",
    )
    eps = config.get("quantum", {}).get("eps", [0.01, 0.02, 0.05, 0.1])
    tail = typicality_tail_table(table, eps)
    for i, (d, grp) in enumerate(tail.groupby("d")):
        color = f"C{i}"
        ax[1].errorbar(
            grp["eps"], grp["p_tail"], yerr=grp["se"], fmt="o-", ms=3, c=color, label=f"d={d}"
        )
        ax[1].plot(grp["eps"], np.minimum(grp["bound_eq1"], 1.0), "--", c=color, lw=0.8)
    ax[1].set(
        xscale="log",
        yscale="log",
        xlabel="eps",
        ylabel="P(|Delta| >= eps)",
        title="tail (dashed: Eq. 1 bound)",
    )
    for a in ax:
        a.legend(fontsize=7)
    paths = save_figure(fig, outdir, "typicality")
    tail.to_csv(Path(outdir) / "typicality_tail.csv", index=False)
    return [*paths, Path(outdir) / "typicality_tail.csv"]


def plot_mp_spectrum(table: pd.DataFrame, arrays, config: dict, outdir: Path) -> list[Path]:
    """Histogram of dA * lambda(rho_A) vs the MP density; KS distance vs dA."""
    ratios = sorted(table["c"].unique())
    fig, ax = new_figure(1, len(ratios) + 1)
    spectra = {(r.point["d_a"], r.point["c"]): r.array for r in arrays if r.name == "spectrum"}
    for a, c in zip(ax, ratios, strict=False):
        d_a = max(k[0] for k in spectra if k[1] == c)
        x = spectra[(d_a, c)].ravel()
        lo, hi = theory.mp_edges(c)
        grid = np.linspace(lo, hi, 400)[1:-1]
        # normalise by ALL eigenvalues, so for c > 1 the bars carry the continuous mass 1/c and
        # the atom of mass 1 - 1/c at x = 0 (the exact zeros) is left out of the picture
        counts, edges = np.histogram(x[x > 0], bins=60)
        a.stairs(counts / (x.size * np.diff(edges)), edges, fill=True, alpha=0.5, label=f"dA={d_a}")
        a.plot(grid, theory.mp_density(grid, c), "k-", lw=1, label="Marchenko-Pastur")
        a.set(xlabel="dA * lambda", ylabel="density", title=f"c = dA/dB = {c:g}")
        a.legend(fontsize=7)
    for i, c in enumerate(ratios):
        s = mean_sem(table[table["c"] == c], "d_a", "ks_distance")
        ax[-1].errorbar(
            s["d_a"], s["mean"], yerr=s["sem"], fmt="o-", ms=3, c=f"C{i}", label=f"c={c:g}"
        )
    ax[-1].set(
        xscale="log",
        yscale="log",
        xlabel="dA",
        ylabel="KS distance to MP",
        title="convergence to MP",
    )
    ax[-1].legend(fontsize=7)
    return save_figure(fig, outdir, "mp_spectrum")
