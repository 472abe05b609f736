r"""Training a network on the MSE loss with optax, as one jitted ``lax.scan`` (vmap-friendly).

Loss convention (used everywhere in this module)::

    L(theta) = 1/2 * 1/N * sum_{i<N} sum_{k<n_L} (f_k(x_i, theta) - y_{ik})^2,

half the mean over examples of the squared error summed over outputs. With it, full-batch gradient
descent ``theta <- theta - eta grad L`` moves the outputs on the training set, to first order, by
``-(eta / N) K (f - y)`` with ``K = J J^T`` the empirical NTK (paper Eq. 3): the Gauss-Newton part
of the Hessian is ``J^T J / N``, whose largest eigenvalue is ``lambda_max(K) / N``, and GD on the
linearised model (paper Eq. 4) is stable iff ``eta * lambda_max(K) / N < 2``.

``lr = auto`` (:func:`auto_learning_rate`): the step ``LR_SAFETY * 2 B / Lambda_B`` with ``B``
the batch size (``N`` for gd) and ``Lambda_B`` an upper bound, over a set of initialisations, of
``lambda_max`` of the B-example principal blocks of ``K_0`` (:func:`batch_lambda_bound`): GD on the
linearised network, ``theta <- theta - (lr / B) J_B^T (f_B - y_B)``, contracts every direction
iff ``lr lambda_max(K_B) / B < 2`` (neural-tangents' ``max_learning_rate`` with ``n = B``).

Optimisers (:func:`make_optimizer`): ``gd`` = ``optax.sgd(lr)`` on the full batch, ``sgd`` =
``optax.sgd(lr)`` on mini-batches of ``batch_size`` examples drawn (without replacement within a
step, independently across steps) from ``fold_in(key, step)``, ``adam`` = ``optax.adam(lr)``,
``lbfgs`` = ``optax.lbfgs`` (full batch, a zoom line search per step: the second-order route to a
converged network where gradient descent needs ~ N / (lr lambda_min(K)) steps).

:func:`train_mse` is pure: a static number of steps runs in one jitted loop whatever happens,
so it can be jitted and vmapped over initialisations. Early stopping and divergence freeze the
parameters (the remaining steps compute but do not update) instead of changing shapes or raising.
Anything else about ``theta_t`` (test outputs, ...) is recorded at the logged steps only, inside
the same loop (``record``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array

from typicality_ntk import _lapack as lapack

__all__ = [
    "LR_SAFETY",
    "OPTIMIZERS",
    "TrainResult",
    "auto_learning_rate",
    "batch_lambda_bound",
    "log_spaced_steps",
    "make_optimizer",
    "mse_loss",
    "train_mse",
    "uses_line_search",
]

#: Names accepted by :func:`make_optimizer`.
OPTIMIZERS = ("gd", "sgd", "adam", "lbfgs")
#: ``lr = auto`` takes this fraction of the largest stable step ``2 B / Lambda_B``. The step
#: ``B / Lambda_B`` is within a factor ``(1 + lambda_min / lambda_max) / 2`` (>= 1/2) of the one
#: minimising the linearised model's worst contraction factor ``max_i |1 - lr lambda_i / B|``, and
#: removes the stiffest mode of the stiffest sample in one step: little speed is lost. The margin
#: of 2 is for the nonlinear network, whose sharpness moves during training (progressive
#: sharpening, Cohen et al. 2021), most at widths of a few units (the double descent's small
#: widths). Measured on the paper's small network job (widths 1-100, 4 samples, 1e5 GD steps): no
#: sample diverges with it; lr = 1 (lr sharpness up to 9.5 at width 1) diverged.
LR_SAFETY = 0.5

Params = Any
ApplyFn = Callable[[Params, Array], Array]


class TrainResult(NamedTuple):
    """What :func:`train_mse` returns (a tuple: unpack it, or read the fields).

    Attributes:
        params: the parameters theta_T after training (frozen at the last accepted step when
            training stopped early or diverged).
        losses: full-batch training loss L(theta_t) at each requested ``log_steps`` t, shape
            ``(len(log_steps),)``; after an early stop or divergence the frozen value repeats.
        final_loss: L(theta_T), the loss of ``params``.
        steps_taken: updates actually applied (int32; < ``steps`` after an early stop/divergence).
        diverged: True when a step produced a non-finite loss or gradient, or a loss above
            ``max_loss_ratio * L(theta_0)``; the parameters are those before that step.
        records: ``record(theta_t)`` at each of ``log_steps``, stacked on a leading axis (``None``
            without ``record``).
    """

    params: Params
    losses: Array
    final_loss: Array
    steps_taken: Array
    diverged: Array
    records: Any = None


def make_optimizer(name: str, lr: float) -> optax.GradientTransformation:
    """The optax transformation for ``name``: ``gd`` and ``sgd`` -> ``optax.sgd(lr)``, ``adam``
    -> ``optax.adam(lr)``, ``lbfgs`` -> ``optax.lbfgs(lr)``.

    ``gd`` and ``sgd`` are the same update rule ``theta <- theta - lr * g``; they differ in the
    batch the gradient ``g`` is taken on, which is :func:`train_mse`'s ``batch_size``. ``lbfgs``
    is L-BFGS (memory 10) with optax's zoom line search (strong Wolfe conditions, at most 20
    evaluations per step); ``lr`` scales its direction before the line search, so ``lr = 1``
    leaves the step to the line search. One "step" of it is one L-BFGS iteration.

    Raises:
        ValueError: for an unknown ``name`` or ``lr <= 0``.
    """
    if isinstance(lr, (int, float)) and lr <= 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if name in ("gd", "sgd"):
        return optax.sgd(lr)
    if name == "adam":
        return optax.adam(lr)
    if name == "lbfgs":
        return optax.lbfgs(lr)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")


def batch_lambda_bound(k: Array, n_out: int, batch_size: int | None = None) -> Array:
    r"""An upper bound of ``lambda_max(K_B)`` over every principal block ``K_B`` of ``k`` that
    holds ``batch_size`` examples (all their ``n_out`` outputs).

    ``batch_size`` None or ``>= N``: ``lambda_max(k)`` itself (``eigvalsh``: one LAPACK call).
    Smaller batches: ``min(lambda_max(k), G_B)`` with ``G_B = max_{(i,a)} [sum_b |k_{(i,a),(i,b)}|
    + (sum of the B - 1 largest over j != i of sum_b |k_{(i,a),(j,b)}|)]``, Gershgorin's bound of
    every such block (a block's largest absolute row sum is at most ``G_B``; Cauchy interlacing
    gives ``lambda_max(K_B) <= lambda_max(k)``). The mini-batch loss ``1/(2B) |f_B - y_B|^2`` makes
    SGD on the linearised network stable at every step iff ``lr lambda_max(K_B) / B < 2``.

    Args:
        k (array of shape (N n_out, N n_out)): a PSD kernel, example-major (``(i, a) -> i n_out +
            a``), e.g. the empirical NTK of :func:`~typicality_ntk.ntk.empirical_ntk`.
        n_out: outputs per example.
        batch_size: examples per block.

    Returns:
        The bound (scalar).
    """
    lam_max = lapack.eigvalsh(k)[-1]
    n = k.shape[0] // n_out
    if batch_size is None or int(batch_size) >= n:
        return lam_max
    a = jnp.abs(k).reshape(n, n_out, n, n_out).sum(axis=3)  # (i, a, j): sum_b |k_(i,a),(j,b)|
    own = jnp.einsum("iai->ia", a)
    others = jnp.where(jnp.eye(n, dtype=bool)[:, None, :], 0, a)
    top = jax.lax.top_k(others, int(batch_size) - 1)[0].sum(axis=-1) if batch_size > 1 else 0
    return jnp.minimum(lam_max, jnp.max(own + top))


def auto_learning_rate(lambda_bound, batch_size: int) -> np.ndarray:
    """``lr = auto``: ``LR_SAFETY * 2 B / lambda_bound`` (see :data:`LR_SAFETY`).

    Args:
        lambda_bound (array of shape (...)): an upper bound of ``lambda_max`` of the kernel's
            B-example blocks over every initialisation that will use the rate (e.g. the max over
            samples of :func:`batch_lambda_bound`), in the units of the loss
            ``1/2 mean_i |f(x_i) - y_i|^2``.
        batch_size: ``B`` (``N`` for full-batch gradient descent).

    Returns:
        The learning rates (float64 NumPy, shape (...)).
    """
    return LR_SAFETY * 2.0 * int(batch_size) / np.asarray(lambda_bound, np.float64)


def mse_loss(pred: Array, y: Array) -> Array:
    """``1/2 * mean over examples (axis 0) of the squared error summed over the other axes``."""
    err = (pred - y).reshape(pred.shape[0], -1)
    return 0.5 * jnp.mean(jnp.sum(err * err, axis=1))


def log_spaced_steps(steps: int, points: int) -> np.ndarray:
    """``min(points, steps + 1)`` distinct, increasing steps from 0 to ``steps``, log-spaced.

    Step 0 (the initial loss) and ``steps`` (the final loss) are always included; in between the
    steps follow ``geomspace(1, steps)`` rounded, bumped up where rounding would repeat a step.
    """
    steps, points = int(steps), int(points)
    if steps < 0 or points < 2:
        raise ValueError(f"need steps >= 0 and points >= 2, got {steps}, {points}")
    n = min(points, steps + 1)
    if n == steps + 1:
        return np.arange(steps + 1)
    grid = np.rint(np.geomspace(1, steps, n - 1)).astype(np.int64)
    out = np.empty(n, np.int64)
    out[0] = 0
    for i, g in enumerate(grid, start=1):
        out[i] = max(int(g), out[i - 1] + 1)
    # bumping may have pushed the tail past `steps`: pull it back down, keeping it increasing
    out[-1] = steps
    for i in range(n - 2, 0, -1):
        out[i] = min(out[i], out[i + 1] - 1)
    return out


def _where(cond: Array, new: Any, old: Any) -> Any:
    return jax.tree.map(lambda a, b: jnp.where(cond, a, b), new, old)


def _all_finite(tree: Any) -> Array:
    leaves = jax.tree.leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in leaves]))


def uses_line_search(optimizer: optax.GradientTransformation, params: Params) -> bool:
    """Whether ``optimizer`` stores the objective's value in its state (``optax.lbfgs``'s
    line search does): its updates then need ``value``, ``grad`` and ``value_fn``."""
    state = jax.eval_shape(optimizer.init, params)
    return optax.tree.get(state, "value", None) is not None


class _Carry(NamedTuple):
    params: Params
    state: Any
    prev: Params  # theta_{t-1}: where a bad step is undone to
    prev_state: Any
    loss0: Array
    good_loss: Array  # L of the current (accepted) parameters
    stopped: Array
    diverged: Array
    taken: Array


def train_mse(
    apply: ApplyFn,
    params0: Params,
    x: Array,
    y: Array,
    *,
    optimizer: optax.GradientTransformation,
    steps: int,
    log_steps: Sequence[int] | np.ndarray,
    batch_size: int | None = None,
    loss_tol: float = 0.0,
    key: Array | None = None,
    max_loss_ratio: float = 1e8,
    record: Callable[[Params], Any] | None = None,
) -> TrainResult:
    r"""Minimise the MSE loss ``L`` (module docstring) from ``params0`` for ``steps`` steps.

    Step ``t = 0 .. steps-1`` maps ``theta_t`` to ``theta_{t+1} = theta_t + u_t`` with ``u_t`` the
    ``optimizer``'s update for the gradient ``g_t`` of the loss on the full batch, or, when
    ``batch_size < N``, on the mini-batch of step ``t`` (drawn from ``fold_in(key, t)``). For
    ``optax.sgd(eta)`` on the full batch this is ``theta_{t+1} = theta_t - eta grad L(theta_t)``.
    A line-search optimiser (``optax.lbfgs``, see :func:`uses_line_search`) gets the full-batch
    ``value``, ``grad`` and ``value_fn`` it needs, with the value and gradient at ``theta_t``
    taken from its state (``optax.value_and_grad_from_state``); it is full-batch only.

    The whole run is one jitted loop of static length ``steps + 1`` (jit and vmap as you like):
    iteration ``t`` evaluates ``L(theta_t)`` and ``g_t`` (one forward and backward pass), checks
    them, then applies step ``t``; the last iteration only checks ``theta_T``. It is a
    ``lax.scan`` over the intervals between the distinct ``log_steps`` (plus ``steps``), each a
    ``lax.fori_loop`` over its steps whose body is just that iteration: nothing is stored per
    step, and ``L(theta_t)`` (and ``record(theta_t)``) is taken at the logged steps only. Updates
    stop (the remaining iterations compute but change nothing, so shapes stay static) when

    * ``L(theta_t) < loss_tol * L(theta_0)``: early stop at ``theta_t`` (``loss_tol = 0``: never);
    * ``theta_t`` has a non-finite loss or gradient, or ``L(theta_t) > max_loss_ratio *
      L(theta_0)``: the step into ``theta_t`` is undone (parameters and optimiser state back to
      step ``t-1``) and the run is flagged ``diverged``; no exception is raised.

    ``loss_tol`` (and the optimiser's learning rate) may be traced scalars.

    Args:
        apply: pure ``apply(params, x) -> (N, n_L)``.
        params0: initial parameters theta_0 (a pytree).
        x (array of shape (N, ...)): training inputs.
        y (array of shape (N, n_L)): training targets.
        optimizer: an optax transformation, e.g. :func:`make_optimizer`.
        steps: number of steps (static).
        log_steps: steps ``t`` in ``[0, steps]`` at which ``L(theta_t)`` is returned (static; e.g.
            :func:`log_spaced_steps`; any order, repeats allowed).
        batch_size: mini-batch size; ``None`` or ``>= N`` means the full batch.
        loss_tol: early-stopping threshold on ``L(theta_t) / L(theta_0)``.
        key: PRNG key for the mini-batches (required only when ``batch_size < N``).
        max_loss_ratio: a loss growing above this multiple of the initial loss counts as
            divergence (keeps every recorded number finite, well before an overflow).
        record: optional ``record(params) -> pytree`` evaluated at ``theta_t`` for each of
            ``log_steps`` (e.g. the outputs on a test set), returned stacked as
            :attr:`TrainResult.records` (after an early stop or divergence: of the frozen
            parameters, like ``losses``).

    Returns:
        A :class:`TrainResult` ``(params, losses, final_loss, steps_taken, diverged, records)``.

    Raises:
        ValueError: for ``log_steps`` outside ``[0, steps]``, mini-batches without a ``key``, or
            mini-batches with a line-search optimiser.
    """
    steps = int(steps)
    log_steps = np.asarray(log_steps, dtype=np.int64)
    if steps < 0 or log_steps.ndim != 1 or np.any(log_steps < 0) or np.any(log_steps > steps):
        raise ValueError(f"log_steps must be a list of steps in [0, {steps}], got {log_steps}")
    n = x.shape[0]
    minibatch = batch_size is not None and int(batch_size) < n
    if minibatch and key is None:
        raise ValueError("mini-batches (batch_size < N) need a PRNG key")
    line_search = uses_line_search(optimizer, params0)
    if minibatch and line_search:
        raise ValueError("a line-search optimiser (lbfgs) is full-batch: batch_size must be None")

    def full_loss(p: Params) -> Array:
        return mse_loss(apply(p, x), y)

    def loss_and_grad(p: Params, state: Any, t: Array) -> tuple[Array, Params]:
        """L(p) on the full batch and the gradient the step ``t`` update from ``p`` uses."""
        if line_search:
            return optax.value_and_grad_from_state(full_loss)(p, state=state)
        if not minibatch:
            return jax.value_and_grad(full_loss)(p)
        idx = jax.random.choice(jax.random.fold_in(key, t), n, (int(batch_size),), replace=False)
        grad = jax.grad(lambda q: mse_loss(apply(q, x[idx]), y[idx]))(p)
        return full_loss(p), grad

    def evaluate(c: _Carry, t: Array) -> tuple[_Carry, Array, Params]:
        """Evaluate theta_t, reverting to theta_{t-1} if it is bad; stop if converged."""
        loss, g = loss_and_grad(c.params, c.state, t)
        loss0 = jnp.where(t == 0, loss, c.loss0)
        ok = jnp.isfinite(loss) & _all_finite(g)
        ok &= (loss <= jnp.asarray(max_loss_ratio, loss.dtype) * loss0) | (loss0 == 0)
        bad = ~(c.stopped | c.diverged) & ~ok
        c = c._replace(
            params=_where(bad, c.prev, c.params),
            state=_where(bad, c.prev_state, c.state),
            loss0=loss0,
            good_loss=jnp.where(bad & (t > 0), c.good_loss, loss),
            stopped=c.stopped | (ok & (loss < jnp.asarray(loss_tol, loss.dtype) * loss0)),
            diverged=c.diverged | bad,
            taken=c.taken - bad.astype(jnp.int32),
        )
        return c, loss, g

    def update(c: _Carry, loss: Array, g: Params, t: Array) -> _Carry:
        """Apply step t unless stopped, diverged or at the end."""
        move = ~(c.stopped | c.diverged) & (t < steps)
        if line_search:
            extra = {"value": loss, "grad": g, "value_fn": full_loss}
            updates, new_state = optimizer.update(g, c.state, c.params, **extra)
        else:
            updates, new_state = optimizer.update(g, c.state, c.params)
        cand = optax.apply_updates(c.params, updates)
        return c._replace(
            params=_where(move, cand, c.params),
            state=_where(move, new_state, c.state),
            prev=_where(move, c.params, c.prev),
            prev_state=_where(move, c.state, c.prev_state),
            taken=c.taken + move.astype(jnp.int32),
        )

    def iteration(t: Array, c: _Carry) -> _Carry:
        c, loss, g = evaluate(c, t)
        return update(c, loss, g, t)

    def segment(c: _Carry, bounds: Array):
        """Iterations ``lo .. hi - 1``, then iteration ``hi`` recording theta_hi."""
        lo, hi = bounds[0], bounds[1]
        c = jax.lax.fori_loop(lo, hi, iteration, c)
        c, loss, g = evaluate(c, hi)
        out = (c.good_loss, None if record is None else record(c.params))
        return update(c, loss, g, hi), out

    dtype = jnp.result_type(*jax.tree.leaves(params0))
    zero = jnp.zeros((), jnp.result_type(dtype, y.dtype))
    false = jnp.zeros((), bool)
    state0 = optimizer.init(params0)
    init = _Carry(params0, state0, params0, state0, zero, zero, false, false, jnp.int32(0))
    # the distinct evaluation marks (always including theta_T); each segment ends at one
    marks = np.unique(np.append(log_steps, steps))
    bounds = np.stack([np.concatenate([[0], marks[:-1] + 1]), marks], axis=1).astype(np.int32)
    carry, (losses, records) = jax.lax.scan(segment, init, bounds)
    pick = np.searchsorted(marks, log_steps)
    if records is not None:
        records = jax.tree.map(lambda a: a[pick], records)
    return TrainResult(
        carry.params, losses[pick], carry.good_loss, carry.taken, carry.diverged, records
    )
