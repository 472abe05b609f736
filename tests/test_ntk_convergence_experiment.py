"""The ``ntk_convergence`` experiment: runner, CLI check, store -> figure + fit table.

Sizes of the fast run (depth 1, N = 8, widths 16, 64, 256, 64 samples) come from the spread of
the relative error: over initialisations its coefficient of variation is about 0.3 at every
width, so the log of a 64-sample mean has a standard deviation of about 0.3 / 8 ~ 0.04. With three
widths a factor 4 apart, ``S_xx = 2 ln(4)^2 = 3.84`` and the least-squares slope has a standard
deviation of ``0.04 / sqrt(3.84) ~ 0.02``; its finite-width bias (the ``1/n`` term of the mean
error) measured about +0.03. The window [-0.7, -0.3] is therefore ~10 standard deviations wide on
each side. Errors fall from ~0.46 to ~0.12 with s.e.m. ~0.02 and ~0.005: a drop of ~15 standard
errors, asserted at 5. XLA compiles (one per width), not arithmetic, dominate the run time; the
CLI test reuses the same three programs through the session's persistent compilation cache.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from conftest import run_tntk

from experiments.ntk_convergence import COLUMNS, EXPERIMENT, init_params
from typicality_ntk import store
from typicality_ntk.cli import main, plot_main
from typicality_ntk.ntk.from_config import network
from typicality_ntk.plot import mean_sem
from typicality_ntk.plot.convergence import (
    FIT_COLUMNS,
    convergence_fits,
    fit_loglog,
    plot_ntk_convergence,
)

SLOPE_RANGE = (-0.7, -0.3)
MARGIN_SEM = 5.0
SMALL = (
    "experiment=ntk_convergence",
    "model.depth=1",
    "model.widths=[16,64,256]",
    "samples=64",
    "data.n_train=8",
)


def _check_convergence(table: pd.DataFrame, metrics=("rel_error_ntk", "rel_error_nngp")):
    fits = convergence_fits(table, metrics).set_index("metric")
    for metric in metrics:
        slope = fits.loc[metric, "slope"]
        assert SLOPE_RANGE[0] <= slope <= SLOPE_RANGE[1], (metric, fits)
        stats = mean_sem(table, "width", metric).sort_values("width")
        first, last = stats.iloc[0], stats.iloc[-1]
        drop = first["mean"] - last["mean"]
        assert drop > MARGIN_SEM * np.hypot(first["sem"], last["sem"]), (metric, stats)


def test_runner_errors_fall_like_inverse_sqrt_width(make_config, runner):
    cfg = make_config(*SMALL)
    result = runner.run(EXPERIMENT, cfg)
    table = result.table
    assert list(table.columns) == list(COLUMNS)
    assert len(table) == 3 * 64 and not result.arrays
    assert table["n_outputs"].eq(1).all() and table["n_train"].eq(8).all()
    # one hidden layer: P = n (n0 + 1) + n + 1 = n (n0 + 2) + 1 with n0 = 8
    assert (table["n_params"] == table["width"] * 10 + 1).all()
    errors = table[[c for c in COLUMNS if c.startswith("rel_error")]].to_numpy()
    assert np.all(np.isfinite(errors)) and np.all(errors > 0)
    _check_convergence(table)


@pytest.mark.slow
def test_default_config_slope(make_config, runner):
    """The shipped configuration (depth 2, N = 16, widths 64..2048, 16 samples): ~1-2 min."""
    table = runner.run(EXPERIMENT, make_config("experiment=ntk_convergence")).table
    _check_convergence(table)
    fits = convergence_fits(table).set_index("metric")
    assert fits.loc["rel_error_ntk", "slope_stderr"] < 0.1, fits


REJECT = ("experiment=ntk_convergence", "model.activation=tanh")
REJECT_MESSAGE = (
    "error: model.activation=tanh: ntk_convergence needs a closed-form kernel: relu or erf\n"
)


def test_activation_without_closed_form_kernel_is_rejected(capsys, tmp_path, monkeypatch):
    """``tntk`` in-process (what ``python -m typicality_ntk`` calls; no interpreter start-up)."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(list(REJECT))
    assert exc.value.code == 2
    assert capsys.readouterr().err == REJECT_MESSAGE
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_activation_without_closed_form_kernel_is_rejected_by_the_process(tmp_path):
    proc = run_tntk(*REJECT, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == REJECT_MESSAGE, proc.stderr
    assert not (tmp_path / "outputs").exists()


def test_cli_run_then_replot_writes_figure_and_fit(tmp_path, capsys):
    """A real ``tntk`` process (its three programs come from the session's compilation cache when
    the runner test ran first; ``figures=false`` spares it matplotlib), then ``tntk-plot <run
    dir>`` (in-process: the function the ``tntk-plot`` script calls) draws from the store."""
    run = run_tntk(*SMALL, "figures=false", "hydra.run.dir=run", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    figures = tmp_path / "run" / "figures"
    assert not figures.exists()
    df = store.load(tmp_path / "run")
    assert len(df) == 3 * 64 and list(df.columns[: len(COLUMNS)]) == list(COLUMNS)

    plot_main([str(tmp_path / "run")])
    printed = capsys.readouterr().out.split()
    assert {p.rsplit("/", 1)[-1] for p in printed} == {
        "ntk_convergence.png",
        "ntk_convergence.pdf",
        "ntk_convergence_fit.csv",
    }
    assert (figures / "ntk_convergence.png").stat().st_size > 0
    assert (figures / "ntk_convergence.pdf").stat().st_size > 0
    fit = pd.read_csv(figures / "ntk_convergence_fit.csv")
    assert tuple(fit.columns) == FIT_COLUMNS
    assert set(fit["metric"]) == {"rel_error_ntk", "rel_error_nngp"}
    assert fit["slope"].between(*SLOPE_RANGE).all(), fit


@pytest.mark.slow
@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
def test_init_params_has_the_law_of_init_fn(parameterization):
    """The experiment's one-normal draw against make_mlp's own init_fn: same tree, same law."""
    net = dict(width=512, depth=2, activation="relu", sigma_w=1.3, sigma_b=0.4, n_out=2)
    init, _ = network(parameterization=parameterization, **net)
    x = jnp.ones((1, 8))
    ours = init_params(
        jax.random.key(0), init, x, parameterization=parameterization, sigma_w=1.3, sigma_b=0.4
    )
    ref = init(jax.random.key(1), x)
    assert jax.tree.structure(ours) == jax.tree.structure(ref)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref), strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
        if a.size >= 512:  # per-leaf spread: N(0, 1), N(0, sigma_w^2/fan_in) or N(0, sigma_b^2)
            assert float(jnp.std(a)) == pytest.approx(float(jnp.std(b)), rel=0.1)
            assert abs(float(jnp.mean(a))) < 5 * float(jnp.std(b)) / np.sqrt(a.size)


def test_fit_loglog_recovers_a_power_law():
    w = np.array([64, 128, 256, 512])
    fit = fit_loglog(w, 3.0 * w**-0.5)
    assert fit["slope"] == pytest.approx(-0.5) and fit["intercept"] == pytest.approx(np.log(3.0))
    assert fit["slope_stderr"] == pytest.approx(0.0, abs=1e-12) and fit["n"] == 4
    two = fit_loglog(w[:2], w[:2] ** -1.0)
    assert two["slope"] == pytest.approx(-1.0) and np.isnan(two["slope_stderr"])
    assert np.isnan(fit_loglog([64], [0.1])["slope"])


def test_plot_from_table_only(tmp_path):
    rng = np.random.default_rng(0)
    widths = np.repeat([32, 128, 512, 2048], 8)
    noise = np.exp(0.1 * rng.standard_normal(widths.size))
    table = pd.DataFrame(
        {
            "width": widths,
            "sample": np.tile(np.arange(8), 4),
            **{c: 2.0 * widths**-0.5 * noise for c in COLUMNS if c.startswith("rel_error")},
        }
    )
    paths = plot_ntk_convergence(table, [], {"model": {"activation": "relu", "depth": 2}}, tmp_path)
    assert {p.name for p in paths} == {
        "ntk_convergence.png",
        "ntk_convergence.pdf",
        "ntk_convergence_fit.csv",
    }
    assert all(p.stat().st_size > 0 for p in paths)
    fit = pd.read_csv(tmp_path / "ntk_convergence_fit.csv").set_index("metric")
    assert fit.loc["rel_error_ntk", "slope"] == pytest.approx(-0.5, abs=0.05)
    assert (
        fit.loc["rel_error_ntk", "width_max"] == 2048 and fit.loc["rel_error_ntk", "n_widths"] == 4
    )


def test_structured_default_gives_the_numbers_of_the_previous_default(make_config, runner):
    """``ntk.implementation=auto`` (now structured) vs ``ntk_vector_products`` (the shipped
    config's choice before structured kernels existed): the same errors, float64."""
    over = (*SMALL[:3], "samples=3", "data.n_train=6", "precision=float64")
    now = runner.run(EXPERIMENT, make_config(*over)).table
    before = runner.run(EXPERIMENT, make_config(*over, "ntk.implementation=ntk_vector_products"))
    for col in ("rel_error_ntk", "rel_error_diag", "rel_error_offdiag", "rel_error_nngp"):
        np.testing.assert_allclose(now[col], before.table[col], rtol=1e-9)
