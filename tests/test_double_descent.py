"""double_descent: the peak at the threshold, exact closed-form learners, masked == unmasked."""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from conftest import run_tntk

from experiments import double_descent as dd
from typicality_ntk import store
from typicality_ntk.cli import plot_main
from typicality_ntk.errors import ConfigError
from typicality_ntk.ntk import jacobian, learners, make_mlp, width_sweep
from typicality_ntk.ntk.data import synthetic_regression
from typicality_ntk.ntk.masked import MaskedMLP, masked_optimizer
from typicality_ntk.ntk.train import log_spaced_steps, make_optimizer, train_mse
from typicality_ntk.plot.double_descent import PEAK_COLUMNS
from typicality_ntk.sweep import Runner, load_experiment, precision_scope

NET = {"depth": 1, "n_out": 1, "activation": "relu", "parameterization": "ntk"}
METRICS = ["train_loss", "test_loss", "test_error", "param_change", "lambda_min",
           "sigma_min_j", "sigma_min_j_normalized", "condition_number"]  # fmt: skip


def _cfg(make_config, *overrides, learner="random_features", mode="auto", ridge=0.0):
    """The real config with the experiment's own keys set from the command line."""
    keys = (f"learner={learner}", f"sweep.mode={mode}", f"ridge={ridge}")
    return make_config("experiment=double_descent", *keys, *overrides)


def _data(n_train=12, n_test=20, dim=4, n_out=1, seed=0):
    return synthetic_regression(
        jax.random.key(seed), n_train=n_train, n_test=n_test, dim=dim, label_noise=0.3,
        n_out=n_out, dtype=jnp.float64,
    )  # fmt: skip


def _active(features, width):
    """The unpadded network's readout features: active hidden units and the bias feature."""
    assert not features[:, width:-1].any()  # masked units: zero features
    return np.concatenate([features[:, :width], features[:, -1:]], axis=1)


# -- (a) the peak ------------------------------------------------------------------------------
def test_random_features_peak_sits_at_the_interpolation_threshold(make_config, runner):
    """Ridgeless random features, label noise 0.3, N = 24: peak of the mean test loss at
    P = n_L (width + 1) within a factor 2 of n_L N, and of the near-threshold fit's P*."""
    cfg = _cfg(
        make_config,
        "data.n_train=24",
        "data.n_test=64",
        "samples=8",
        "model.widths=[1,3,7,12,17,20,23,26,30,40,60,100,200,400]",
        mode="masked",
    )
    result = runner.run(load_experiment(cfg.module), cfg)
    table = result.table
    assert list(table.columns[: len(dd.COLUMNS)]) == list(dd.COLUMNS)
    assert (table["learner"] == "random_features").all()
    assert (table["n_params"] == table["width"] + 1).all()
    n = 24
    peak = dd.peak_summary(table).iloc[0]
    assert n / 2 <= peak["peak_n_params"] <= 2 * n, peak
    assert 0.5 <= peak["peak_over_p_star_edge"] <= 2, peak
    mean = table.groupby("n_params")[["train_loss", "test_loss"]].mean()
    assert mean["test_loss"].max() > 3 * mean["test_loss"].iloc[-1]  # a real peak
    assert (mean.loc[mean.index >= n, "train_loss"] < 1e-20).all()  # interpolation above P = N
    assert (mean.loc[mean.index < n, "train_loss"] > 1e-4).all()  # and not below
    rows = table[table["n_params"] >= n]
    np.testing.assert_allclose(rows["lambda_min"], rows["sigma_min_j"] ** 2, rtol=1e-10)
    assert (table.loc[table["n_params"] < n, "lambda_min"] == 0).all()


# -- (b) closed forms ---------------------------------------------------------------------------
def test_random_features_is_numpy_least_squares():
    """Min-norm (ridgeless) or ridge readout on the features == numpy's lstsq / solve (float64);
    below (width 5, 11 < N = 12) and above the threshold; the width x width Gram (pad 5) and
    the N x N one (pad 64, masked)."""
    with precision_scope("float64"):
        data = _data()
        x, y, xt = (np.asarray(data[k]) for k in ("x_train", "y_train", "x_test"))
        for width_pad, widths in [(5, [5]), (64, [5, 11, 30, 64])]:
            net = MaskedMLP(width_pad, **NET, sigma_w=1.4, sigma_b=0.1)

            @jax.jit
            def solve(w, ridge, net=net):
                theta0 = net.init(jax.random.key(3), 4, w, jnp.float64)
                out = learners.random_features(net, theta0, data, w, ridge)
                feats = [net.readout_features(theta0, a, w) for a in (x, xt)]
                return out, feats, [net.apply(theta0, a, w) for a in (x, xt)]

            for width, ridge in itertools.product(widths, (0.0, 0.3)):
                out, (phi, phi_t), (f0, f0_t) = solve(np.int32(width), np.float64(ridge))
                phi, phi_t = (_active(np.asarray(a), width) for a in (phi, phi_t))
                if ridge == 0:
                    delta = np.linalg.lstsq(phi, y - f0, rcond=None)[0]
                else:
                    delta = phi.T @ np.linalg.solve(phi @ phi.T + ridge * np.eye(len(x)), y - f0)
                tol = {"rtol": 1e-8, "atol": 1e-10, "err_msg": f"width {width}, ridge {ridge}"}
                np.testing.assert_allclose(out["f_test"], f0_t + phi_t @ delta, **tol)
                np.testing.assert_allclose(out["f_train"], f0 + phi @ delta, **tol)
                assert float(out["change"]) == pytest.approx(np.linalg.norm(delta), rel=1e-8)


def test_ntk_regression_is_an_explicit_solve():
    """f = f0 + K(x, X) (K + ridge I)^{-1} (y - f0) with K = J J^T of the unpadded flax network
    (two outputs, P > n_L N), ridgeless and ridge; lambda_min and the condition number of K."""
    width, n_out = 6, 2
    with precision_scope("float64"):
        data = _data(n_out=n_out)
        net = MaskedMLP(16, **{**NET, "n_out": n_out}, sigma_w=1.4, sigma_b=0.1)
        theta0 = jax.jit(lambda k: net.init(k, 4, width, jnp.float64))(jax.random.key(5))
        solve = jax.jit(lambda t, r: learners.ntk_regression(net, t, data, width, r))
        _, apply = make_mlp(widths=(width,), n_out=n_out, activation="relu", sigma_w=1.4,
                            sigma_b=0.1)  # fmt: skip
        params = net.unpad(theta0, width)
        x, y, xt = (np.asarray(data[k]) for k in ("x_train", "y_train", "x_test"))
        both = np.concatenate([x, xt])  # one Jacobian and one forward pass, jitted
        j_all, f_all = jax.jit(lambda p: (jacobian(apply, p, both), apply(p, both)))(params)
        j, j_t = np.split(np.asarray(j_all), [len(x) * n_out])
        f0, f0_t = np.split(np.asarray(f_all), [len(x)])
        k = j @ j.T
        assert j.shape[1] > k.shape[0]  # P > n_L N: K is invertible
        eig = np.linalg.eigvalsh(k)
        for ridge in (0.0, 0.5):
            out = solve(theta0, np.float64(ridge))
            alpha = np.linalg.solve(k + ridge * np.eye(len(k)), (y - f0).reshape(-1))
            tol = {"rtol": 1e-8, "atol": 1e-10, "err_msg": f"ridge {ridge}"}
            f_test = f0_t + (j_t @ j.T @ alpha).reshape(f0_t.shape)
            np.testing.assert_allclose(out["f_test"], f_test, **tol)
            np.testing.assert_allclose(out["f_train"], f0 + (k @ alpha).reshape(f0.shape), **tol)
            assert float(out["change"]) == pytest.approx(np.sqrt(alpha @ k @ alpha), rel=1e-8)
            assert float(out["lambda_min"]) == pytest.approx(eig[0], rel=1e-6)
            assert float(out["condition_number"]) == pytest.approx(eig[-1] / eig[0], rel=1e-6)


# -- (c) masked == unmasked ---------------------------------------------------------------------
@pytest.mark.slow
def test_padded_initialisation_is_the_unpadded_one():
    """The active block of an init padded to 37 is the unpadded init; the rest is 0."""
    net = {**NET, "depth": 3, "parameterization": "standard", "sigma_w": 1.3, "sigma_b": 0.2}
    key = jax.random.key(7)
    small = jax.jit(lambda k: MaskedMLP(5, **net).init(k, 3, 5))(key)
    big = MaskedMLP(37, **net)
    padded = jax.jit(lambda k: big.init(k, 3, 5))(key)
    for a, b in zip(jax.tree.leaves(big.unpad(padded, 5)), jax.tree.leaves(small), strict=True):
        np.testing.assert_array_equal(a, b)
    inactive = jax.tree.map(lambda p, m: p * (1 - m), padded, big.mask(5, 3))
    assert all(float(jnp.abs(leaf).max()) == 0 for leaf in jax.tree.leaves(inactive))


def _check_masked_training(optimizer, lr, parameterization, pads):
    """Width 5 trained padded to each of ``pads`` == the unpadded flax network (float64)."""
    steps, width, depth = 100, 5, 2
    log_steps = log_spaced_steps(steps, 25)
    kw = {"n_out": 2, "activation": "tanh", "parameterization": parameterization,
          "sigma_w": 1.4, "sigma_b": 0.1}  # fmt: skip
    with precision_scope("float64"):
        data = _data(n_out=2)
        x, y = data["x_train"], data["y_train"]
        _, apply = make_mlp(widths=(width,) * depth, **kw)
        opt = make_optimizer(optimizer, lr)

        def train(apply_fn, p, optimizer):
            return train_mse(
                apply_fn, p, x, y, optimizer=optimizer, steps=steps, log_steps=log_steps
            )

        small = MaskedMLP(width, depth, **kw)
        p_small = jax.jit(lambda k: small.init(k, 4, width, jnp.float64))(jax.random.key(1))
        for pad in pads:
            net = MaskedMLP(pad, depth, **kw)

            @jax.jit
            def both(key, w, net=net):
                p0 = net.init(key, 4, w, jnp.float64)
                mask = net.mask(w, 4, jnp.float64)
                res = train(lambda q, xx: net.apply(q, xx, w), p0, masked_optimizer(opt, mask))
                return p0, mask, res

            p0, mask, res = both(jax.random.key(1), np.int32(width))
            # the padded init's active block is the unpadded init (same draws; the standard
            # parameterisation's scale is computed from a traced width here: 1 ulp); the rest is 0
            for a, b in zip(jax.tree.leaves(net.unpad(p0, width)), jax.tree.leaves(p_small),
                            strict=True):  # fmt: skip
                np.testing.assert_allclose(a, b, rtol=1e-14)
            inactive = jax.tree.map(lambda p, m: p * (1 - m), p0, mask)
            assert all(float(jnp.abs(leaf).max()) == 0 for leaf in jax.tree.leaves(inactive))
            ref = jax.jit(lambda p: train(apply, p, opt))(net.unpad(p0, width))
            np.testing.assert_allclose(res.losses, ref.losses, rtol=1e-5, err_msg=f"pad {pad}")
            assert float(ref.losses[-1]) < 0.5 * float(ref.losses[0])  # it did train
            moved = jax.tree.map(lambda a, b, m: (a - b) * (1 - m), res.params, p0, mask)
            assert all(float(jnp.abs(leaf).max()) == 0 for leaf in jax.tree.leaves(moved))
            for a, b in zip(jax.tree.leaves(net.unpad(res.params, width)),
                            jax.tree.leaves(ref.params), strict=True):  # fmt: skip
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8 * np.abs(b).max())


def test_masked_training_is_training_the_unmasked_network():
    """Loss curves of width 5 trained padded to 40 (masked) equal the unpadded flax network's
    (float64, <= 1e-5 relative; in practice ~1e-14); the padded init is the unpadded one; masked
    parameters never move. A bucket's padding (8) and a loop program (5) are the same code: the
    slow variant runs them, with adam and the standard parameterisation."""
    _check_masked_training("gd", 0.3, "ntk", pads=(40,))


@pytest.mark.slow
@pytest.mark.parametrize(("optimizer", "lr"), [("gd", 0.3), ("adam", 0.01)])
@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
def test_masked_training_every_optimizer_and_parameterization(optimizer, lr, parameterization):
    _check_masked_training(optimizer, lr, parameterization, pads=(5, 8, 40))


# -- (d) compiles per mode ----------------------------------------------------------------------
def test_modes_compile_as_promised_and_agree(make_config):
    """loop: one program per width, bucketed: one per bucket, masked: one; the same table."""
    widths = [3, 9, 27]
    tables, compiles = {}, {}
    for mode in ("loop", "bucketed", "masked"):
        cfg = _cfg(make_config, f"model.widths={widths}", "samples=3", "data.n_train=16",
                   "data.n_test=32", mode=mode)  # fmt: skip
        runner = Runner(progress=False)
        tables[mode] = runner.run(load_experiment(cfg.module), cfg).table
        compiles[mode] = runner.n_compiles
    costs = width_sweep.width_costs(widths, 8, 1, 1)
    n_buckets = len(set(width_sweep.padded_widths(widths, "bucketed", costs).values()))
    assert compiles == {"loop": len(widths), "bucketed": n_buckets, "masked": 1}
    assert 1 < n_buckets < len(widths)
    for mode in ("bucketed", "masked"):
        pd.testing.assert_frame_equal(
            tables[mode].drop(columns=METRICS), tables["loop"].drop(columns=METRICS)
        )
        for m in METRICS:
            np.testing.assert_allclose(tables[mode][m], tables["loop"][m], rtol=1e-7, err_msg=m)


def test_a_sweep_over_twelve_widths_compiles_once(make_config):
    """A double-descent sweep over 12 widths is one program (``auto`` -> masked for the
    closed-form learners), and the same sweep with new seeds compiles nothing."""
    widths = [1, 2, 3, 5, 8, 12, 17, 24, 33, 47, 66, 90]
    overrides = (f"model.widths={widths}", "samples=2", "data.n_train=16", "data.n_test=32")
    runner = Runner(progress=False)
    cfg = _cfg(make_config, *overrides)
    first = runner.run(load_experiment(cfg.module), cfg)
    assert first.n_compiles == 1 and first.table["width"].nunique() == len(widths)
    cfg = _cfg(make_config, *overrides, "seed=7")
    again = runner.run(load_experiment(cfg.module), cfg)
    assert again.n_compiles == 0
    assert not np.allclose(again.table["test_loss"], first.table["test_loss"])  # new draws


@pytest.mark.slow
@pytest.mark.parametrize("learner", ["network", "ntk_regression"])
def test_network_modes_agree_through_the_runner(make_config, learner):
    widths = [2, 5, 9]
    tables = {}
    for mode in ("loop", "masked"):
        cfg = _cfg(make_config, f"model.widths={widths}", "samples=2", "data.n_train=10",
                   "data.n_test=32", "optim.steps=60", learner=learner, mode=mode)  # fmt: skip
        tables[mode] = Runner(progress=False).run(load_experiment(cfg.module), cfg).table
    for m in METRICS + ["steps_taken", "diverged"]:
        ref = tables["loop"][m].to_numpy()
        # interpolating train losses are ~1e-30; sigma_min of a singular J is sqrt(eps) noise
        atol = (1e-6 if m.startswith("sigma") else 1e-12) * np.abs(ref[np.isfinite(ref)]).max()
        np.testing.assert_allclose(tables["masked"][m], ref, rtol=1e-7, atol=atol, err_msg=m)


def test_buckets_and_auto_mode():
    costs = np.geomspace(1, 1000, 20)
    buckets = width_sweep.bucket_widths(costs, factor=2.0)
    assert [i for b in buckets for i in b] == list(range(20))  # contiguous, in order
    padded = sum(len(b) * costs[b[-1]] for b in buckets)
    assert padded <= 2.0 * costs.sum() and len(buckets) <= 4
    assert width_sweep.bucket_widths(costs, factor=1.0) == [[i] for i in range(20)]
    widths = sorted({int(w) for w in np.round(np.geomspace(2, 2000, 20))})
    sizes = {"n_in": 8, "depth": 1, "n_out": 1, "n_train": 32, "n_test": 256, "steps": 2000}
    auto = {
        learner: width_sweep.choose_mode(learner, widths, sizes=sizes, samples=8, backend="cpu")
        for learner in learners.LEARNERS
    }
    # 2000 steps: 20 compiles cost more than bucketed's padding; 10^5 steps: padding costs more
    closed_form = {"random_features": "masked", "ntk_regression": "masked", "linearized": "masked"}
    assert auto == {"network": "bucketed", **closed_form}
    long = {**sizes, "steps": 100_000}
    choose = width_sweep.choose_mode
    assert choose("network", widths, sizes=long, samples=8, backend="cpu") == "loop"
    assert choose("network", widths, sizes=sizes, samples=8, backend="gpu") == "masked"


def test_bad_experiment_keys_are_rejected_by_the_typed_config(make_config):
    dd.check(make_config("experiment=double_descent"))  # the defaults pass
    for override, message in [
        ("learner=svm", "learner=svm: must be one of network, random_features"),
        ("ridge=-1", "ridge=-1.0: must be a number >= 0"),
        ("sweep.mode=fast", "sweep.mode=fast: must be one of auto, loop"),
        ("optim.batch_size=4", "optim.batch_size=4: gd is full-batch"),
    ]:
        with pytest.raises(ConfigError, match=message):
            dd.check(make_config("experiment=double_descent", override))


# -- (e) end to end -----------------------------------------------------------------------------
def test_cli_run_and_replot(tmp_path):
    """``tntk experiment=double_descent ...`` lands in the store; ``tntk-plot RUN_DIR`` draws the
    figure and the peak table from it (the run itself skips figures: one process less)."""
    args = ("experiment=double_descent", "model.widths=[2,6,12,14,16,24,48]", "samples=3",
            "data.n_train=12", "data.n_test=64", "figures=false", "hydra.run.dir=run1")  # fmt: skip
    first = run_tntk(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    table = store.load(tmp_path / "run1")
    assert len(table) == 7 * 3
    assert list(table.columns[: len(dd.COLUMNS)]) == list(dd.COLUMNS)
    assert plot_main([str(tmp_path / "run1")]) is None  # tntk-plot RUN_DIR (its entry point)
    figures = tmp_path / "run1" / "figures"
    png, csv = figures / "double_descent.png", figures / "double_descent_peak.csv"
    assert png.stat().st_size > 0 and png.with_suffix(".pdf").stat().st_size > 0
    peak = pd.read_csv(csv)
    assert peak["learner"].tolist() == ["random_features"]
    assert list(peak.columns) == list(PEAK_COLUMNS)
    assert 6 <= peak["peak_n_params"].iloc[0] <= 24


@pytest.mark.parametrize("learner", ["ntk_regression", "linearized"])
def test_kernel_learners_give_the_numbers_of_the_previous_kernel(make_config, learner):
    """``ntk.implementation=auto`` takes the structured kernel for the masked MLP (no Jacobian)
    and gives what Jacobian contraction (the only route before) gave, float64."""
    from typicality_ntk.ntk._structured import analyze

    net = MaskedMLP(8, **NET, sigma_w=1.4, sigma_b=0.1)
    theta0 = net.init(jax.random.key(0), 8, 5, jnp.float32)
    analyze(functools.partial(net.apply, width=5), theta0, jnp.zeros((3, 8)))  # no error
    over = ["model.widths=[2,5,8]", "samples=2", "data.n_train=10", "optim.steps=200",
            "optim.log_points=4"]  # fmt: skip
    tables = {
        impl: Runner(progress=False).run(
            load_experiment("experiments.double_descent"),
            _cfg(make_config, *over, f"ntk.implementation={impl}", learner=learner, mode="masked"),
        ).table
        for impl in ("auto", "jacobian_contraction")
    }
    a, b = tables["auto"], tables["jacobian_contraction"]
    # an exactly singular K (width 2: ReLU's scale symmetry) has lambda_min at rounding level,
    # ~ n eps lambda_max, in either route: sigma_min_j = sqrt of it agrees to sqrt(n eps lambda_max)
    # (lambda_max of these kernels is O(1-10): 1e-6 > sqrt(20 eps 100))
    atol = {"sigma_min_j": 1e-6}
    for col in ("train_loss", "test_loss", "lambda_min", "sigma_min_j", "condition_number"):
        np.testing.assert_allclose(a[col], b[col], rtol=1e-7, atol=atol.get(col, 1e-12))
