r"""Lazy training: wide networks train to zero loss near their initialisation (paper Eq. 4).

Per width, each sample is one random initialisation theta_0 of the MLP, trained on the run's
dataset (shared by all samples) with :func:`typicality_ntk.ntk.train.train_mse` (full-batch GD by
default; loss ``L = 1/2 * mean_i sum_k (f_k(x_i) - y_ik)^2``). The linearised network is
``f_lin(x, theta) = f(x, theta_0) + J(x, theta_0) (theta - theta_0)`` (computed with ``jax.jvp``);
its infinite-time GD limit is kernel regression with the empirical NTK at initialisation,
``f_kr(x) = f(x, theta_0) + K_0(x, X) K_0(X, X)^+ (y - f(X, theta_0))`` (``K_0(X, X)^+`` from one
eigendecomposition, eigenvalues below ``n eps lambda_max`` dropped; ``K_0(x, X) v`` as a JVP of a
VJP, never forming ``K_0(x, X)``). In the lazy regime (Jacot et al. 2018; Lee et al. 2019) the
train loss goes to 0 (a global minimum near theta_0), ``|theta_T - theta_0| / |theta_0|`` shrinks
like ``width^(-1/2)``, and the relative NTK change and the gap to the linearised network shrink at
least as fast (O(width^(-1/2)) bounds; the default run measures slopes ~ -0.5 for the parameter
change and ~ -0.8 for the NTK change of this one-hidden-layer ReLU net).

Columns (see ``COLUMNS``):

* ``width, n_params, n_outputs, n_train``: the point; ``sample``: the initialisation.
* ``initial_train_loss``, ``final_train_loss``: L(theta_0), L(theta_T) on the training set.
* ``relative_train_loss``: L(theta_T) / L(theta_0).
* ``param_change``: |theta_T - theta_0| / |theta_0| (Euclidean norms over all parameters).
* ``ntk_change``: |K_T - K_0|_F / |K_0|_F, the full (n_L N x n_L N, not output-traced) empirical
  NTK on the training inputs at theta_0 and theta_T.
* ``test_loss``: L of f(., theta_T) on the test set; ``test_loss_linearized``: of f_lin(., theta_T);
  ``test_loss_kernel``: of f_kr.
* ``linearization_gap``: RMS_test[f(x, theta_T) - f_lin(x, theta_T)] / RMS_test[f(x, theta_T) -
  f(x, theta_0)] (RMS over test points and outputs; 0 when training did not move theta).
* ``kernel_regression_gap``: RMS_test[f(x, theta_T) - f_kr(x)] / RMS_test[f_kr(x) - f(x, theta_0)].
* ``sharpness``: lambda_max(K_0) / N, the top eigenvalue of the Gauss-Newton Hessian J^T J / N at
  initialisation; full-batch GD on the linearised model is stable iff ``lr * sharpness < 2``.
* ``lr``: the learning rate of the row (the loss curve's step t is the time ``lr * t``).
* ``steps_taken``: updates applied (fewer than ``optim.steps`` after an early stop or divergence).
* ``diverged``: 1 when training diverged (non-finite loss or gradient, or the loss grew above
  1e8 L(theta_0)); the parameters are frozen at the last good step, all metrics stay finite.

Named array ``loss_curve`` (samples, min(log_points, steps + 1)): L(theta_t) at the steps
``log_spaced_steps(optim.steps, optim.log_points)`` (0 and ``optim.steps`` included).

``optim.lr`` and ``optim.loss_tol`` are traced (they travel in the point's context), so a sweep
over them compiles once per width; ``optim.name``, ``steps``, ``batch_size`` and ``log_points``
are static. ``optim.lr=auto`` (gd/sgd, the default) gives each width the rate ``LR_SAFETY * 2 B /
max_i Lambda_B(theta_0^(i))`` shared by its samples, with ``Lambda_B`` the bound of
:func:`~typicality_ntk.ntk.train.batch_lambda_bound` (``lambda_max(K_0)`` for gd, ``B = N``) at
the initialisation of each sample the runner will draw
(:func:`~typicality_ntk.sweep.sample_keys`): one small program per width before
the sweep.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from typicality_ntk import _lapack as lapack
from typicality_ntk.config import Config
from typicality_ntk.ntk import empirical_ntk
from typicality_ntk.ntk.from_config import (
    NETWORK_COORDS,
    check_full_batch,
    count_params,
    dataset,
    lr_batch_size,
    network,
    network_static,
)
from typicality_ntk.ntk.train import (
    auto_learning_rate,
    batch_lambda_bound,
    log_spaced_steps,
    make_optimizer,
    mse_loss,
    train_mse,
)
from typicality_ntk.plot.training import plot_lazy_training
from typicality_ntk.sweep import Experiment, Point, real_dtype, sample_keys

__all__ = ["COLUMNS", "EXPERIMENT", "auto_lr", "check", "points", "sample"]

COLUMNS = (
    *NETWORK_COORDS,
    "initial_train_loss",
    "final_train_loss",
    "relative_train_loss",
    "param_change",
    "ntk_change",
    "test_loss",
    "test_loss_linearized",
    "test_loss_kernel",
    "linearization_gap",
    "kernel_regression_gap",
    "sharpness",
    "lr",
    "steps_taken",
    "diverged",
)


def check(cfg) -> None:
    """Reject settings this experiment cannot run (before any compute)."""
    check_full_batch(cfg)


def _optim_static(cfg) -> dict:
    o = cfg.optim
    return {
        "optimizer": o.name,
        "steps": int(o.steps),
        "batch_size": None if o.batch_size is None else int(o.batch_size),
        "log_points": int(o.log_points),
    }


def _init(init, key, x):
    """theta_0 of the sample with key ``key``, and the key left for its training."""
    k_init, k_train = jax.random.split(key)
    return init(k_init, x[:1]), k_train


def auto_lr(cfg, data, index: int, static: dict) -> float:
    """``optim.lr=auto`` for the point number ``index`` (network ``static``): see the module
    docstring; one jitted program vmapped over the samples."""
    init, apply = network(**static)
    x, batch = data["x_train"], lr_batch_size(cfg)
    keys = sample_keys(cfg.seed, index, int(cfg.samples))

    def one(key, x):
        theta0, _ = _init(init, key, x)
        k0 = empirical_ntk(apply, theta0, x, implementation=cfg.ntk.implementation)
        return batch_lambda_bound(k0, static["n_out"], batch)

    lam = np.asarray(jax.jit(jax.vmap(one, in_axes=(0, None)))(keys, x), np.float64)
    return float(auto_learning_rate(lam.max(), batch))


def points(cfg, key):
    data = dataset(cfg, key)
    dtype = real_dtype(cfg.precision)
    # lr and loss_tol are traced (in the context), so sweeping them never recompiles
    context = {**data, "loss_tol": jnp.asarray(cfg.optim.loss_tol, dtype)}
    out = []
    for index, w in enumerate(cfg.model.widths):
        static = network_static(cfg, w)
        lr = auto_lr(cfg, data, index, static) if cfg.optim.lr == "auto" else cfg.optim.lr
        coords = {
            "width": w,
            "n_params": count_params(static, data["x_train"].shape[1]),
            "n_outputs": cfg.data.outputs,
            "n_train": cfg.data.n_train,
        }
        kernel = {"implementation": cfg.ntk.implementation}
        lr = jnp.asarray(lr, dtype)
        out.append(Point(coords, {**static, **_optim_static(cfg), **kernel}, {**context, "lr": lr}))
    return out


def _norm(tree) -> jax.Array:
    return jnp.sqrt(sum(jnp.sum(leaf * leaf) for leaf in jax.tree.leaves(tree)))


def _rms(a: jax.Array) -> jax.Array:
    return jnp.sqrt(jnp.mean(a * a))


def _ratio(num: jax.Array, den: jax.Array) -> jax.Array:
    """num / den, and 0 where den == 0 (then num == 0 too: nothing moved)."""
    return jnp.where(den > 0, num / jnp.where(den > 0, den, 1), 0)


def sample(key, context, *, optimizer, steps, batch_size, log_points, implementation, **net):
    """One initialisation: train it, then measure how far it moved (see the module docstring).

    ``context`` holds the dataset (x_train, y_train, x_test, y_test) and the traced scalars
    ``lr`` and ``loss_tol``; the other keyword arguments are static.
    """
    init, apply = network(**net)
    c = context
    x, y, x_test, y_test = c["x_train"], c["y_train"], c["x_test"], c["y_test"]
    theta0, k_train = _init(init, key, x)

    res = train_mse(
        apply,
        theta0,
        x,
        y,
        optimizer=make_optimizer(optimizer, c["lr"]),
        steps=steps,
        log_steps=log_spaced_steps(steps, log_points),
        batch_size=batch_size,
        loss_tol=c["loss_tol"],
        key=k_train,
    )
    theta = res.params
    delta = jax.tree.map(jnp.subtract, theta, theta0)
    # K_0 and K_T on the training inputs (N n_L x N n_L, sample-major), one vmapped computation
    both = jax.tree.map(lambda a, b: jnp.stack([a, b]), theta0, theta)
    k0, k_t = jax.vmap(lambda p: empirical_ntk(apply, p, x, implementation=implementation))(both)

    # the linearised network at theta_T on the test points: f0 + J(x_test, theta0) delta
    f0_test, df_test = jax.jvp(lambda p: apply(p, x_test), (theta0,), (delta,))
    f_test = apply(theta, x_test)
    f_lin = f0_test + df_test

    # kernel regression: alpha = K0^+ (y - f(X, theta0)) from the ONE LAPACK call of this program
    # (two independent decompositions in one CPU program can deadlock with jaxlib 0.10.2)
    evals, evecs = lapack.eigh(k0)
    keep = evals > evals[-1] * evals.shape[0] * jnp.finfo(evals.dtype).eps
    inv = jnp.where(keep, 1 / jnp.where(keep, evals, 1), 0)
    f0_train, vjp = jax.vjp(lambda p: apply(p, x), theta0)
    alpha = evecs @ (inv * (evecs.T @ (y - f0_train).reshape(-1)))
    (jt_alpha,) = vjp(alpha.reshape(y.shape))  # J(X, theta0)^T alpha
    _, kr_delta = jax.jvp(lambda p: apply(p, x_test), (theta0,), (jt_alpha,))
    f_kr = f0_test + kr_delta  # f0 + J(x_test) J(X)^T alpha = f0 + K0(x_test, X) alpha

    loss0 = mse_loss(f0_train, y)
    return {
        "initial_train_loss": loss0,
        "final_train_loss": res.final_loss,
        "relative_train_loss": res.final_loss / loss0,
        "param_change": _norm(delta) / _norm(theta0),
        "ntk_change": _ratio(_norm(k_t - k0), _norm(k0)),
        "test_loss": mse_loss(f_test, y_test),
        "test_loss_linearized": mse_loss(f_lin, y_test),
        "test_loss_kernel": mse_loss(f_kr, y_test),
        "linearization_gap": _ratio(_rms(f_test - f_lin), _rms(f_test - f0_test)),
        "kernel_regression_gap": _ratio(_rms(f_test - f_kr), _rms(f_kr - f0_test)),
        "sharpness": evals[-1] / x.shape[0],
        "lr": c["lr"],
        "steps_taken": res.steps_taken,
        "diverged": res.diverged.astype(jnp.int32),
        "loss_curve": res.losses,
    }


EXPERIMENT = Experiment(
    "lazy_training",
    points,
    sample,
    plot_lazy_training,
    COLUMNS,
    check=check,
    uses=("model", "data", "optim", "ntk"),
    schema=Config,
)
