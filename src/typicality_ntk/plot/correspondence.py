r"""The correspondence figure: the paper's Table 1 drawn from both sides' stored results.

Panel A, Page curve: S_vN(rho_A) and its deficit log dA - S against log dA / log sqrt(dA dB) at
fixed dA dB, with Page's exact mean; the maximum sits at dA = dB (abscissa 1).
Panel B, double descent: each learner's test loss against its OWN interpolation threshold.
The trained network at its last recorded step (entry ``double_descent_network``), its
linearisation at theta_0 trained as long (``..._linearized``) and their t -> infinity limit, NTK
regression (``..._ntk``), train (or are the limits of training) all P parameters: abscissa P / P*
with P* = kappa^2 n_L N, kappa from the ``ntk_spectrum`` fit (:func:`network_threshold`; the
network's own Jacobians at init when the study has no ntk_spectrum entry). Random features
(``double_descent``) train only the readout: abscissa P_readout / (n_L N). Each peak is the
argmax of the mean test loss with its 68% bootstrap interval over samples (star and bar, and in
the legend); diverged samples are left out and counted.
Panel C, the two Wishart ratios on one axis: trace distance 1/2 ||rho_A - I/dA||_1 against
c = dA / dB = dA^2 / (dA dB) (how many observables a subsystem offers against the bath), and the
normalised lambda_min(K) n_L N / tr K against c = n_L N / P (constraints against parameters).
Panel D, spectra: dA lambda(rho_A) and lambda(K) n_L N / tr K against Marchenko-Pastur with the
same c.

Also writes ``correspondence.csv`` and ``correspondence.md``: per row of the paper's Table 1, the
quantity measured on each side (for the double descent: every learner's peak in units of its
threshold with its interval, the trained network's first, and the time it was measured at), and
``double_descent_time``: the network, its linearisation and NTK regression in training time,
with the network - linearised gap.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from typicality_ntk import store
from typicality_ntk.plot._common import (
    diverged_note,
    empty_panel,
    legend_below,
    mean_sem,
    new_figure,
    save_figure,
)
from typicality_ntk.plot.double_descent import (
    final_rows,
    plot_double_descent_time,
    scaled_p_star,
    threshold_fit,
)
from typicality_ntk.plot.peaks import peak_interval
from typicality_ntk.quantum import theory

__all__ = [
    "BY_P_STAR",
    "DD_ENTRIES",
    "correspondence_table",
    "dd_peaks",
    "network_threshold",
    "plot_correspondence",
]

log = logging.getLogger("typicality_ntk")
#: Bootstrap resamples of the peak locations (:func:`~typicality_ntk.plot.peaks.peak_interval`).
PEAK_BOOT = 1000


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
    legend_below(ax, ncol=2)
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
#: Learners whose threshold is the network's P* = kappa^2 n_L N (they train, or are the limits
#: of training, all P parameters of the network); random features train only the readout, whose
#: threshold is P_readout = n_L N.
BY_P_STAR = ("network", "linearized", "ntk_regression")


@dataclass
class DDLearner:
    """One learner's final double-descent rows (diverged samples left out) and what was left out."""

    rows: pd.DataFrame
    n_diverged: int
    n_runs: int


def _dd_tables(entries: Mapping[str, Path]) -> dict[str, DDLearner]:
    """learner -> its final rows (diverged samples dropped, counted), from the study's entries."""
    out = {}
    for label, learner in DD_ENTRIES.items():
        table, _ = _load(entries, label)
        if table is None or table.empty:
            continue
        table = final_rows(table)
        if "learner" in table:  # an entry holds one learner; keep the one its label names
            table = table[table["learner"] == table["learner"].iloc[0]]
            learner = str(table["learner"].iloc[0])
        n_runs = len(table.drop_duplicates(["n_params", "sample"]))
        n_div = 0
        if "diverged" in table:
            n_div = int((table["diverged"] != 0).sum())
            table = table[table["diverged"] == 0]
        if learner not in out:
            out[learner] = DDLearner(table, n_div, n_runs)
    return out


def _constraints(rows: pd.DataFrame) -> int:
    return int(rows["n_outputs"].iloc[0]) * int(rows["n_train"].iloc[0])


def network_threshold(
    ntk: pd.DataFrame | None, dd: Mapping[str, DDLearner]
) -> tuple[float, float, float, str, float]:
    """(P*, lo, hi, source, kappa) for the double-descent data's n_L N: P* = kappa^2 n_L N
    (:func:`~typicality_ntk.plot.double_descent.scaled_p_star`), kappa from the ``ntk_spectrum``
    fit when the study has one, else from the trained network's own sigma_min(J~) at init; NaN
    and source ``""`` without either. The one P* of the figure, the table and the log lines."""
    nan = float("nan")
    learner = next((lrn for lrn in BY_P_STAR if lrn in dd and len(dd[lrn].rows)), None)
    if learner is None:
        return nan, nan, nan, "", nan
    n_dd = _constraints(dd[learner].rows)
    fit, source = None, ""
    if ntk is not None:
        fit, source = threshold_fit(ntk, _constraints(ntk)), "ntk_spectrum"
    if fit is None and "network" in dd and len(dd["network"].rows):
        fit, source = threshold_fit(dd["network"].rows, n_dd), "the network's own Jacobians"
    if fit is None:
        return nan, nan, nan, "", nan
    return (*scaled_p_star(fit, n_dd), source, fit.kappa)


def dd_peaks(dd: Mapping[str, DDLearner], p_star: float) -> dict[str, dict]:
    """Per learner: its threshold (``p_star`` for :data:`BY_P_STAR`, n_L N of its readout for
    random features; n_L N also when ``p_star`` is NaN), the peak P / threshold with its 68%
    bootstrap interval over samples (:func:`~typicality_ntk.plot.peaks.peak_interval`), the
    peak's test loss and the step it is measured at."""
    out = {}
    for learner, d in dd.items():
        if d.rows.empty:
            out[learner] = {"peak": None, "threshold": float("nan"), "threshold_name": ""}
            continue
        n = _constraints(d.rows)
        by_p_star = learner in BY_P_STAR and np.isfinite(p_star)
        threshold = p_star if by_p_star else float(n)
        name = "P*" if by_p_star else ("n_L N" if learner not in BY_P_STAR else "n_L N (no P*)")
        peak = peak_interval(d.rows, x="n_params", y="test_loss")
        out[learner] = {
            "peak": peak.scaled(threshold) if peak is not None else None,
            "peak_n_params": peak.peak if peak is not None else float("nan"),
            "threshold": threshold,
            "threshold_name": name,
            "test_loss": float(d.rows.loc[d.rows["n_params"] == peak.peak, "test_loss"].mean())
            if peak is not None
            else float("nan"),
            "step": int(d.rows["step"].max()) if "step" in d.rows else -1,
        }
    return out


def _time_figure(entries: Mapping[str, Path], outdir: Path) -> list[Path]:
    """The double descent in training time of the study's network, linearised and NTK-regression
    entries together (:func:`~typicality_ntk.plot.double_descent.plot_double_descent_time`)."""
    tables = [_load(entries, label)[0] for label in list(DD_ENTRIES)[:3]]
    tables = [t for t in tables if t is not None and len(t)]
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
    if learner not in ("network", "linearized") or "step" not in table or table.empty:
        return ""
    name = "gd" if learner == "linearized" else str(table.get("optim.name", pd.Series(["?"]))
                                                     .iloc[0])  # fmt: skip
    when = f"t = {int(table['step'].max())} {name} steps"
    if "time" in table and table["time"].notna().any():  # lr * step (lr may differ per width)
        lo, hi = table["time"].min(), table["time"].max()
        when += f", lr·t = {lo:.3g}" + (f"-{hi:.3g}" if hi > lo * (1 + 1e-9) else "")
    return when


def _panel_double_descent(
    ax, dd: Mapping[str, DDLearner], peaks: Mapping[str, dict], p_star: float, source: str
) -> None:
    ax.set_title("B  double descent, each learner at its own threshold", fontsize=10)
    if not dd:
        empty_panel(ax, "no double_descent entry")
        return
    order = [lrn for lrn in _DD_STYLE if lrn in dd] + [k for k in dd if k not in _DD_STYLE]
    for learner in order:
        d, pk = dd[learner], peaks[learner]
        style = _DD_STYLE.get(learner, {"fmt": "o-", "c": "C4", "label": learner})
        note = diverged_note(d.n_diverged, d.n_runs)
        when = _when(d.rows, learner)
        label = style["label"] + (f" ({when})" if when else "")
        if pk["peak"] is None:
            ax.plot([], [], style["fmt"], c=style["c"], label=f"{label}: {note or 'no data'}")
            continue
        stats = mean_sem(d.rows, "n_params", "test_loss")
        x = stats["n_params"] / pk["threshold"]
        p = pk["peak"]
        unit = "$P/P^*$" if pk["threshold_name"] == "P*" else r"$P/(n_L N)$"
        label += f"\n  peak at {unit} = {p.text()}"
        if note:
            label += f"; {note}"
        ax.errorbar(x, stats["mean"], yerr=stats["sem"].fillna(0), fmt=style["fmt"], ms=3,
                    c=style["c"], lw=1, capsize=1.5, label=label)  # fmt: skip
        ax.errorbar(p.peak, pk["test_loss"], xerr=[[p.peak - p.lo], [p.hi - p.peak]], fmt="*",
                    ms=11, c=style["c"], capsize=3, elinewidth=1.5)  # fmt: skip
    ax.axvline(1.0, c="k", lw=0.6, ls=":", label="threshold (abscissa 1)")
    if np.isfinite(p_star):
        xlabel = (rf"$P/P^*$, $P^*=\kappa^2 n_L N$ = {p_star:.3g} ({source});"
                  "\n" r"random features: $P_{\rm readout}/(n_L N)$")  # fmt: skip
    else:
        xlabel = r"$P/(n_L N)$ (no threshold fit)"
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel="mean test loss")
    legend_below(ax)


def _panel_ratios(ax, page: pd.DataFrame, ntk: pd.DataFrame | None) -> dict:
    page = page.assign(c=page["d_a"] / page["d_b"])
    stats = mean_sem(page, ["c", "d_a", "d_b"], "trace_distance").sort_values("c")
    ax.errorbar(stats["c"], stats["mean"], yerr=stats["sem"], fmt="o", ms=3.5, c="C0",
                label=r"$\frac{1}{2}\|\rho_A - I/d_A\|_1$, Haar states")  # fmt: skip
    ax.plot(
        stats["c"],
        [theory.mp_trace_distance(a, b) for a, b in zip(stats["d_a"], stats["d_b"], strict=True)],
        "-", c="C0", lw=1, label="its Marchenko-Pastur value",
    )  # fmt: skip
    ax.set(
        xscale="log",
        yscale="log",
        xlabel=r"$c$:  $d_A/d_B$ (quantum),  $n_L N / P$ (NTK)",
        title="C  two Wishart ratios",
    )
    ax.set_ylabel(r"$\frac{1}{2}\|\rho_A - I/d_A\|_1$", color="C0")
    ax.axvline(1.0, c="k", lw=0.6, ls=":")
    handles, labels = ax.get_legend_handles_labels()
    if ntk is not None:
        twin = ax.twinx()
        ok = ntk[(ntk["c"] < 1) & (ntk["lambda_min_normalized"] > 0)]
        s = mean_sem(ok, "c", "lambda_min_normalized")
        twin.errorbar(s["c"], s["mean"], yerr=s["sem"].fillna(0), fmt="s", ms=3, c="C3",
                      label=r"$\lambda_{\min}(K)\,n_L N/\mathrm{tr}K$, NTK at init")  # fmt: skip
        if len(s):
            grid = np.geomspace(s["c"].min(), min(s["c"].max(), 0.999), 100)
            twin.plot(grid, (1 - np.sqrt(grid)) ** 2, "--", c="C3", lw=1,
                      label=r"MP lower edge $(1-\sqrt{c})^2$")  # fmt: skip
        twin.set_yscale("log")
        twin.set_ylabel(r"$\lambda_{\min}(K)\, n_L N / \mathrm{tr} K$", color="C3")
        h2, l2 = twin.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    legend_below(ax, handles, labels)
    return {}


def _panel_spectra(ax, mp_arrays, ntk_norm: dict[int, np.ndarray], n: int | None) -> dict:
    ax.set_title("D  spectra vs Marchenko-Pastur")
    spectra = {r.point["c"]: np.asarray(r.array) for r in mp_arrays if r.name == "spectrum"}
    out = {}
    for i, c in enumerate(sorted(c for c in spectra if c < 1)[:2]):
        x = spectra[c].ravel()
        lo, hi = theory.mp_edges(c)
        bins = np.linspace(0, hi * 1.15, 50)
        ax.hist(x, bins=bins, density=True, histtype="step", color=f"C{i}",
                label=rf"$d_A\lambda(\rho_A)$, c={c:g}")  # fmt: skip
        if ntk_norm and n:
            p = min(ntk_norm, key=lambda q: abs(np.log(n / q / c)))
            e = ntk_norm[p].ravel()
            ax.hist(e, bins=bins, density=True, histtype="stepfilled", alpha=0.25,
                    color=f"C{i}", label=f"NTK eigenvalues, c={n / p:.2g}")  # fmt: skip
        xs = np.linspace(lo, hi, 300)
        ax.plot(xs, theory.mp_density(xs, c), c=f"C{i}", lw=1.5, zorder=4,
                label=f"Marchenko-Pastur, c={c:g}")  # fmt: skip
    ax.set(xlabel="eigenvalue / mean eigenvalue", ylabel="density")
    legend_below(ax, ncol=2)
    return out


def correspondence_table(measured: Mapping[str, float | str]) -> pd.DataFrame:
    """Rows of the paper's Table 1 with what each side measured (NaN where not run).

    The double-descent row reports the trained network's peak in units of P* and the training
    time it was measured at (``dd_peak_first_what``); the other learners' peaks follow on rows of
    their own, each in units of its own threshold (random features: n_L N of the readout).
    ``ntk_lo``, ``ntk_hi`` and ``ntk_median`` hold the peaks' 68% bootstrap intervals and
    medians (NaN elsewhere).
    """

    def g(key):
        return measured.get(key, float("nan"))

    nan = float("nan")
    rows = [
        (
            "Haar state on a shell <-> random initialisation",
            "<purity> / Lubkin at dA = dB",
            g("purity_over_lubkin"),
            "relative train loss at the widest net",
            g("lazy_relative_train_loss"),
            nan,
            nan,
            nan,
        ),
        (
            "typicality <-> global minima near theta_0",
            "Var<O> / (Var_mc/(d+1)) at the largest d",
            g("typicality_var_ratio"),
            "||theta_T - theta_0|| / ||theta_0|| at the widest net",
            g("lazy_param_change"),
            nan,
            nan,
            nan,
        ),
        (
            "rho_A normalised Wishart <-> K = J J^T Wishart-type",
            "mean KS distance of dA lambda to MP",
            g("mp_ks"),
            "kappa of sigma_min(J) = sigma (sqrt P - kappa sqrt(n_L N))",
            g("kappa"),
            nan,
            nan,
            nan,
        ),
    ]
    first = measured.get("dd_peak_first_learner")
    peak_row = (
        "Page peak at dA = dB <-> double-descent peak at P*",
        "measured peak: log dA / log sqrt(dA dB)",
        g("page_peak_x"),
    )
    if first is None:
        rows.append((*peak_row, "measured peak: P / P*", nan, nan, nan, nan))
    what = {
        "network": "trained network",
        "linearized": "its linearisation at theta_0, trained as long",
        "ntk_regression": "t -> infinity (NTK regression)",
        "random_features": "random features (readout only)",
    }
    order = ([first] if first else []) + [lrn for lrn in what if lrn != first]
    missing = [lrn for lrn in what if f"dd_note[{lrn}]" in measured]
    for learner in order:
        key = f"dd_peak_over_threshold[{learner}]"
        if key not in measured and learner not in missing:
            continue
        unit = measured.get(
            f"dd_threshold_name[{learner}]", "n_L N" if learner == "random_features" else "P*"
        )
        unit = (
            "P / P*"
            if unit == "P*"
            else "P_readout / (n_L N)"
            if unit == "n_L N"
            else "P / " + unit
        )
        label = what.get(learner, learner)
        if learner == first:
            label = str(measured.get("dd_peak_first_what", label))
        ntk_text = f"measured peak: {unit}, {label}"
        if learner in missing:
            ntk_text += f": {measured[f'dd_note[{learner}]']}"
        head = peak_row if learner == first else ("  (same row)", "", nan)
        rows.append((*head, ntk_text, g(key), g(f"dd_peak_lo[{learner}]"),
                     g(f"dd_peak_hi[{learner}]"), g(f"dd_peak_median[{learner}]")))  # fmt: skip
    return pd.DataFrame(
        rows, columns=["paper_row", "quantum", "quantum_value", "ntk", "ntk_value", "ntk_lo",
                       "ntk_hi", "ntk_median"],
    )  # fmt: skip


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
    ntk_norm, n = {}, None
    if ntk is not None and len(ntk):
        ntk, ntk_norm = _ntk_normalised(ntk, ntk_arrays)
        n = _constraints(ntk)
        fit = threshold_fit(ntk, n)
        if fit is not None:
            measured["kappa"] = fit.kappa
    else:
        ntk = None
    p_star, p_lo, p_hi, source, kappa = network_threshold(ntk, dd)
    if np.isfinite(p_star):
        measured.update(p_star_double_descent=p_star, p_star_lo=p_lo, p_star_hi=p_hi,
                        p_star_source=source, kappa_double_descent=kappa)  # fmt: skip
    peaks = dd_peaks(dd, p_star)
    own = (  # cross-check: the same fit on the trained network's own Jacobians at init
        scaled_p_star(threshold_fit(dd["network"].rows, _constraints(dd["network"].rows)),
                      _constraints(dd["network"].rows))
        if "network" in dd and len(dd["network"].rows) and source == "ntk_spectrum"
        else (float("nan"),) * 3
    )  # fmt: skip
    if np.isfinite(own[0]):
        measured.update(p_star_network_own_fit=own[0], p_star_network_own_fit_lo=own[1],
                        p_star_network_own_fit_hi=own[2])  # fmt: skip
    fig, ax = new_figure(2, 2, size=(5.2, 4.6))
    if page is not None and len(page):
        measured.update(_panel_page(ax[0], page))
        measured.update(_panel_ratios(ax[2], page, ntk))
    else:
        empty_panel(ax[0], "no page_curve entry")
        empty_panel(ax[2], "no page_curve entry")
    _panel_double_descent(ax[1], dd, peaks, p_star, source)
    for learner, pk in peaks.items():
        d = dd[learner]
        measured[f"dd_n_diverged[{learner}]"] = d.n_diverged
        measured[f"dd_n_runs[{learner}]"] = d.n_runs
        if pk["peak"] is None:
            note = diverged_note(d.n_diverged, d.n_runs) or "no rows"
            measured[f"dd_note[{learner}]"] = note
            log.warning("correspondence: %s: %s; no peak", learner, note)
            continue
        p = pk["peak"]
        measured[f"dd_peak_over_threshold[{learner}]"] = p.peak
        measured[f"dd_peak_median[{learner}]"] = p.median
        measured[f"dd_peak_lo[{learner}]"] = p.lo
        measured[f"dd_peak_hi[{learner}]"] = p.hi
        measured[f"dd_threshold[{learner}]"] = pk["threshold"]
        measured[f"dd_threshold_name[{learner}]"] = pk["threshold_name"]
        measured[f"dd_peak_n_params[{learner}]"] = int(pk["peak_n_params"])
        measured[f"dd_peak_test_loss[{learner}]"] = pk["test_loss"]
        measured[f"dd_peak_step[{learner}]"] = pk["step"]
        unit = "P/P*" if pk["threshold_name"] == "P*" else "P/(n_L N)"
        note = diverged_note(d.n_diverged, d.n_runs)
        log.info(
            "correspondence: %s peak at %s = %s, bootstrap over %d samples per width "
            "(threshold %s = %.4g%s)%s", learner, unit, p.text(), p.n_samples,
            pk["threshold_name"], pk["threshold"],
            f", kappa = {kappa:.4g} from {source}" if pk["threshold_name"] == "P*" else "",
            f"; {note}" if note else "",
        )  # fmt: skip
    with_peak = [lrn for lrn in ("network", *peaks) if lrn in peaks and peaks[lrn]["peak"]]
    if with_peak:  # the trained network's peak, at its training time (else the first learner's)
        learner = with_peak[0]
        when = _when(dd[learner].rows, learner)
        measured["dd_peak_first"] = measured[f"dd_peak_over_threshold[{learner}]"]
        measured["dd_peak_first_learner"] = learner
        if learner == "network":
            measured["dd_peak_first_what"] = f"trained network at {when}"
    _panel_spectra(ax[3], mp_arrays, ntk_norm, n)
    _measure_extra(entries, measured)
    paths = save_figure(fig, outdir, "correspondence") + _time_figure(entries, outdir)
    table = correspondence_table(measured)
    table.to_csv(outdir / "correspondence.csv", index=False)
    lines = ["| paper (Table 1) | quantum | value | NTK | value |", "|---|---|---|---|---|"]

    def fmt(v: float, lo=float("nan"), hi=float("nan"), median=float("nan")) -> str:
        if not np.isfinite(v):
            return ""
        out = f"{v:.4g}"
        if np.isfinite(lo) and np.isfinite(hi):
            out += f" [{lo:.3g}, {hi:.3g}], median {median:.3g}"
        return out

    for r in table.itertuples(index=False):
        lines.append(
            f"| {r.paper_row} | {r.quantum} | {fmt(r.quantum_value)} | {r.ntk} "
            f"| {fmt(r.ntk_value, r.ntk_lo, r.ntk_hi, r.ntk_median)} |"
        )
    lines.append("")
    lines.append(
        "Peaks: the argmax over P of the mean test loss over samples; [lo, hi] is its 68% "
        "bootstrap interval and median the bootstrap median (16th, 84th and 50th percentile of "
        "the argmax when the samples of each width are resampled with replacement, "
        f"{PEAK_BOOT} resamples, numpy Generator seed 0)."
    )
    if np.isfinite(p_star):
        lines.append(
            f"P* = kappa^2 n_L N = {p_star:.4g} [{p_lo:.3g}, {p_hi:.3g}] (95% bootstrap of the "
            f"fit) with kappa = {kappa:.4g} from {source}, for the network, its linearisation "
            "and NTK regression; random features against n_L N, the number of their readout "
            "parameters at which they interpolate."
        )
    if np.isfinite(own[0]):
        lines.append(
            f"Cross-check: the same fit on the trained network's own Jacobians at init "
            f"(the double_descent_network job's log) gives P* = {own[0]:.4g} "
            f"[{own[1]:.3g}, {own[2]:.3g}]."
        )
    notes = [f"{lrn}: {diverged_note(d.n_diverged, d.n_runs)}" for lrn, d in dd.items()
             if d.n_diverged]  # fmt: skip
    if notes:
        lines.append("Diverged trainings: " + "; ".join(notes) + ".")
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
