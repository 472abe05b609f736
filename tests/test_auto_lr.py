"""``optim.lr=auto``: one stable learning rate per width, shared by its samples (issue 14).

The bound (ntk.train.batch_lambda_bound) against brute force; the re-derived sample keys against
the runner's (the max over samples of ``lr * sharpness`` is exactly ``2 LR_SAFETY``); the ``lr``
and ``time`` columns; the config contract; and the paper study's divergent cases at lr = 1 that
``auto`` makes stable.
"""

from __future__ import annotations

import itertools

import jax
import numpy as np
import pytest

from experiments._study_jobs import JOBS
from typicality_ntk.errors import ConfigError
from typicality_ntk.ntk.train import LR_SAFETY, auto_learning_rate, batch_lambda_bound
from typicality_ntk.sweep import load_experiment, precision_scope

DD = load_experiment("experiments.double_descent")
LAZY = load_experiment("experiments.lazy_training")
TINY_DD = ("experiment=double_descent", "model.widths=[1,3,8]", "samples=3", "data.n_train=10",
           "data.n_test=16", "optim.steps=50", "optim.log_points=6")  # fmt: skip
#: The paper study's network double descent at scale=small, as the study runs it.
SMALL_NET = ("experiment=double_descent", *JOBS["small"]["double_descent_network"])


def _edge(table):
    """``lr * sharpness`` per row: GD on the row's linearised network is stable iff < 2."""
    return table["lr"].to_numpy(float) * table["sharpness"].to_numpy(float)


# -- the bound -------------------------------------------------------------------------------
@pytest.mark.parametrize(("n_out", "batch"), [(1, 3), (2, 3), (2, 1), (3, 6)])
def test_batch_lambda_bound_bounds_every_block(n_out, batch):
    """For B < N: at least lambda_max of every B-example principal block (all C(N, B) blocks),
    at most lambda_max(K); for B = N: lambda_max(K)."""
    n = 6
    with precision_scope("float64"):
        a = jax.random.normal(jax.random.key(n_out * 10 + batch), (n * n_out, 4), "float64")
        k = np.asarray(a @ a.T + 3.0)  # PSD with a dominant constant mode, like a ReLU NTK
        bound = float(batch_lambda_bound(k, n_out, batch))
        lam_max = np.linalg.eigvalsh(k)[-1]
        if batch >= n:
            np.testing.assert_allclose(bound, lam_max, rtol=1e-12)
            return
        blocks = [
            np.linalg.eigvalsh(k[np.ix_(idx, idx)])[-1]
            for rows in itertools.combinations(range(n), batch)
            for idx in [[i * n_out + o for i in rows for o in range(n_out)]]
        ]
        assert max(blocks) <= bound * (1 + 1e-12) and bound <= lam_max * (1 + 1e-12)
        if batch == 1:
            assert bound < 0.5 * lam_max  # a real gain over the full kernel's lambda_max


def test_auto_learning_rate_is_the_safety_fraction_of_the_edge():
    np.testing.assert_allclose(auto_learning_rate(np.array([10.0, 40.0]), 20), [2.0, 0.5])
    assert 0 < LR_SAFETY < 1


# -- the config ------------------------------------------------------------------------------
def test_auto_is_the_default_of_gd_and_sgd_only(make_config):
    assert make_config("experiment=double_descent").optim.lr == "auto"
    assert make_config("experiment=lazy_training", "optim=sgd").optim.lr == "auto"
    assert make_config("experiment=lazy_training", "optim=adam").optim.lr == 0.001
    assert make_config("experiment=lazy_training", "optim.lr=0.25").optim.lr == 0.25
    for optim in ("adam", "lbfgs"):
        with pytest.raises(ConfigError, match=f"optim.lr=auto: .* give {optim} a number"):
            make_config("experiment=double_descent", f"optim={optim}", "optim.lr=auto")
    with pytest.raises(ConfigError, match="optim.lr=fast: must be a number > 0 or auto"):
        make_config("experiment=lazy_training", "optim.lr=fast")


# -- the columns and the keys ----------------------------------------------------------------
@pytest.mark.parametrize("learner", ["network", "linearized", "ntk_regression", "random_features"])
def test_auto_lr_is_per_width_shared_and_exactly_at_the_stiffest_sample(
    make_config, runner, learner
):
    """Every row has lr and time = lr * step; lr is one value per width; the stiffest sample of
    each width sits exactly at LR_SAFETY x the edge (so the bound used the runner's own
    initialisations); nothing diverges."""
    cfg = make_config(*TINY_DD, f"learner={learner}")  # float64 (the experiment's default)
    t = runner.run(DD, cfg).table
    assert {"lr", "time", "sharpness"} <= set(t.columns)
    np.testing.assert_allclose(t["time"], t["lr"] * t["step"], rtol=1e-15)
    assert (t.groupby("width")["lr"].nunique() == 1).all()
    edge = t.assign(edge=_edge(t)).groupby("width")["edge"].max()
    if learner == "random_features":  # its kernel Phi Phi^T is a part of the NTK
        assert (edge <= 2 * LR_SAFETY * (1 + 1e-9)).all(), edge
    else:
        np.testing.assert_allclose(edge, 2 * LR_SAFETY, rtol=1e-9)
    assert t["diverged"].eq(0).all()


def test_explicit_lr_is_recorded_as_given(make_config, runner):
    t = runner.run(DD, make_config(*TINY_DD, "learner=network", "optim.lr=0.7")).table
    assert np.all(t["lr"].to_numpy() == 0.7)  # precision=float64: the number as given
    np.testing.assert_allclose(t["time"], 0.7 * t["step"], rtol=1e-15)


# -- the paper study's divergent cases -------------------------------------------------------
def _diverged(table) -> list[tuple[int, int]]:
    """(width, sample) of the diverged samples (one flag per sample, repeated on its rows)."""
    d = table[table["diverged"] > 0]
    return sorted(set(zip(d["width"], d["sample"], strict=True)))


def test_paper_small_network_widths_1_to_8_diverge_at_lr_1_not_at_auto(make_config, runner):
    """The small study's network job (same seed, samples and widths 1-8, hence the same
    initialisations) at 200 steps, in one program: lr = 1 diverges (width 1, sample 1: lr
    sharpness ~ 9.5, at step 2); auto does not, and keeps every sample below LR_SAFETY x the
    edge."""
    over = (*SMALL_NET, "model.widths=[1,2,3,4,5,6,7,8]", "optim.steps=200",
            "optim.log_points=8", "sweep.mode=masked")  # fmt: skip
    fixed = runner.run(DD, make_config(*over, "optim.lr=1.0")).table
    assert _diverged(fixed) == [(1, 1)]
    auto = runner.run(DD, make_config(*over)).table
    assert _diverged(auto) == [] and (_edge(auto) <= 2 * LR_SAFETY * (1 + 1e-9)).all()
    assert auto.groupby("width")["lr"].first().min() < 0.2  # width 1: a much smaller step


def test_paper_small_linearized_diverges_at_lr_1_not_at_auto(make_config, runner):
    """The small study's linearised job exactly as the study runs it (15 widths, 4 samples, 1e5
    steps; closed form): lr = 1 diverges on 5 of 60 samples (widths 1 and 3), auto on none."""
    over = ("experiment=double_descent", *JOBS["small"]["double_descent_linearized"])
    fixed = runner.run(DD, make_config(*over, "optim.lr=1.0")).table
    assert len(_diverged(fixed)) == 5 and {w for w, _ in _diverged(fixed)} == {1, 3}
    auto = runner.run(DD, make_config(*over)).table
    assert _diverged(auto) == [] and (_edge(auto) <= 2 * LR_SAFETY * (1 + 1e-9)).all()


@pytest.mark.slow
@pytest.mark.parametrize("label", ["double_descent_network", "double_descent", "lazy_training"])
def test_paper_small_ntk_jobs_do_not_diverge(make_config, label):
    """The paper study's NTK jobs at scale=small, as the study runs them (network: 1e5 GD steps,
    widths 1-100; the default double_descent and lazy_training runs): no sample diverges."""
    from experiments._study_jobs import EXPERIMENT_OF
    from typicality_ntk.sweep import Runner

    over = (f"experiment={EXPERIMENT_OF.get(label, label)}", *JOBS["small"][label])
    cfg = make_config(*over)
    assert cfg.optim.lr == "auto"
    table = Runner(progress=False).run(load_experiment(cfg.module), cfg).table
    assert table["diverged"].eq(0).all()
    assert (_edge(table) <= 2 * LR_SAFETY * (1 + 1e-9)).all()


def test_sgd_auto_lr_bounds_every_mini_batch(make_config, runner):
    """sgd: each width's rate is at least LR_SAFETY x 2B / max lambda_max(K_0) (the bound of the
    B-example blocks never exceeds lambda_max(K_0)), and no sample diverges."""
    over = (*TINY_DD, "learner=network", "optim=sgd", "optim.batch_size=4", "optim.steps=50")
    t = runner.run(DD, make_config(*over)).table
    n, b = 10, 4
    full_kernel = 2 * LR_SAFETY * b / (n * t["sharpness"].groupby(t["width"]).max())
    lr = t.groupby("width")["lr"].first()
    assert (lr >= full_kernel * (1 - 1e-9)).all(), (lr, full_kernel)
    assert t["diverged"].eq(0).all()
