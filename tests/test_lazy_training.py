"""Training (ntk.train) and the lazy_training experiment: exact GD iterates, lazy scaling, CLI."""

from __future__ import annotations

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import run_tntk
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from experiments.lazy_training import COLUMNS
from typicality_ntk import store
from typicality_ntk.cli import CONFIG_DIR, main, plot_main
from typicality_ntk.config import register_configs
from typicality_ntk.ntk.train import (
    LR_SAFETY,
    log_spaced_steps,
    make_optimizer,
    mse_loss,
    train_mse,
)
from typicality_ntk.sweep import Runner, experiment_config, load_experiment, precision_scope

LAZY = load_experiment("experiments.lazy_training")
#: Two widths keep the default suite fast (one compile each); the slow test sweeps the default
#: config's four. The CLI test uses the same shapes (its programs come from the compile cache).
WIDTHS = (64, 1024)
SMALL = (
    "data.n_train=8",
    "data.n_test=32",
    "samples=8",
    "optim.steps=200",
    "optim.log_points=16",
)


def _small(widths=WIDTHS) -> tuple[str, ...]:
    return ("experiment=lazy_training", f"model.widths=[{','.join(map(str, widths))}]", *SMALL)


# --------------------------------------------------------------------------- ntk.train


def _linear_problem(n=20, d=5, seed=0):
    kx, ky, kt = jax.random.split(jax.random.key(seed), 3)
    x = jax.random.normal(kx, (n, d))
    y = x @ jax.random.normal(ky, (d, 1))  # realisable: the minimum loss is 0
    theta0 = {"w": jax.random.normal(kt, (d, 1))}
    return x, y, theta0


def _linear_apply(params, x):
    return x @ params["w"]


def test_log_spaced_steps_are_distinct_and_cover_the_run():
    for steps, points in [(3000, 64), (10, 64), (64, 64), (5, 3), (1, 2), (200, 16)]:
        s = log_spaced_steps(steps, points)
        assert s[0] == 0 and s[-1] == steps and len(s) == min(points, steps + 1)
        assert np.all(np.diff(s) > 0)


@functools.partial(jax.jit, static_argnames="steps")
def _gd(theta0, x, y, lr, loss_tol, steps=200):
    """Full-batch GD on the linear model; lr and loss_tol traced: one compile for every test."""
    return train_mse(
        _linear_apply, theta0, x, y, optimizer=make_optimizer("gd", lr), steps=steps,
        log_steps=np.arange(steps + 1), loss_tol=loss_tol,
    )  # fmt: skip


def test_gd_on_a_linear_model_follows_the_closed_form():
    """theta_t - theta* = (I - eta H)^t (theta_0 - theta*), H = X^T X / N, to 1e-10 (float64)."""
    with precision_scope("float64"):
        x, y, theta0 = _linear_problem()
        xn, yn, w0 = np.asarray(x), np.asarray(y), np.asarray(theta0["w"])
        h = xn.T @ xn / xn.shape[0]
        eta = 1.0 / np.linalg.eigvalsh(h)[-1]
        theta_star = np.linalg.lstsq(xn, yn, rcond=None)[0]
        res = _gd(theta0, x, y, eta, 0.0)
        m = np.eye(h.shape[0]) - eta * h
        iterate = [theta_star + np.linalg.matrix_power(m, t) @ (w0 - theta_star)
                   for t in range(201)]  # fmt: skip
        losses = np.array([0.5 * np.mean(np.sum((xn @ th - yn) ** 2, axis=1)) for th in iterate])
        np.testing.assert_allclose(res.params["w"], iterate[-1], rtol=0, atol=1e-10)
        np.testing.assert_allclose(res.losses[:40], losses[:40], rtol=1e-10, atol=0)
        np.testing.assert_allclose(res.losses, losses, rtol=0, atol=1e-10 * losses[0])
        np.testing.assert_allclose(res.final_loss, losses[-1], rtol=0, atol=1e-10 * losses[0])
        assert int(res.steps_taken) == 200 and not bool(res.diverged)


def test_loss_tol_freezes_and_divergence_is_a_flag():
    with precision_scope("float64"):
        x, y, theta0 = _linear_problem()
        lam = np.linalg.eigvalsh(np.asarray(x.T @ x) / x.shape[0])[-1]
        full = _gd(theta0, x, y, 1 / lam, 0.0)
        rel = np.asarray(full.losses) / float(full.losses[0])
        first = int(np.argmax(rel < 1e-3))  # the first t with L(theta_t) < 1e-3 L(theta_0)
        res = _gd(theta0, x, y, 1 / lam, 1e-3)
        assert 0 < first < 200 and int(res.steps_taken) == first
        assert float(res.final_loss) == pytest.approx(float(full.losses[first]), rel=1e-12)
        assert np.all(np.asarray(res.losses)[first:] == float(res.final_loss))  # frozen

        bad = _gd(theta0, x, y, 5 / lam, 0.0)  # lr * lambda_max(H) = 5 > 2
        assert bool(bad.diverged) and 0 < int(bad.steps_taken) < 200
        assert np.all(np.isfinite(bad.losses)) and np.isfinite(float(bad.final_loss))
        assert float(bad.final_loss) <= 1e8 * float(bad.losses[0])
        assert float(bad.final_loss) == pytest.approx(float(bad.losses[int(bad.steps_taken)]))
        assert np.all(np.isfinite(bad.params["w"]))


def test_minibatch_sgd_matches_a_plain_optax_loop():
    """Mini-batch t holds the examples choice(fold_in(key, t), N, batch, replace=False)."""
    with precision_scope("float64"):
        x, y, theta0 = _linear_problem(n=12, d=3, seed=1)
        key, opt, batch, steps = jax.random.key(7), make_optimizer("sgd", 0.05), 4, 15
        res = train_mse(_linear_apply, theta0, x, y, optimizer=opt, steps=steps,
                        log_steps=[0, steps], batch_size=batch, key=key)  # fmt: skip

        def manual_step(t, p):
            idx = jax.random.choice(jax.random.fold_in(key, t), x.shape[0], (batch,), replace=False)
            g = jax.grad(lambda q: mse_loss(_linear_apply(q, x[idx]), y[idx]))(p)
            return optax.apply_updates(p, opt.update(g, opt.init(p), p)[0])

        p = jax.jit(lambda p: jax.lax.fori_loop(0, steps, manual_step, p))(theta0)
        np.testing.assert_allclose(res.params["w"], p["w"], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(res.final_loss, mse_loss(_linear_apply(p, x), y), rtol=1e-12)


def test_make_optimizer_is_optax():
    g = {"w": jnp.array([1.0, -2.0])}
    p = {"w": jnp.array([0.5, 0.5])}
    for name, ref in (("gd", optax.sgd(0.1)), ("sgd", optax.sgd(0.1)), ("adam", optax.adam(0.1))):
        opt = make_optimizer(name, 0.1)
        got, want = opt.update(g, opt.init(p), p)[0], ref.update(g, ref.init(p), p)[0]
        np.testing.assert_allclose(got["w"], want["w"])
    with pytest.raises(ValueError, match="one of"):
        make_optimizer("foo", 0.1)
    with pytest.raises(ValueError, match="lr must be > 0"):
        make_optimizer("gd", -1.0)


# --------------------------------------------------------------------------- the experiment


def _config(tmp_path, *overrides):
    """The validated config, as the ``make_config`` fixture builds it (usable at module scope)."""
    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            cfg = compose("config", overrides=[f"store.root={tmp_path / 'store'}", *overrides])
    finally:
        GlobalHydra.instance().clear()
    return experiment_config(cfg)[0]


@pytest.fixture(scope="module")
def small_run(runner, tmp_path_factory):
    """The experiment at SMALL through the runner (module scope: run once)."""
    return runner.run(LAZY, _config(tmp_path_factory.mktemp("lazy"), *_small()))


def _check_lazy(table, widths) -> None:
    """Train loss -> 0 at the widest net; param_change decreasing (beyond 3 s.e.m.) ~ w^(-1/2)."""
    assert table["diverged"].eq(0).all() and np.isfinite(table.drop(columns="sample")).all().all()
    by = table.groupby("width")
    assert by["relative_train_loss"].mean()[widths[-1]] < 1e-6
    assert (table["lr"] * table["sharpness"] < 2.0).all()  # stable: lr lambda_max(K_0) / N < 2
    stats = by["param_change"].agg(["mean", "sem"]).loc[list(widths)]
    mean, sem = stats["mean"].to_numpy(), stats["sem"].to_numpy()
    margin = 3 * np.sqrt(sem[:-1] ** 2 + sem[1:] ** 2)
    assert np.all(mean[:-1] - mean[1:] > margin), stats  # strictly decreasing, beyond noise
    slope = np.polyfit(np.log(widths), np.log(mean), 1)[0]
    assert -0.7 <= slope <= -0.3, slope  # |theta_T - theta_0| / |theta_0| ~ width^(-1/2)
    for column in ("ntk_change", "linearization_gap", "kernel_regression_gap"):
        m = by[column].mean()
        assert m[widths[-1]] < m[widths[0]] / 2, (column, m)


def test_wide_nets_train_to_zero_loss_near_init(small_run):
    table, arrays = small_run.table, small_run.arrays
    assert list(table.columns) == list(COLUMNS)
    # optim.lr=auto: one rate per width, its stiffest sample (the runner's own theta_0) exactly at
    # LR_SAFETY x the edge lr lambda_max(K_0) / N = 2
    edge = (table["lr"] * table["sharpness"]).groupby(table["width"]).max()
    np.testing.assert_allclose(edge, 2 * LR_SAFETY, rtol=1e-9)
    assert (table.groupby("width")["lr"].nunique() == 1).all()
    for p in range(len(WIDTHS)):
        curve = arrays[f"loss_curve/{p}"]
        assert curve.shape == (8, 16) and np.all(curve[:, -1] <= curve[:, 0])
    _check_lazy(table, WIDTHS)


@pytest.mark.slow
def test_lazy_scaling_at_the_default_config(make_config):
    """The shipped config (widths 32..2048, N = 32, 1000 GD steps): every check, four widths."""
    cfg = make_config("experiment=lazy_training")
    _check_lazy(Runner(progress=False).run(LAZY, cfg).table, tuple(cfg.model.widths))


def test_divergence_is_recorded_not_raised(runner, small_run, make_config):
    before = runner.n_compiles
    result = runner.run(LAZY, make_config(*_small(), "optim.lr=100"))
    assert runner.n_compiles == before  # lr is traced: no recompilation
    table = result.table
    assert table["diverged"].eq(1).all()
    assert np.isfinite(table.drop(columns="sample")).all().all()
    assert (table["steps_taken"] < 200).all()
    assert all(np.isfinite(a).all() for a in result.arrays.values())


BAD_INPUTS = [
    (["optim.lr=-1"], "optim.lr=-1.0: must be > 0"),
    (["optim.name=foo"], "optim.name=foo: must be one of gd, sgd, adam"),
    (["optim.batch_size=4"], "optim.batch_size=4: gd is full-batch"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_INPUTS, ids=[a[0] for a, _ in BAD_INPUTS])
def test_bad_config_is_one_line_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["experiment=lazy_training", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {message}"), err
    assert not (tmp_path / "outputs").exists()


def test_cli_run_lands_in_store_and_replots(tmp_path, small_run, capsys):
    """``tntk`` in a fresh process (compiled programs come from the session's cache), then
    ``tntk-plot`` (its entry point, in process) redraws the figure from the store alone."""
    first = run_tntk(*_small(), "hydra.run.dir=run1", "figures=false", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert json.loads((tmp_path / "run1" / store.STORE_LINK).read_text())["status"] == "computed"
    df = store.load(tmp_path / "run1")
    assert len(df) == len(WIDTHS) * 8 and df["optim.name"].eq("gd").all()
    figure = tmp_path / "run1" / "figures" / "lazy_training.png"
    assert not figure.exists()
    plot_main([str(tmp_path / "run1")])
    assert str(figure) in capsys.readouterr().out.splitlines()
    assert figure.stat().st_size > 0 and figure.with_suffix(".pdf").stat().st_size > 0


def test_ntk_change_is_the_same_with_the_previous_kernel(runner, small_run, tmp_path):
    """``ntk.implementation=auto`` (structured for this MLP) gives the numbers of the Jacobian
    contraction every run used before it existed (float64)."""
    cfg = _config(tmp_path, *_small(), "ntk.implementation=jacobian_contraction")
    before = runner.run(LAZY, cfg).table
    np.testing.assert_allclose(small_run.table["ntk_change"], before["ntk_change"], rtol=1e-9)
    np.testing.assert_allclose(small_run.table["sharpness"], before["sharpness"], rtol=1e-9)
