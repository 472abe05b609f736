r"""Learners of a width sweep on the masked MLP: what is fitted from one initialisation theta_0.

Each learner maps (network, theta_0, data, width) to the fitted outputs on the training and test
sets, the parameter change and the kernel's spectral statistics; all four run on a
:class:`~typicality_ntk.ntk.masked.MaskedMLP` (the unpadded network at its active ``width``) and
make ONE LAPACK call per program (two independent ones in one CPU program intermittently
deadlock with jaxlib 0.10.2). The two time-resolved learners return their outputs at the
recorded steps ``log_spaced_steps(optim["steps"], optim["log_points"])`` (a leading axis T, the
steps in ``"step"``); the two closed-form ones return their t -> infinity limit.

* :func:`trained_network`: the full MLP trained from theta_0 by
  :func:`typicality_ntk.ntk.train.train_mse` (optax: gd, sgd, adam or lbfgs) on ``L = 1/2 mean_i
  sum_k (f_k(x_i) - y_ik)^2``; the outputs are recorded at the recorded steps inside the one
  training loop. P = all parameters.
* :func:`linearized`: the network's linearisation at theta_0 (paper Eq. 4), ``f_lin(x, theta) =
  f(x, theta_0) + J(x) (theta - theta_0)``, trained by the same full-batch gradient descent
  (``optim=gd``, step ``lr`` on ``L``), evaluated in closed form at every recorded step from the
  eigendecomposition of the empirical NTK ``K = J J^T``
  (:func:`~typicality_ntk.ntk.predict.gradient_descent_mse_discrete`, exact discrete GD):
  ``theta_t - theta_0 = J^T alpha_t`` with ``alpha_t = (I - (I - lr (K + ridge I) / N)^t) (K +
  ridge I)^{-1} (y - f_0)``, ``f_t(x) = f_0(x) + K(x, X) alpha_t``, eigenvalues below
  :func:`ntk_regression`'s cut-off treated as null directions. Stable iff ``lr lambda_max(K +
  ridge I) / N < 2`` (else flagged ``diverged``); as t -> infinity it is :func:`ntk_regression`.
  There is no closed form for sgd, adam or lbfgs: the experiment rejects them. P = all
  parameters.
* :func:`random_features`: only the readout is trained: ``f = f(., theta_0) + Phi(.) delta``
  with ``Phi`` the readout's features (last hidden layer with the readout's scaling, plus the bias
  feature) and ``delta`` the minimum-norm least-squares solution (``ridge = 0``) or ``Phi^T (Phi
  Phi^T + ridge I)^{-1} (y - f0)``: the limit of gradient descent on the readout from theta_0. One
  ``eigh`` of the smaller Gram matrix; eigenvalues below ``max(N, width + 1) eps lambda_max``
  dropped (a Gram matrix squares the condition number: in float64 the solution keeps ~ 16 - 2
  log10 cond(Phi) digits; JAX's CPU SVD with vectors is ~100x slower here). P = n_L (width + 1).
* :func:`ntk_regression`: kernel regression with the empirical NTK at theta_0, ``f(x) = f(x,
  theta_0) + K(x, X) (K(X, X) + ridge I)^{-1} (y - f(X, theta_0))``: the infinite-time limit of
  gradient descent on the linearised network (paper Eq. 4). P = all parameters.

``ridge`` is in kernel units: adding ``ridge/(2N) |theta - theta_0|^2`` to ``L`` gives ``K + ridge
I`` (the trained network ignores it).

``optim["lr"]`` may be a traced scalar (a per-width ``lr = auto`` travels in the runner's
context). :func:`init_kernel_bound` is what ``lr = auto`` bounds: ``lambda_max`` of the B-example
blocks of ``K`` at theta_0; every learner reports ``sharpness = lambda_max(K) / N`` of its kernel
(``Phi Phi^T`` for random features, whose ``lambda_max`` is at most the NTK's).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from typicality_ntk import _lapack as lapack
from typicality_ntk.ntk import empirical_ntk
from typicality_ntk.ntk.masked import MaskedMLP, masked_optimizer, n_params_mlp
from typicality_ntk.ntk.predict import gradient_descent_mse_discrete
from typicality_ntk.ntk.train import (
    batch_lambda_bound,
    log_spaced_steps,
    make_optimizer,
    train_mse,
)

__all__ = [
    "LEARNERS",
    "LEARNER_COMPILE_SECONDS",
    "TIME_RESOLVED",
    "init_kernel_bound",
    "kernel_stats",
    "linearized",
    "ntk_regression",
    "random_features",
    "sample_flops",
    "prediction_error",
    "trained_network",
    "tree_norm",
]

LEARNERS = ("network", "random_features", "ntk_regression", "linearized")
#: The learners recorded at every recorded step (the others are t -> infinity limits).
TIME_RESOLVED = ("network", "linearized")
#: Compile seconds of one program per learner on a CPU, measured on 2 cores (bench/sweep.py:
#: 3.2 s per network program; closed-form learners compile in 1.5-2 s; linearized 2.5 s).
LEARNER_COMPILE_SECONDS = {
    "network": 3.0,
    "random_features": 1.5,
    "ntk_regression": 2.0,
    "linearized": 2.5,
}

_HIGHEST = jax.lax.Precision.HIGHEST


def _mm(a: jax.Array, b: jax.Array) -> jax.Array:
    """Full-precision matmul (no TF32 / bf16 passes on accelerators)."""
    return jnp.matmul(a, b, precision=_HIGHEST)


def sample_flops(
    learner: str, width: int, *, n_in, depth, n_out, n_train, n_test, steps, log_points=64
) -> float:
    """Rough FLOPs of one sample of ``learner`` at ``width`` (what ``auto`` compares)."""
    p = n_params_mlp(int(width), n_in=n_in, depth=depth, n_out=n_out)
    n = n_train * n_out
    if learner == "network":  # steps x (forward + backward) on N, K0 = J J^T, recorded outputs
        return steps * 6.0 * n_train * p + 2.0 * n * n * p + 2.0 * log_points * n_test * p
    if learner == "ntk_regression":  # J on the training set, K0, a JVP/VJP on the test set
        return 2.0 * n * n * p + 6.0 * (n_train + n_test) * p * n_out
    if learner == "linearized":  # K0 and K(x_test, X) (structured), outputs at each step
        return 2.0 * n * (n + n_test * n_out) * p + 2.0 * log_points * n * (n + n_test * n_out)
    return 2.0 * (n_train + n_test) * p + 2.0 * n_train * n_train * (width + 1)


def tree_norm(tree) -> jax.Array:
    """Euclidean norm of all leaves of a pytree, as one vector."""
    return jnp.sqrt(sum(jnp.sum(leaf * leaf) for leaf in jax.tree.leaves(tree)))


def prediction_error(f: jax.Array, y: jax.Array, kind: str) -> jax.Array:
    """``relative_mse``: sum (f - y)^2 / sum y^2; ``multiclass``: argmax error rate; ``binary``:
    sign error rate of the one output."""
    if kind == "multiclass":
        return jnp.mean(jnp.argmax(f, axis=1) != jnp.argmax(y, axis=1)).astype(f.dtype)
    if kind == "binary":
        return jnp.mean(jnp.sign(f[:, 0]) != jnp.sign(y[:, 0])).astype(f.dtype)
    return jnp.sum((f - y) ** 2) / jnp.sum(y * y)


def kernel_stats(lam, keep, s2_min, trace, n, p, n_train) -> dict:
    """Kernel metrics from its eigenvalues ``lam`` (ascending; ``keep``: above the cut-off) and
    ``s2_min``, the smallest of J's min(n, P) squared singular values; ``sharpness`` is
    ``lambda_max / n_train`` (N examples)."""
    s2_min = jnp.maximum(s2_min, 0)
    p_f = jnp.asarray(p, lam.dtype)
    kept_min = jnp.min(jnp.where(keep, lam, lam[-1]))
    return {
        "lambda_min": jnp.where(p >= n, s2_min, 0),
        "sigma_min_j": jnp.sqrt(s2_min),
        "sigma_min_j_normalized": jnp.sqrt(s2_min * n * p_f / trace),
        "condition_number": lam[-1] / kept_min,
        "sharpness": lam[-1] / n_train,
    }


def random_features(net: MaskedMLP, theta0, data, width, ridge) -> dict:
    x, y, x_test = data["x_train"], data["y_train"], data["x_test"]
    n_train, n_out = y.shape
    phi = net.readout_features(theta0, x, width)  # (N, width_pad + 1), masked columns 0
    f0_train = net.apply(theta0, x, width)
    resid = y - f0_train
    dual = n_train <= phi.shape[1]  # static: eigh of the smaller Gram matrix
    gram = _mm(phi, phi.T) if dual else _mm(phi.T, phi)
    lam, vec = lapack.eigh(gram)  # the program's one LAPACK call; ascending
    size = jnp.maximum(n_train, width + 1).astype(lam.dtype)
    keep = lam > size * jnp.finfo(lam.dtype).eps * lam[-1]
    inv = jnp.where(keep, 1 / jnp.where(keep, lam + ridge, 1), 0)
    if dual:  # delta = Phi^T (G + ridge)^+ r
        proj = _mm(vec.T, resid)
        delta = _mm(phi.T, _mm(vec, inv[:, None] * proj))
        f_train = f0_train + _mm(vec, (lam * inv)[:, None] * proj)
    else:  # delta = (H + ridge)^+ Phi^T r
        delta = _mm(vec, inv[:, None] * _mm(vec.T, _mm(phi.T, resid)))
        f_train = f0_train + _mm(phi, delta)
    phi_test = net.readout_features(theta0, x_test, width)
    f_test = net.apply(theta0, x_test, width) + _mm(phi_test, delta)
    rank = jnp.minimum(n_train, width + 1)  # min(N, P / n_L): J = I_{n_L} (x) Phi
    s2_min = lam[lam.shape[0] - rank]
    p = n_out * (width + 1)
    stats = kernel_stats(lam, keep, s2_min, n_out * jnp.sum(lam), n_out * n_train, p, n_train)
    return {"f_train": f_train, "f_test": f_test, "change": tree_norm(delta), **stats}


def ntk_regression(
    net: MaskedMLP, theta0, data, width, ridge, implementation: str = "auto"
) -> dict:
    """Kernel regression with the empirical NTK at ``theta0`` (module docstring);
    ``implementation``: how K is computed (:func:`~typicality_ntk.ntk.empirical_ntk`)."""
    x, y, x_test = data["x_train"], data["y_train"], data["x_test"]
    n = y.size
    f = functools.partial(net.apply, width=width)  # a partial: auto finds the dense structure
    k0 = empirical_ntk(f, theta0, x, implementation=implementation)  # (n_L N, n_L N)
    lam, vec = lapack.eigh(k0)  # the program's one LAPACK call
    keep = lam > n * jnp.finfo(lam.dtype).eps * lam[-1]
    inv = jnp.where(keep, 1 / jnp.where(keep, lam + ridge, 1), 0)
    f0_train, vjp = jax.vjp(lambda p: f(p, x), theta0)
    proj = _mm(vec.T, (y - f0_train).reshape(-1))
    alpha = _mm(vec, inv * proj)
    f_train = f0_train + _mm(vec, lam * inv * proj).reshape(y.shape)
    (jt_alpha,) = vjp(alpha.reshape(y.shape))  # theta - theta_0 = J^T alpha
    f0_test, df_test = jax.jvp(lambda p: f(p, x_test), (theta0,), (jt_alpha,))
    p = net.n_params(width, x.shape[1])
    rank = jnp.minimum(n, p)
    stats = kernel_stats(lam, keep, lam[n - rank], jnp.sum(lam), n, p, x.shape[0])
    f_test = f0_test + df_test
    return {"f_train": f_train, "f_test": f_test, "change": tree_norm(jt_alpha), **stats}


def init_kernel_bound(
    net: MaskedMLP, theta0, x, width, batch_size: int, implementation: str = "auto"
) -> jax.Array:
    """``lambda_max`` of the empirical NTK ``K_0`` (n_L N x n_L N) at ``theta0`` on ``x``, or for
    ``batch_size < N`` a bound of it over every ``batch_size``-example block
    (:func:`~typicality_ntk.ntk.train.batch_lambda_bound`); one LAPACK call."""
    f = functools.partial(net.apply, width=width)
    k0 = empirical_ntk(f, theta0, x, implementation=implementation)
    return batch_lambda_bound(k0, net.n_out, batch_size)


def _recorded_steps(optim: dict):
    return log_spaced_steps(optim["steps"], optim["log_points"])


def _step_array(steps) -> jax.Array:
    """The recorded steps as JAX's default integer (int64 with x64: steps beyond 2^31)."""
    return jnp.asarray(steps, jnp.int64 if jax.config.jax_enable_x64 else jnp.int32)


def trained_network(
    net: MaskedMLP, theta0, data, width, key, optim: dict, implementation: str = "auto"
) -> dict:
    """The MLP trained by ``optim`` from ``theta0``; outputs (T, N or N_test, n_L) and the
    parameter change (T,) at the recorded steps ``"step"`` (T,); the NTK at ``theta0`` (its
    spectrum) by ``implementation``."""
    x, y, x_test = data["x_train"], data["y_train"], data["x_test"]
    n = y.size
    f = functools.partial(net.apply, width=width)  # a partial: auto finds the dense structure

    def record(p):  # evaluated at the recorded steps only, inside the training loop
        change = tree_norm(jax.tree.map(jnp.subtract, p, theta0))
        return {"f_train": f(p, x), "f_test": f(p, x_test), "change": change}

    steps = _recorded_steps(optim)
    res = train_mse(
        f,
        theta0,
        x,
        y,
        optimizer=masked_optimizer(
            make_optimizer(optim["optimizer"], optim["lr"]), net.mask(width, x.shape[1], x.dtype)
        ),
        steps=optim["steps"],
        log_steps=steps,
        batch_size=optim["batch_size"],
        loss_tol=optim["loss_tol"],
        key=key,
        record=record,
    )
    k0 = empirical_ntk(f, theta0, x, implementation=implementation)
    lam = lapack.eigvalsh(k0)  # the program's one LAPACK call
    keep = lam > n * jnp.finfo(lam.dtype).eps * lam[-1]
    p = net.n_params(width, x.shape[1])
    stats = kernel_stats(lam, keep, lam[n - jnp.minimum(n, p)], jnp.sum(lam), n, p, x.shape[0])
    return {
        **res.records,
        "step": _step_array(steps),
        "steps_taken": res.steps_taken,
        "diverged": res.diverged.astype(jnp.int32),
        **stats,
    }


def linearized(
    net: MaskedMLP, theta0, data, width, ridge, optim: dict, implementation: str = "auto"
) -> dict:
    """The linearised network trained by full-batch GD (``optim["lr"]``), in closed form at the
    recorded steps (module docstring); outputs (T, N or N_test, n_L), change (T,), ``"step"``."""
    x, y, x_test = data["x_train"], data["y_train"], data["x_test"]
    n_train, n_out = y.shape
    n = y.size
    f = functools.partial(net.apply, width=width)  # the structured NTK: no Jacobian
    k0 = empirical_ntk(f, theta0, x, implementation=implementation)  # (n_L N, n_L N)
    k_test = empirical_ntk(f, theta0, x_test, x, implementation=implementation)
    eye = jnp.eye(n, dtype=k0.dtype)
    lam_reg, vec = lapack.eigh(k0 + ridge * eye)  # the program's one LAPACK call
    lam = lam_reg - ridge
    # as ntk_regression: directions below the cut-off are null directions of J^T (K's rounding
    # noise there, ~ eps lambda_max, would otherwise be fitted at t ~ N / (lr eps lambda_max))
    keep = lam > n * jnp.finfo(lam.dtype).eps * lam[-1]
    f0_train, f0_test = f(theta0, x), f(theta0, x_test)
    steps = _recorded_steps(optim)
    # the loss 1/(2N) |f - y|^2 is predict's 1/(2 n) |f - y|^2 with n = n_L N: lr -> lr n_L;
    # an eigenvalue 0 is a direction GD never moves along
    predict = gradient_descent_mse_discrete(
        k0, y.reshape(-1), learning_rate=optim["lr"] * n_out, diag_reg=ridge,
        diag_reg_absolute_scale=True, trace_axes=(), eigh=(jnp.where(keep, lam_reg, 0), vec),
    )  # fmt: skip
    # "test" outputs with K(x, X) = I are the dual coefficients: theta_t - theta_0 = J^T alpha_t
    _, alpha = predict(steps, f0_train.reshape(-1), jnp.zeros((n,), k0.dtype), eye)  # (T, n)
    t = len(steps)
    f_train = f0_train + _mm(alpha, k0).reshape(t, n_train, n_out)
    f_test = f0_test + _mm(alpha, k_test.T).reshape(t, x_test.shape[0], n_out)
    change = jnp.sqrt(jnp.maximum(jnp.sum(alpha * _mm(alpha, k0), axis=1), 0))
    p = net.n_params(width, x.shape[1])
    stats = kernel_stats(lam, keep, lam[n - jnp.minimum(n, p)], jnp.sum(lam), n, p, x.shape[0])
    unstable = optim["lr"] * lam_reg[-1] / n_train >= 2  # |1 - lr lambda / N| > 1: GD diverges
    return {
        "f_train": f_train,
        "f_test": f_test,
        "change": change,
        "step": _step_array(steps),
        "diverged": unstable.astype(jnp.int32),
        **stats,
    }
