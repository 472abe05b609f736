"""Figures say what the data show: labelled axes, complete legends, no text on text, legends off
the data, peak intervals that cover the peak, training time as lr * step, diverged runs drawn.

:func:`figure_problems` is the check; ``test_paper`` applies it to every figure of a paper run
(through :data:`typicality_ntk.plot._common.FIGURE_HOOKS`, so the study runs once).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import run_tntk
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.text import Text

from typicality_ntk.plot import _common
from typicality_ntk.plot._common import legend_below, new_figure, save_figure
from typicality_ntk.plot.double_descent import (
    PEAK_TIME_COLUMNS,
    peak_over_time,
    peak_summary,
    plot_double_descent,
    plot_double_descent_time,
    time_rows,
)
from typicality_ntk.plot.peaks import bootstrap_argmax, peak_interval


# -- the check -----------------------------------------------------------------------------------
def _texts(fig, renderer) -> list[tuple[str, object]]:
    """(description, window extent) of every visible, non-empty text of the figure."""
    out = []

    def add(text: Text, where: str):
        if text is not None and text.get_visible() and text.get_text().strip():
            out.append((f"{where}: {text.get_text()!r}", text.get_window_extent(renderer)))

    add(fig._suptitle, "suptitle")
    for t in fig.texts:
        if t is not fig._suptitle:
            add(t, "figure text")
    for leg in fig.legends:
        for t in leg.get_texts():
            add(t, "figure legend")
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        for axis, name in ((ax.xaxis, "x"), (ax.yaxis, "y")):
            lo, hi = sorted(axis.get_view_interval())
            for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
                if lo - 1e-12 * abs(lo) <= tick.get_loc() <= hi + 1e-12 * abs(hi):
                    for label in (tick.label1, tick.label2):
                        if label.get_visible() and tick.get_visible():
                            add(label, f"axes {i} {name} tick")
            add(axis.label, f"axes {i} {name} label")
            add(axis.get_offset_text(), f"axes {i} {name} offset")
        for title in (ax.title, ax._left_title, ax._right_title):
            add(title, f"axes {i} title")
        for t in ax.texts:
            add(t, f"axes {i} text")
        leg = ax.get_legend()
        if leg is not None:
            for t in leg.get_texts():
                add(t, f"axes {i} legend")
            add(leg.get_title(), f"axes {i} legend title")
    return out


def _overlap(a, b, tol: float = 1.0) -> bool:
    return min(a.x1, b.x1) - max(a.x0, b.x0) > tol and min(a.y1, b.y1) - max(a.y0, b.y0) > tol


def _has_data(ax) -> bool:
    lines = [ln for ln in ax.lines if len(np.atleast_1d(ln.get_xdata())) > 0]
    return bool(lines or ax.collections or ax.patches or ax.images)


def _labelled(ax) -> list[str]:
    """Labels of the axes' artists that ask for a legend entry (no leading underscore)."""
    out = []
    for artist in [*ax.lines, *ax.collections, *ax.patches, *ax.containers]:
        label = artist.get_label()
        if isinstance(artist, Line2D) and any(artist in c for c in ax.containers):
            continue  # part of an errorbar: the container carries the label
        if label and not label.startswith("_"):
            out.append(label)
    return out


def _legend_texts(leg: Legend | None) -> set[str]:
    return set() if leg is None else {t.get_text() for t in leg.get_texts()}


def _siblings(fig, ax) -> list:
    """Axes drawn in the same box (twins)."""
    return [o for o in fig.axes if o.bbox.bounds == ax.bbox.bounds]


def _data_points(ax) -> np.ndarray:
    pts = []
    for ln in ax.lines:
        xy = np.column_stack([np.atleast_1d(ln.get_xdata()), np.atleast_1d(ln.get_ydata())])
        if len(xy) and ln.get_visible():
            pts.append(ln.get_transform().transform(np.asarray(xy, float)))
    return np.concatenate(pts) if pts else np.empty((0, 2))


def figure_problems(fig) -> list[str]:
    """What a reader would trip on: an axes with data but no x or y label (a twin's or a shared
    axis' label counts), a labelled artist missing from every legend of its axes, its twins and
    the figure, two texts overlapping, a legend inside the axes covering data points."""
    if fig.stale:  # save_figure has just drawn it
        fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    problems = []
    fig_legend = set().union(*[_legend_texts(leg) for leg in fig.legends])
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible() or hasattr(ax, "_colorbar") or not _has_data(ax):
            continue
        twins = _siblings(fig, ax)
        if not any(a.get_xlabel() for a in twins):
            problems.append(f"axes {i} ({ax.get_title()!r}): no x label")
        if not ax.get_ylabel():
            problems.append(f"axes {i} ({ax.get_title()!r}): no y label")
        shown = fig_legend.union(*[_legend_texts(a.get_legend()) for a in twins])
        for label in _labelled(ax):
            if label not in shown:
                problems.append(f"axes {i} ({ax.get_title()!r}): {label!r} not in a legend")
        leg = ax.get_legend()
        if leg is not None and not getattr(leg, "_tntk_below", False):
            box = leg.get_window_extent(renderer)
            inside = [p for a in twins for p in _data_points(a)
                      if box.x0 < p[0] < box.x1 and box.y0 < p[1] < box.y1]  # fmt: skip
            if inside:
                problems.append(f"axes {i} ({ax.get_title()!r}): legend covers {len(inside)} "
                                "data points")  # fmt: skip
    texts = _texts(fig, renderer)
    for a in range(len(texts)):
        for b in range(a + 1, len(texts)):
            if _overlap(texts[a][1], texts[b][1]):
                problems.append(f"overlap: {texts[a][0]} / {texts[b][0]}")
    return problems


@pytest.fixture
def collect_figures():
    """Figures saved through save_figure while the test runs, as (stem, problems, figure)."""
    seen: list[tuple[str, list[str], object]] = []

    def hook(fig, stem):
        seen.append((stem, figure_problems(fig), fig))

    _common.FIGURE_HOOKS.append(hook)
    yield seen
    _common.FIGURE_HOOKS.remove(hook)


def test_the_check_finds_what_it_should(tmp_path):
    fig, ax = new_figure(1, 2)
    ax[0].plot([1, 2, 3], [1, 2, 3], label="unlisted")
    ax[0].text(0.5, 0.5, "one", transform=ax[0].transAxes)
    ax[0].text(0.5, 0.5, "two", transform=ax[0].transAxes)
    ax[1].plot(np.linspace(0, 9, 200), np.linspace(0, 9, 200), "o", label="data")
    ax[1].set(xlabel="x", ylabel="y")
    ax[1].legend(loc="center")
    problems = figure_problems(fig)
    assert any("no x label" in p for p in problems)
    assert any("'unlisted' not in a legend" in p for p in problems)
    assert any("overlap: axes 0 text: 'one'" in p for p in problems)
    assert any("legend covers" in p for p in problems)
    good, ax = new_figure(1, 1)
    ax[0].plot(np.arange(10), np.arange(10), "o", label="data")
    ax[0].set(xlabel="x", ylabel="y", xscale="log")
    legend_below(ax[0])
    save_figure(good, tmp_path, "good")
    assert figure_problems(good) == []


# -- the bootstrap -------------------------------------------------------------------------------
def _synthetic(n_samples: int, seed: int, x0: float = 20.0, noise: float = 0.4) -> pd.DataFrame:
    """A noisy bump in log P peaking at ``x0``: one row per (P, sample)."""
    rng = np.random.default_rng(seed)
    xs = np.round(np.geomspace(2, 200, 81)).astype(int)
    xs = np.unique(np.append(xs, int(x0)))
    rows = [
        {"n_params": x, "sample": s,
         "test_loss": np.exp(-np.log(x / x0) ** 2) + noise * rng.standard_normal()}
        for x in xs for s in range(n_samples)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_peak_interval_covers_the_peak_and_narrows_with_samples():
    widths = []
    for n_samples in (4, 256):
        covered = 0
        spans = []
        for seed in range(10):
            p = peak_interval(_synthetic(n_samples, seed), n_boot=300, seed=seed)
            covered += p.lo <= 20 <= p.hi
            spans.append(np.log(p.hi / p.lo))
            assert p.lo <= p.median <= p.hi and p.level == 0.68
        assert covered >= 6, (n_samples, covered)  # 68% intervals: ~7 of 10 expected
        widths.append(np.mean(spans))
    assert widths[1] < 0.5 * widths[0], widths  # argmax error ~ noise^(1/2): ~1/2.8
    again = peak_interval(_synthetic(4, 0), n_boot=300, seed=0)
    assert again == peak_interval(_synthetic(4, 0), n_boot=300, seed=0)  # keyed, repeatable


def test_bootstrap_argmax_skips_widths_without_samples():
    curves = [np.array([[1.0]]), np.empty((0, 1)), np.array([[np.nan], [3.0]])]
    idx = bootstrap_argmax(curves, n_boot=50, seed=1)
    assert set(np.unique(idx)) <= {0, 2}
    assert (bootstrap_argmax([np.full((2, 1), np.nan)], n_boot=5) == -1).all()


# -- time as lr * step, diverged runs ------------------------------------------------------------
def _dd_table(*, lr_per_width: bool, diverged=()) -> pd.DataFrame:
    """A network double-descent table over 6 recorded steps, peak at width 4 growing in time."""
    rng = np.random.default_rng(0)
    rows = []
    for width in (1, 2, 4, 8, 16):
        p = 10 * width + 1
        lr = (0.5 if width < 4 else 2.0) if lr_per_width else 1.0
        for sample in range(3):
            for step in (0, 1, 10, 100, 1000, 10000):
                loss = 1 + np.log1p(step) * np.exp(-(np.log(p / 41) ** 2)) + 0.05 * rng.random()
                rows.append({
                    "learner": "network", "width": width, "n_params": p, "n_outputs": 1,
                    "n_train": 40, "sample": sample, "step": step,
                    "lr": lr, "time": lr * step, "train_loss": 0.1, "test_loss": loss,
                    "test_error": loss, "sigma_min_j_normalized": np.sqrt(p) - np.sqrt(40),
                    "diverged": int((width, sample) in diverged),
                })  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize("lr_per_width", [False, True])
def test_time_axis_is_lr_times_step_when_the_entry_has_it(tmp_path, collect_figures, lr_per_width):
    table = _dd_table(lr_per_width=lr_per_width)
    rows, label = time_rows(table)
    assert "lr" in label and (rows["t"] > 0).any()
    if not lr_per_width:
        np.testing.assert_array_equal(rows["t"], table["time"])
    limit = table[table["step"] == 10000].assign(learner="ntk_regression")  # t -> infinity
    table = pd.concat([table, limit], ignore_index=True)
    peaks = peak_over_time(table)
    assert list(peaks.columns) == list(PEAK_TIME_COLUMNS)
    assert (peaks["learner"] == "ntk_regression").sum() == 1  # one t, all widths
    assert (peaks["peak_ratio_lo"] <= peaks["peak_ratio"]).all()
    old = table.drop(columns=["lr", "time"])  # an entry from before the columns: steps
    assert time_rows(old)[1] == "training step t"
    assert peak_over_time(old)["time"].isna().all()
    if not lr_per_width:
        return  # one figure (the harder case) is enough to draw
    plot_double_descent_time(table, {"optim": {"name": "gd", "lr": "auto"}}, tmp_path)
    [(stem, problems, fig)] = collect_figures
    assert problems == [], problems
    assert any("lr" in a.get_xlabel() for a in fig.axes)  # the peak against lr * step


def test_partly_and_fully_diverged_tables_draw_and_say_so(tmp_path, collect_figures):
    part = _dd_table(lr_per_width=False, diverged={(4, 0), (8, 1)})
    summary = peak_summary(part).iloc[0]
    assert summary["n_diverged"] == 2 and summary["n_runs"] == 15
    paths = plot_double_descent(part, [], {}, tmp_path / "part")
    assert all(p.exists() for p in paths)
    gone = part.assign(diverged=1)
    paths = plot_double_descent(gone, [], {}, tmp_path / "gone")
    assert {p.name for p in paths} >= {"double_descent.png", "double_descent_time.png"}
    assert np.isnan(peak_summary(gone)["peak_ratio"].iloc[0])
    for stem, problems, _ in collect_figures:
        assert problems == [], (stem, problems)


def test_all_diverged_run_exits_0_and_draws(tmp_path):
    """``tntk`` on a run whose every sample diverges writes its entry and figures, and
    ``tntk-plot`` redraws them (both once raised ``argmax of an empty sequence``)."""
    args = ["experiment=double_descent", "learner=network", "optim.lr=1e6", "optim.steps=50",
            "samples=2", "model.widths=[2,4]", f"store.root={tmp_path / 'store'}",
            "hydra.run.dir=run"]  # fmt: skip
    first = run_tntk(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    figures = tmp_path / "run" / "figures"
    assert (figures / "double_descent.png").stat().st_size > 0
    assert (figures / "double_descent_time.png").stat().st_size > 0
    (figures / "double_descent.png").unlink()
    replot = run_tntk(str(tmp_path / "run"), cwd=tmp_path, tool="typicality_ntk.plot_cli")
    assert replot.returncode == 0, replot.stderr[-3000:]
    assert (figures / "double_descent.png").stat().st_size > 0


def _lazy_table(diverged=()) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(1)
    rows, arrays = [], {}
    for p, width in enumerate((16, 64, 256)):
        for sample in range(2):
            rows.append({
                "width": width, "n_train": 8, "sample": sample, "lr": 0.5 * p + 0.5,
                "diverged": int((width, sample) in diverged),
                **{c: float(rng.uniform(0.01, 0.1)) * width**-0.5 for c in (
                    "relative_train_loss", "param_change", "ntk_change", "linearization_gap",
                    "kernel_regression_gap", "test_loss", "test_loss_linearized",
                    "test_loss_kernel")},
            })  # fmt: skip
        arrays[f"loss_curve/{p}"] = np.exp(-np.arange(8.0) * (p + 1))[None].repeat(2, 0)
    return pd.DataFrame(rows), arrays


def test_lazy_training_loss_curves_against_lr_times_step(tmp_path, collect_figures):
    from typicality_ntk.plot.training import plot_lazy_training

    table, arrays = _lazy_table(diverged={(64, 1)})
    config = {"optim": {"name": "gd", "lr": "auto", "steps": 100, "log_points": 8}}
    plot_lazy_training(table, arrays, config, tmp_path)
    [(_, problems, fig)] = collect_figures
    assert problems == [], problems
    assert "lr" in fig.axes[4].get_xlabel()  # loss curves against lr * step
    gone = table.assign(diverged=1)
    assert plot_lazy_training(gone, arrays, config, tmp_path / "gone")[0].exists()


def test_each_learner_is_placed_by_its_own_threshold_and_the_table_says_what_was_left_out():
    from typicality_ntk.plot.correspondence import (
        DDLearner,
        correspondence_table,
        dd_peaks,
        network_threshold,
    )

    net = _dd_table(lr_per_width=False)
    net = net[net["step"] == net["step"].max()]
    rf = net.assign(learner="random_features", n_params=net["width"] + 1)
    dd = {"network": DDLearner(net.iloc[:0], 15, 15), "linearized": DDLearner(net, 0, 15),
          "random_features": DDLearner(rf, 0, 15)}  # fmt: skip
    p_star, lo, hi, source, kappa = network_threshold(None, dd)
    assert np.isnan(p_star) and source == ""  # no ntk_spectrum, the network all diverged
    peaks = dd_peaks(dd, 50.0)
    assert peaks["network"]["peak"] is None
    assert (
        peaks["linearized"]["threshold"] == 50.0 and peaks["linearized"]["threshold_name"] == "P*"
    )
    assert peaks["random_features"]["threshold"] == 40  # its readout: P_readout = n_L N
    assert peaks["random_features"]["peak"].peak == pytest.approx(5 / 40)  # width 4, P = 5
    measured = {
        "dd_note[network]": "all 15 samples diverged",
        "dd_peak_first_learner": "linearized",
    }
    for lrn in ("linearized", "random_features"):
        p = peaks[lrn]["peak"]
        measured |= {f"dd_peak_over_threshold[{lrn}]": p.peak, f"dd_peak_lo[{lrn}]": p.lo,
                     f"dd_peak_hi[{lrn}]": p.hi,
                     f"dd_threshold_name[{lrn}]": peaks[lrn]["threshold_name"]}  # fmt: skip
    table = correspondence_table(measured)
    text = "\n".join(table["ntk"])
    assert "trained network: all 15 samples diverged" in text
    assert "P_readout / (n_L N), random features" in text
    assert table["ntk_lo"].notna().sum() == 2
