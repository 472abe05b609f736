"""double_descent in training time: the ``step`` rows, the linearised learner, L-BFGS, figures."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd
import pytest
from jax.flatten_util import ravel_pytree

from experiments import double_descent as dd
from typicality_ntk.errors import ConfigError
from typicality_ntk.ntk import empirical_ntk, learners
from typicality_ntk.ntk.data import synthetic_regression
from typicality_ntk.ntk.masked import MaskedMLP
from typicality_ntk.ntk.train import log_spaced_steps, make_optimizer, mse_loss, train_mse
from typicality_ntk.plot.double_descent import (
    PEAK_TIME_COLUMNS,
    final_rows,
    peak_over_time,
    peak_summary,
    plot_double_descent,
)
from typicality_ntk.sweep import load_experiment, precision_scope

NET = {"depth": 1, "activation": "relu", "parameterization": "ntk", "sigma_w": 1.4, "sigma_b": 0.1}
SMALL = ("model.widths=[3,40]", "samples=2", "data.n_train=10", "data.n_test=16",
         "optim.steps=60", "optim.log_points=8", "optim.lr=0.5")  # fmt: skip
PER_SAMPLE = ["lambda_min", "sigma_min_j", "sigma_min_j_normalized", "condition_number",
              "steps_taken", "diverged"]  # fmt: skip


def _data(n_train=12, n_test=20, dim=4, n_out=1, seed=0):
    return synthetic_regression(
        jax.random.key(seed), n_train=n_train, n_test=n_test, dim=dim, label_noise=0.3,
        n_out=n_out, dtype=jnp.float64,
    )  # fmt: skip


def _run(make_config, runner, learner, *overrides):
    cfg = make_config("experiment=double_descent", f"learner={learner}", *SMALL, *overrides)
    return runner.run(load_experiment(cfg.module), cfg).table


@pytest.fixture(scope="module")
def make_config(tmp_path_factory):
    """A module-scoped make_config (the conftest one is per test), for :func:`tables`."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from typicality_ntk.cli import CONFIG_DIR
    from typicality_ntk.config import register_configs
    from typicality_ntk.sweep import experiment_config

    register_configs()
    root = tmp_path_factory.mktemp("store")

    def _make(*overrides):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            cfg = compose("config", overrides=[f"store.root={root}", *overrides])
        GlobalHydra.instance().clear()
        return experiment_config(cfg)[0]

    return _make


@pytest.fixture(scope="module")
def tables(make_config, runner):
    """The SMALL sweep for the four learners (same seed and widths: the same theta_0)."""
    return {lrn: _run(make_config, runner, lrn) for lrn in learners.LEARNERS}


# -- the step column -----------------------------------------------------------------------------
def test_step_rows_per_learner_and_the_final_table(tables):
    """Time-resolved learners: one row per (width, sample, recorded step), the steps
    log_spaced_steps(steps, log_points); closed-form ones: one row at step = optim.steps. Per
    sample metrics repeat on its rows; d[d.step == d.step.max()] is one row per (width, sample),
    and for every learner, in one table of all four too."""
    steps = log_spaced_steps(60, 8)
    for learner, t in tables.items():
        assert list(t.columns[: len(dd.COLUMNS)]) == list(dd.COLUMNS), learner
        assert t["step"].dtype.kind == "i"
        for (_, _), rows in t.groupby(["width", "sample"]):
            want = steps if learner in learners.TIME_RESOLVED else [60]
            np.testing.assert_array_equal(rows["step"], want, err_msg=learner)
            assert (rows[PER_SAMPLE].nunique() == 1).all(), learner
        final = t[t["step"] == t["step"].max()]
        assert len(final) == 2 * 2 and not final.duplicated(["width", "sample"]).any()
    both = pd.concat(tables.values(), ignore_index=True)
    final = both[both["step"] == both["step"].max()]
    assert final.groupby("learner").size().to_dict() == dict.fromkeys(learners.LEARNERS, 4)
    pd.testing.assert_frame_equal(final_rows(both), final)
    # step 0 is theta_0 for both time-resolved learners, and their kernels are the same
    net, lin = (tables[k].set_index(["width", "sample", "step"]) for k in ("network", "linearized"))
    start = net.xs(0, level="step")
    np.testing.assert_allclose(start["test_loss"], lin.xs(0, level="step")["test_loss"], rtol=1e-12)
    assert (start["param_change"] == 0).all()
    np.testing.assert_allclose(net["lambda_min"], lin["lambda_min"], rtol=1e-6, atol=1e-12)


# -- the linearised learner ----------------------------------------------------------------------
def _theta0(net, width, data):
    return net.init(jax.random.key(4), data["x_train"].shape[1], width, jnp.float64)


def _learn(fn, net, width, data, *args, theta0=None):
    theta0 = _theta0(net, width, data) if theta0 is None else theta0
    return jax.jit(lambda t: fn(net, t, data, width, *args))(theta0)


def test_linearized_at_long_times_is_ntk_regression():
    """steps -> infinity (1e12 GD steps, closed form): the linearised network's outputs are
    kernel regression's, to 1e-6, ridgeless and ridge (two outputs, P > n_L N)."""
    with precision_scope("float64"):
        data = _data(n_out=2)
        net = MaskedMLP(48, n_out=2, **NET)
        optim = {"lr": 0.5, "steps": 10**12, "log_points": 8}
        for ridge in (0.0, 0.3):
            lin = _learn(learners.linearized, net, np.int32(40), data, ridge, optim)
            kr = _learn(learners.ntk_regression, net, np.int32(40), data, ridge)
            assert int(lin["diverged"]) == 0
            for k in ("f_train", "f_test"):
                np.testing.assert_allclose(lin[k][-1], kr[k], rtol=1e-6, atol=1e-9, err_msg=k)
            assert float(lin["change"][-1]) == pytest.approx(float(kr["change"]), rel=1e-6)
            for k in ("lambda_min", "condition_number", "sigma_min_j"):
                assert float(lin[k]) == pytest.approx(float(kr[k]), rel=1e-6), k


def test_linearized_is_gradient_descent_on_the_linear_model():
    """The closed form == 30 explicit GD steps on f0 + J (theta - theta0) with this loss's
    normalisation 1/(2N) sum |f - y|^2 (two outputs: lr is not rescaled by n_L), ridge
    ridge/(2N) |theta - theta0|^2."""
    with precision_scope("float64"):
        data = _data(n_out=2)
        width, ridge, lr, steps = 7, 0.2, 0.3, 30
        net = MaskedMLP(7, n_out=2, **NET)
        theta0 = _theta0(net, width, data)
        optim = {"lr": lr, "steps": steps, "log_points": steps + 1}
        out = _learn(learners.linearized, net, width, data, ridge, optim, theta0=theta0)
        x, y, xt = data["x_train"], data["y_train"], data["x_test"]
        flat0, unravel = ravel_pytree(theta0)
        j = jax.jacobian(lambda v: net.apply(unravel(v), x, width).reshape(-1))(flat0)
        jt = jax.jacobian(lambda v: net.apply(unravel(v), xt, width).reshape(-1))(flat0)
        f0, f0t = net.apply(theta0, x, width).reshape(-1), net.apply(theta0, xt, width).reshape(-1)
        delta, n = np.zeros(flat0.shape), x.shape[0]
        for t in range(steps + 1):
            np.testing.assert_allclose(out["f_train"][t].reshape(-1), f0 + j @ delta, rtol=1e-9)
            np.testing.assert_allclose(out["f_test"][t].reshape(-1), f0t + jt @ delta, rtol=1e-9)
            grad = (j.T @ (f0 + j @ delta - y.reshape(-1)) + ridge * delta) / n
            delta = delta - lr * grad


def test_linearized_train_loss_decreases_below_the_stability_limit():
    """GD on the linearised model with lr < 2 N / lambda_max(K) (this loss: L = |f - y|^2 / (2N),
    so the Hessian's top eigenvalue is lambda_max / N): the train loss decreases monotonically at
    every step; above the limit the learner says it diverged."""
    with precision_scope("float64"):
        data = _data()
        width, n = 6, 12
        net = MaskedMLP(width, n_out=1, **NET)
        theta0 = _theta0(net, width, data)
        k = jax.jit(lambda p: empirical_ntk(lambda q, xx: net.apply(q, xx, width), p,
                                            data["x_train"]))(theta0)  # fmt: skip
        lam_max = float(np.linalg.eigvalsh(np.asarray(k))[-1])
        for factor, diverged in ((1.95, 0), (2.05, 1)):
            lr = factor * n / lam_max
            optim = {"lr": lr, "steps": 3000, "log_points": 3001}
            out = _learn(learners.linearized, net, width, data, 0.0, optim)
            assert int(out["diverged"]) == diverged, factor
            if not diverged:
                loss = np.asarray(jax.vmap(lambda f: mse_loss(f, data["y_train"]))(out["f_train"]))
                assert np.all(np.diff(loss) <= 1e-13 * loss[0]), np.diff(loss).max()
                assert loss[-1] < 0.5 * loss[0]


def test_wide_networks_follow_their_linearisation(make_config, runner):
    """Width 2048 (P = 20 481 >> n_L N = 10): the trained network's test loss at every recorded
    step is its linearisation's within 2% (lazy training: the gap is O(1/sqrt(width)), measured
    0.5%); width 4 (P = 41 ~ 4 n_L N) leaves it (> 5% at the last step)."""
    over = ("model.widths=[4,2048]", "optim.steps=200", "optim.log_points=12")
    net, lin = (_run(make_config, runner, lrn, *over).set_index(["width", "sample", "step"])
                for lrn in ("network", "linearized"))  # fmt: skip
    wide = (net.xs(2048, level="width")["test_loss"], lin.xs(2048, level="width")["test_loss"])
    np.testing.assert_allclose(*wide, rtol=0.02)
    narrow = net.xs(4, level="width"), lin.xs(4, level="width")
    last = [t[t.index.get_level_values("step") == 200]["test_loss"].to_numpy() for t in narrow]
    assert np.max(np.abs(last[0] / last[1] - 1)) > 0.05


def test_linearized_peak_at_t_infinity_is_near_the_threshold(make_config, runner):
    """The default data (N = 40, label noise 0.3): at t -> infinity (1e12 steps) the linearised
    network's test-loss peak sits within a factor 2 of P = n_L N."""
    cfg = make_config("experiment=double_descent", "learner=linearized", "sweep.mode=masked",
                      "model.widths=[1,2,3,4,5,6,8,10,15,20,40,100]", "optim.steps=1000000000000",
                      "optim.log_points=4", "optim.lr=0.5")  # fmt: skip
    table = runner.run(load_experiment(cfg.module), cfg).table
    peak = peak_summary(table).iloc[0]
    assert peak["step"] == 10**12
    assert 0.5 <= peak["peak_ratio"] <= 2.0, peak


# -- lbfgs and the config ------------------------------------------------------------------------
def test_lbfgs_in_train_mse_is_the_optax_loop():
    """optim=lbfgs: train_mse's loop is optax's documented one (value_and_grad_from_state, then
    update with value, grad and value_fn), to rounding; in 100 steps it interpolates where
    gradient descent is still far from it."""
    with precision_scope("float64"):
        data = _data()
        width, steps = 5, 25
        net = MaskedMLP(width, n_out=1, **NET)
        theta0 = net.init(jax.random.key(4), 4, width, jnp.float64)
        x, y = data["x_train"], data["y_train"]

        def apply(p, xx):
            return net.apply(p, xx, width)

        def fit(name, lr):
            opt = make_optimizer(name, lr)
            return train_mse(apply, theta0, x, y, optimizer=opt, steps=steps, log_steps=[steps])

        res = jax.jit(lambda: fit("lbfgs", 1.0))()
        opt = optax.lbfgs(1.0)

        def loss(p):
            return mse_loss(apply(p, x), y)

        def body(_, carry):
            p, state = carry
            value, grad = optax.value_and_grad_from_state(loss)(p, state=state)
            upd, state = opt.update(grad, state, p, value=value, grad=grad, value_fn=loss)
            return optax.apply_updates(p, upd), state

        ref, _ = jax.jit(lambda p: jax.lax.fori_loop(0, steps, body, (p, opt.init(p))))(theta0)
        for a, b in zip(jax.tree.leaves(res.params), jax.tree.leaves(ref), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12)
        steps = 100  # width 5, P = 31 ~ 2.6 n_L N: L-BFGS interpolates, GD is far from it
        lbfgs, gd = jax.jit(lambda: fit("lbfgs", 1.0))(), jax.jit(lambda: fit("gd", 0.5))()
        assert float(lbfgs.final_loss) < 1e-8 < 1e-3 < float(gd.final_loss)


def _lbfgs(make_config, runner, mode):
    over = ("optim=lbfgs", "model.widths=[3,12]", "optim.steps=150", f"sweep.mode={mode}")
    table = _run(make_config, runner, "network", *over)
    return table[table["step"] == 150].set_index(["width", "sample"])


def test_the_network_learner_trains_to_convergence_with_lbfgs(make_config, runner):
    """optim=lbfgs through the experiment (masked: the line search on a padded network): in 150
    iterations the over-parameterised width (P = 121 = 12 n_L N) interpolates the noisy labels
    (against GD: test_lbfgs_in_train_mse_is_the_optax_loop; masked == loop: the slow test)."""
    final = _lbfgs(make_config, runner, "masked")
    assert (final["diverged"] == 0).all()
    assert (final.loc[12, "train_loss"] < 1e-10).all()


@pytest.mark.slow
def test_lbfgs_on_a_padded_network_is_lbfgs_on_its_own(make_config, runner):
    masked, loop = (_lbfgs(make_config, runner, mode) for mode in ("masked", "loop"))
    np.testing.assert_allclose(masked["test_loss"], loop["test_loss"], rtol=1e-5)


def test_time_keys_are_checked_before_any_compute(make_config):
    dd.check(make_config("experiment=double_descent", "learner=linearized"))
    for overrides, message in [
        (("learner=linearized", "optim=adam"), "optim.name=adam: learner=linearized is full-batch"),
        (("learner=linearized", "optim=lbfgs"), "optim.name=lbfgs: learner=linearized"),
        (("learner=network", "optim=lbfgs", "optim.batch_size=4"), "lbfgs is full-batch"),
    ]:
        with pytest.raises(ConfigError, match=message):
            dd.check(make_config("experiment=double_descent", *overrides))


# -- figures -------------------------------------------------------------------------------------
def test_time_figure_and_peak_over_time(tables, tmp_path):
    """All four learners in one table: the final-step figure per learner, the time figure (with
    the network - linearised gap) and the peak at every step; a closed-form table draws no time
    figure."""
    both = pd.concat(tables.values(), ignore_index=True)
    peaks = peak_over_time(both)
    assert list(peaks.columns) == list(PEAK_TIME_COLUMNS)
    counts = peaks.groupby("learner").size().to_dict()
    assert counts == {"network": 8, "linearized": 8, "random_features": 1, "ntk_regression": 1}
    summary = peak_summary(both).set_index("learner")
    assert summary.loc["network", "step"] == 60 and summary.loc["ntk_regression", "step"] == 60
    paths = plot_double_descent(both, {}, {"optim": {"name": "gd", "lr": 0.5}}, tmp_path)
    names = {p.name for p in paths}
    assert {
        "double_descent.png",
        "double_descent_time.png",
        "double_descent_peak_time.csv",
    } <= names
    assert all(p.stat().st_size > 0 for p in paths)
    only_rf = plot_double_descent(tables["random_features"], {}, {}, tmp_path / "rf")
    assert not any("time" in p.name for p in only_rf)
