r"""The correspondence figure: the paper's Table 1 drawn from both sides' stored results.

Panel A, Page curve: S_vN(rho_A) and its deficit log dA - S against log dA / log sqrt(dA dB) at
fixed dA dB, with Page's exact mean; the maximum sits at dA = dB (abscissa 1).
Panel B, double descent: test loss against P / P*, with P* = kappa^2 n_L N fitted by ntk_spectrum
(the interpolation threshold is at 1): the trained network at its last recorded step (entry
``double_descent_network``), its linearisation at theta_0 trained as long (``..._linearized``),
their t -> infinity limit, NTK regression (``..._ntk``), and random features
(``double_descent``), each learner's final rows, diverged samples left out.
Panel C, the two Wishart ratios on one axis: trace distance 1/2 ||rho_A - I/dA||_1 against
c = dA / dB = dA^2 / (dA dB) (how many observables a subsystem offers against the bath), and the
normalised lambda_min(K) n_L N / tr K against c = n_L N / P (constraints against parameters).
Panel D, spectra: dA lambda(rho_A) and lambda(K) n_L N / tr K against Marchenko-Pastur with the
same c.

Also writes ``correspondence.csv`` and ``correspondence.md``: per row of the paper's Table 1, the
quantity measured on each side (for the double descent: the trained network's peak and the time
it was measured at), and ``double_descent_time``: the network, its linearisation and NTK
regression in training time, with the network - linearised gap.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from typicality_ntk import store
from typicality_ntk.ntk.threshold import fit_threshold
from typicality_ntk.plot._common import mean_sem, new_figure, save_figure
from typicality_ntk.plot.double_descent import final_rows, plot_double_descent_time
from typicality_ntk.quantum import theory

__all__ = ["DD_ENTRIES", "plot_correspondence", "correspondence_table"]


def _load(entries: Mapping[str, Path], label: str):
    if label not in entries:
        return None, []
    return store.load(entries[label]), store.load_arrays(entries[label])


def _ntk_normalised(table: pd.DataFrame, arrays) -> tuple[pd.DataFrame, dict[int, np.ndarray]]:
    """Adds lambda_min n / tr K per row; returns it and P -> normalised eigenvalues."""
    n = int(table["n_outputs"].iloc[0]) * int(table["n_train"].iloc[0])
    eigs = {
        int(r.point["n_params"]): np.asarray(r.array, float)
        for r in arrays
        if r.name == "ntk_eigenvalues"
    }
    norm = {p: e / (e.sum(axis=1, keepdims=True) / n) for p, e in eigs.items()}
    table = table.assign(
        lambda_min_normalized=[
            norm[p][s, 0] if p in norm else np.nan
            for p, s in zip(table["n_params"], table["sample"], strict=True)
        ],
        c=n / table["n_params"],
    )
    return table, norm


def _panel_page(ax, page: pd.DataFrame) -> dict:
    stats = mean_sem(page, ["d_a", "d_b"], "s_vn")
    x = np.log(stats["d_a"]) / np.log(np.sqrt(stats["d_a"] * stats["d_b"]))
    exact = [theory.page_entropy(a, b) for a, b in zip(stats["d_a"], stats["d_b"], strict=True)]
    ax.errorbar(x, stats["mean"], yerr=stats["sem"], fmt="o", ms=3.5, label=r"$S_{vN}$ sampled")
    ax.plot(x, exact, "-", c="C0", lw=1, label="Page (exact)")
    deficit = np.log(np.minimum(stats["d_a"], stats["d_b"])) - stats["mean"]
    ax.plot(x, deficit, "s", ms=3, c="C1", label=r"$\log\min(d_A,d_B) - S$")
    i = int(np.argmax(stats["mean"]))
    ax.axvline(1.0, c="k", lw=0.6, ls=":")
    ax.plot(x[i], stats["mean"][i], "*", ms=11, c="C3", label="measured maximum")
    n_qubits = int(round(np.log2(stats["d_a"][0] * stats["d_b"][0])))
    ax.set(
        xlabel=r"$\log d_A / \log\sqrt{d_A d_B}$",
        ylabel="nats",
        title=f"A  Page curve ({n_qubits} qubits)",
    )
    ax.legend(fontsize=7)
    return {"page_peak_d_a": int(stats["d_a"][i]), "page_peak_x": float(x[i])}


#: Double-descent entries of a study (label -> learner) and how panel B draws them.
DD_ENTRIES = {
    "double_descent_network": "network",
    "double_descent_linearized": "linearized",
    "double_descent_ntk": "ntk_regression",
    "double_descent": "random_features",
}
_DD_STYLE = {
    "network": {"fmt": "o-", "c": "C0", "label": "trained network"},
    "linearized": {"fmt": "s--", "c": "C1", "label": r"linearised at $\theta_0$"},
    "ntk_regression": {"fmt": "^-", "c": "k", "label": r"$t\to\infty$ (NTK regression)"},
    "random_features": {"fmt": "D-", "c": "C2", "label": "random features"},
}


def _dd_tables(entries: Mapping[str, Path]) -> dict[str, pd.DataFrame]:
    """learner -> its final rows (diverged samples dropped), from the study's entries."""
    out = {}
    for label, learner in DD_ENTRIES.items():
        table, _ = _load(entries, label)
        if table is None:
            continue
        table = final_rows(table)
        if "learner" in table:  # an entry holds one learner; keep the one its label names
            table = table[table["learner"] == table["learner"].iloc[0]]
            learner = str(table["learner"].iloc[0])
        if "diverged" in table:
            table = table[table["diverged"] == 0]
        if len(table) and learner not in out:
            out[learner] = table
    return out


def _time_figure(entries: Mapping[str, Path], outdir: Path) -> list[Path]:
    """The double descent in training time of the study's network, linearised and NTK-regression
    entries together (:func:`~typicality_ntk.plot.double_descent.plot_double_descent_time`)."""
    tables = [_load(entries, label)[0] for label in list(DD_ENTRIES)[:3]]
    tables = [t for t in tables if t is not None]
    if not tables:
        return []
    table = pd.concat(tables, ignore_index=True)

    def first(col, default="?"):
        return table[col].dropna().iloc[0] if col in table and table[col].notna().any() else default

    config = {
        "optim": {"name": first("optim.name"), "lr": first("optim.lr")},
        "data": {"label_noise": first("data.label_noise"), "source": first("data.source")},
    }
    return plot_double_descent_time(table, config, outdir)


def _when(table: pd.DataFrame, learner: str) -> str:
    if learner not in ("network", "linearized"):
        return ""
    name = "gd" if learner == "linearized" else str(table.get("optim.name", pd.Series(["?"]))
                                                     .iloc[0])  # fmt: skip
    return f"t = {int(table['step'].max())} {name} steps"


def _panel_double_descent(ax, dd: Mapping[str, pd.DataFrame], p_star: float | None) -> dict:
    ax.set_title("B  double descent")
    if not dd:
        ax.text(0.5, 0.5, "no double_descent entry", ha="center", transform=ax.transAxes)
        return {}
    out = {}
    first = next(iter(dd.values()))
    n = int(first["n_outputs"].iloc[0]) * int(first["n_train"].iloc[0])
    scale = p_star if p_star else n
    for learner in [lrn for lrn in _DD_STYLE if lrn in dd] + [k for k in dd if k not in _DD_STYLE]:
        grp = dd[learner]
        style = _DD_STYLE.get(learner, {"fmt": "o-", "c": "C4", "label": learner})
        stats = mean_sem(grp, "n_params", "test_loss")
        x = stats["n_params"] / scale
        when = _when(grp, learner)
        label = style["label"] + (f" ({when})" if when else "")
        ax.errorbar(x, stats["mean"], yerr=stats["sem"], fmt=style["fmt"], ms=3, c=style["c"],
                    lw=1, capsize=1.5, label=label)  # fmt: skip
        j = int(np.argmax(stats["mean"]))
        ax.plot(x[j], stats["mean"][j], "*", ms=11, c=style["c"])
        out[f"dd_peak_over_p_star[{learner}]"] = float(x[j]) if p_star else float("nan")
        out[f"dd_peak_n_params[{learner}]"] = int(stats["n_params"][j])
        out[f"dd_peak_test_loss[{learner}]"] = float(stats["mean"][j])
        out[f"dd_peak_step[{learner}]"] = int(grp["step"].max()) if "step" in grp else -1
    ax.axvline(1.0, c="k", lw=0.6, ls=":", label=r"$P = P^*$" if p_star else r"$P = n_L N$")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel=r"$P / P^*$" if p_star else r"$P / (n_L N)$",
        ylabel="mean test loss",
    )
    ax.legend(fontsize=6.5, loc="upper left", framealpha=0.8)
    return out


def _panel_ratios(ax, page: pd.DataFrame, ntk: pd.DataFrame | None) -> dict:
    page = page.assign(c=page["d_a"] / page["d_b"])
    stats = mean_sem(page, "c", "trace_distance")
    ax.errorbar(stats["c"], stats["mean"], yerr=stats["sem"], fmt="o", ms=3.5, c="C0")
    ax.plot(
        stats["c"],
        [theory.mp_trace_distance(a, b) for a, b in page[["d_a", "d_b"]].drop_duplicates().values],
        "-",
        c="C0",
        lw=1,
    )
    ax.set(
        xscale="log",
        xlabel=r"$c$:  $d_A/d_B$ (quantum),  $n_L N / P$ (NTK)",
        title="C  two Wishart ratios",
    )
    ax.set_ylabel(r"$\frac{1}{2}\|\rho_A - I/d_A\|_1$", color="C0")
    ax.axvline(1.0, c="k", lw=0.6, ls=":")
    out = {}
    if ntk is not None:
        twin = ax.twinx()
        ok = ntk[ntk["c"] < 1]
        s = mean_sem(ok, "c", "lambda_min_normalized")
        twin.errorbar(s["c"], s["mean"], yerr=s["sem"], fmt="s", ms=3, c="C3")
        grid = np.geomspace(s["c"].min(), min(s["c"].max(), 0.999), 100)
        twin.plot(grid, (1 - np.sqrt(grid)) ** 2, "--", c="C3", lw=1)
        twin.set_yscale("log")
        twin.set_ylabel(r"$\lambda_{\min}(K)\, n_L N / \mathrm{tr} K$", color="C3")
    return out


def _panel_spectra(ax, mp_arrays, ntk_norm: dict[int, np.ndarray], n: int | None) -> dict:
    ax.set_title("D  spectra vs Marchenko-Pastur")
    spectra = {r.point["c"]: np.asarray(r.array) for r in mp_arrays if r.name == "spectrum"}
    out = {}
    for i, c in enumerate(sorted(c for c in spectra if c < 1)[:2]):
        x = spectra[c].ravel()
        lo, hi = theory.mp_edges(c)
        bins = np.linspace(0, hi * 1.15, 50)
        ax.hist(x, bins=bins, density=True, histtype="step", color=f"C{i}", label=f"dA λ, c={c:g}")
        xs = np.linspace(lo, hi, 300)
        ax.plot(xs, theory.mp_density(xs, c), c=f"C{i}", lw=1)
        if ntk_norm and n:
            p = min(ntk_norm, key=lambda q: abs(np.log(n / q / c)))
            e = ntk_norm[p].ravel()
            ax.hist(
                e,
                bins=bins,
                density=True,
                histtype="stepfilled",
                alpha=0.25,
                color=f"C{i}",
                label=f"NTK, c={n / p:.2g}",
            )
    ax.set(xlabel="eigenvalue / mean eigenvalue", ylabel="density")
    ax.legend(fontsize=7)
    return out


def correspondence_table(measured: Mapping[str, float | str]) -> pd.DataFrame:
    """Rows of the paper's Table 1 with what each side measured (NaN where not run); the
    double-descent row reports the trained network's peak and the training time it was measured
    at (``dd_peak_first_what``), with the other learners' peaks on rows of their own."""

    def g(key):
        return measured.get(key, float("nan"))

    rows = [
        (
            "Haar state on a shell <-> random initialisation",
            "<purity> / Lubkin at dA = dB",
            g("purity_over_lubkin"),
            "relative train loss at the widest net",
            g("lazy_relative_train_loss"),
        ),
        (
            "typicality <-> global minima near theta_0",
            "Var<O> / (Var_mc/(d+1)) at the largest d",
            g("typicality_var_ratio"),
            "||theta_T - theta_0|| / ||theta_0|| at the widest net",
            g("lazy_param_change"),
        ),
        (
            "rho_A normalised Wishart <-> K = J J^T Wishart-type",
            "mean KS distance of dA lambda to MP",
            g("mp_ks"),
            "kappa of sigma_min(J) = sigma (sqrt P - kappa sqrt(n_L N))",
            g("kappa"),
        ),
        (
            "Page peak at dA = dB <-> double-descent peak at P*",
            "measured peak: log dA / log sqrt(dA dB)",
            g("page_peak_x"),
            f"measured peak: P / P* ({measured.get('dd_peak_first_what', 'first learner')})",
            g("dd_peak_first"),
        ),
    ]
    nan = float("nan")
    for learner, what in (
        ("linearized", "its linearisation at theta_0, trained as long"),
        ("ntk_regression", "t -> infinity (NTK regression)"),
        ("random_features", "random features (readout only)"),
    ):
        key = f"dd_peak_over_p_star[{learner}]"
        if key in measured and measured.get("dd_peak_first_learner") != learner:
            rows.append(("  (same row)", "", nan, f"measured peak: P / P*, {what}", g(key)))
    return pd.DataFrame(rows, columns=["paper_row", "quantum", "quantum_value", "ntk", "ntk_value"])


def _measure_extra(entries, measured: dict) -> None:
    page, _ = _load(entries, "page_curve")
    if page is not None:
        sym = page[page["d_a"] == page["d_b"]]
        if len(sym):
            d = int(sym["d_a"].iloc[0])
            measured["purity_over_lubkin"] = sym["purity"].mean() / theory.lubkin_purity(d, d)
    typ, _ = _load(entries, "typicality")
    if typ is not None:
        big = typ[typ["d"] == typ["d"].max()]
        measured["typicality_var_ratio"] = float(big["deviation"].var() / big["haar_var"].iloc[0])
    mp, _ = _load(entries, "mp_spectrum")
    if mp is not None:
        measured["mp_ks"] = float(mp["ks_distance"].mean())
    lazy, _ = _load(entries, "lazy_training")
    if lazy is not None:
        wide = lazy[lazy["width"] == lazy["width"].max()]
        if "relative_train_loss" in wide:
            measured["lazy_relative_train_loss"] = float(wide["relative_train_loss"].mean())
        if "param_change" in wide:
            measured["lazy_param_change"] = float(wide["param_change"].mean())


def plot_correspondence(entries: Mapping[str, Path], config: dict, outdir: Path) -> list[Path]:
    """The 2x2 correspondence figure and its table (see the module docstring)."""
    outdir = Path(outdir)
    page, _ = _load(entries, "page_curve")
    _, mp_arrays = _load(entries, "mp_spectrum")
    ntk, ntk_arrays = _load(entries, "ntk_spectrum")
    dd = _dd_tables(entries)
    measured: dict = {}
    ntk_norm, n, p_star = {}, None, None
    if ntk is not None:
        ntk, ntk_norm = _ntk_normalised(ntk, ntk_arrays)
        n = int(ntk["n_outputs"].iloc[0]) * int(ntk["n_train"].iloc[0])
        try:
            fit = fit_threshold(ntk, n=n)
            measured["kappa"] = fit.kappa
            if dd:  # P* for the double-descent data's own n_L N, same kappa
                one = next(iter(dd.values()))
                n_dd = int(one["n_outputs"].iloc[0]) * int(one["n_train"].iloc[0])
                p_star = fit.kappa**2 * n_dd
                measured["p_star_double_descent"] = p_star
        except ValueError:
            pass
    fig, ax = new_figure(2, 2, size=(4.8, 3.8))
    if page is not None:
        measured.update(_panel_page(ax[0], page))
        measured.update(_panel_ratios(ax[2], page, ntk))
    dd_out = _panel_double_descent(ax[1], dd, p_star)
    measured.update(dd_out)
    if dd:  # the trained network's peak, at its training time (else the first learner's)
        learner = "network" if "network" in dd else next(iter(dd))
        measured["dd_peak_first"] = dd_out[f"dd_peak_over_p_star[{learner}]"]
        when = _when(dd[learner], learner)
        measured["dd_peak_first_learner"] = learner
        measured["dd_peak_first_what"] = (
            f"trained network at {when}" if learner == "network" else learner
        )
    _panel_spectra(ax[3], mp_arrays, ntk_norm, n)
    _measure_extra(entries, measured)
    paths = save_figure(fig, outdir, "correspondence") + _time_figure(entries, outdir)
    table = correspondence_table(measured)
    table.to_csv(outdir / "correspondence.csv", index=False)
    lines = ["| paper (Table 1) | quantum | value | NTK | value |", "|---|---|---|---|---|"]

    def fmt(v: float) -> str:
        return "" if not np.isfinite(v) else f"{v:.4g}"

    for r in table.itertuples(index=False):
        lines.append(
            f"| {r.paper_row} | {r.quantum} | {fmt(r.quantum_value)} | {r.ntk} "
            f"| {fmt(r.ntk_value)} |"
        )
    (outdir / "correspondence.md").write_text("\n".join(lines) + "\n")
    numbers = {k: float(v) for k, v in measured.items() if not isinstance(v, str)}
    (outdir / "correspondence_measured.json").write_text(
        json.dumps(
            {**numbers, **{k: v for k, v in measured.items() if isinstance(v, str)}}, indent=2
        )
        + "\n"  # fmt: skip
    )
    return [
        *paths,
        outdir / "correspondence.csv",
        outdir / "correspondence.md",
        outdir / "correspondence_measured.json",
    ]
