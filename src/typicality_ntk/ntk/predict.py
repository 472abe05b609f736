r"""neural-tangents' ``nt.predict.gradient_descent_mse``: linearised training on MSE in closed form.

For a kernel ``K`` (the NTK of the training inputs, nt's layout, see
:mod:`typicality_ntk.ntk._nt_api`) and targets ``y`` of ``n = y_train.size`` entries, gradient
descent on the loss ``||f(x_train) - y||^2 / (2 n)`` of the linearised network moves the outputs
as

* :func:`gradient_descent_mse` (nt's, **continuous time**): ``df/dt = -(lr / n) K (f - y)``,
  so ``f_t = y + exp(-lr t K / n) (f_0 - y)`` on the training set and
  ``f_t(x) = f_0(x) + K(x, X) K^{-1} (exp(-lr t K / n) - I) (f_0 - y)`` elsewhere. ``t`` counts
  steps of size ``lr`` (only ``lr * t`` matters) and may be fractional; ``t=None`` is
  ``t -> infinity``, computed by a Cholesky solve (nt: ``f_inf(x) = f_0(x) + K(x, X) K^{-1}
  (y - f_0)`` and ``f_inf(X) = y``).
* :func:`gradient_descent_mse_discrete` (exact **discrete** gradient descent, not in nt):
  ``f_{s+1} - y = (I - lr K / n) (f_s - y)``, so ``exp(-lr t K / n)`` above is replaced by
  ``(I - lr K / n)^t`` for integer steps ``t``. It equals the continuous solution to first
  order in ``lr``; it converges (``t=None``, the same fixed point) only for ``lr < 2 n /
  lambda_max(K)`` (:func:`max_learning_rate`).

Both diagonalise ``K + diag_reg * I`` once with ``jnp.linalg.eigh`` (as nt); ``diag_reg`` is in
units of ``trace(K) / dim(K)`` unless ``diag_reg_absolute_scale``. Eigenvalues are clipped at 0
as in nt; where nt divides ``0 / 0`` for an exactly zero eigenvalue we return the limit's
contribution, 0 (``K(x, X) v = 0`` for ``K v = 0`` when the joint kernel is PSD).

Not covered: nt's ``gradient_descent`` (ODE for other losses), ``gp_inference`` and
``gradient_descent_mse_ensemble`` (infinite-width ensembles, which need stax's ``kernel_fn``).
"""

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import jax.scipy as jsp
import numpy as np
from jax import Array

from typicality_ntk import _lapack as lapack

__all__ = [
    "gradient_descent_mse",
    "gradient_descent_mse_discrete",
    "max_learning_rate",
]

Axes = int | Sequence[int]
PredictFn = Callable[..., Array | tuple[Array, Array]]

_HIGHEST = jax.lax.Precision.HIGHEST


def _canonical_trace_axes(trace_axes: Axes, ndim: int) -> tuple[int, ...]:
    axes = (trace_axes,) if isinstance(trace_axes, int) else tuple(trace_axes)
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, int) or not -ndim <= a < ndim:
            raise ValueError(
                f"trace_axes={trace_axes!r} must be ints in range for y_train with {ndim} axes"
            )
    return tuple(sorted({a % ndim for a in axes}))


def _to_2d(k: Array) -> Array:
    """nt's ``make_2d``: ``(X1, X2, Y1, Y2, ...) -> (X1 Y1 ..., X2 Y2 ...)``."""
    half = k.ndim // 2
    k = jnp.transpose(k, tuple(range(0, k.ndim, 2)) + tuple(range(1, k.ndim, 2)))
    return k.reshape(math.prod(k.shape[:half]), math.prod(k.shape[half:]))


def _check_time(t: object) -> None:
    """A concrete ``t`` must be ``>= 0`` everywhere (nt returns numbers for negative times: the
    solution run backwards, which no training reaches). Traced values are left to the caller."""
    if t is None or isinstance(t, jax.core.Tracer):
        return
    if isinstance(t, (list, tuple)) and any(isinstance(v, jax.core.Tracer) for v in t):
        return
    values = np.asarray(t, dtype=np.float64)
    bad = values[~(values >= 0)]  # negative or NaN
    if bad.size:
        raise ValueError(
            f"t={float(bad.flat[0])} is not a training time: t counts steps, so it must be >= 0 "
            f"(or None for t -> infinity)"
        )


def _make_predict_fn(
    k_train_train: Array,
    y_train: Array,
    learning_rate: float,
    diag_reg: float,
    diag_reg_absolute_scale: bool,
    trace_axes: Axes,
    discrete: bool,
    eigh: tuple[Array, Array] | None = None,
) -> PredictFn:
    k_train_train = jnp.asarray(k_train_train)
    y_train = jnp.asarray(y_train)
    trace = _canonical_trace_axes(trace_axes, y_train.ndim)
    kept = tuple(i for i in range(y_train.ndim) if i not in trace)
    kept_shape = tuple(y_train.shape[i] for i in kept)
    trace_shape = tuple(y_train.shape[i] for i in trace)
    expected = tuple(s for d in kept_shape for s in (d, d))
    if k_train_train.shape != expected:
        raise ValueError(
            f"k_train_train must have shape {expected} (pairs of the axes of y_train of shape "
            f"{y_train.shape} without trace_axes={trace_axes!r}), got {k_train_train.shape}"
        )
    m = math.prod(kept_shape)
    n = y_train.size
    dtype = k_train_train.dtype

    def regularised() -> Array:
        a = _to_2d(k_train_train)
        reg = diag_reg if diag_reg_absolute_scale else diag_reg * jnp.trace(a) / m
        return a + reg * jnp.eye(m, dtype=dtype)

    def as_matrix(v: Array) -> Array:  # (..y_train.shape..) -> (m, r), traced axes last
        return jnp.moveaxis(v, trace, tuple(range(-len(trace), 0))).reshape(m, -1)

    def from_matrix(v: Array, lead: tuple[int, ...], kept_sizes: tuple[int, ...]) -> Array:
        """``(*lead, m', r)`` -> ``(*lead, *y shape)`` with the traced axes put back."""
        v = v.reshape(lead + kept_sizes + trace_shape)
        src = tuple(range(len(lead) + len(kept_sizes), v.ndim))
        return jnp.moveaxis(v, src, tuple(len(lead) + a for a in trace))

    def test_side(k_test_train: Array) -> tuple[Array, tuple[int, ...]]:
        k_test_train = jnp.asarray(k_test_train)
        if k_test_train.ndim != k_train_train.ndim or k_test_train.shape[1::2] != kept_shape:
            raise ValueError(
                f"k_test_train must pair the test axes with the train axes {kept_shape} "
                f"(nt's layout, like k_train_train), got shape {k_test_train.shape}"
            )
        return _to_2d(k_test_train), tuple(k_test_train.shape[::2])

    cache = {}

    def eig() -> tuple[Array, Array]:
        if eigh is not None:
            return eigh
        if "eig" in cache:
            return cache["eig"]
        evals, evecs = lapack.eigh(regularised())  # safe on several CPU devices
        if not isinstance(evals, jax.core.Tracer):  # cache concrete results only
            cache["eig"] = (evals, evecs)
        return evals, evecs

    def cho() -> tuple[Array, bool]:
        if "cho" in cache:
            return cache["cho"]
        factor = jsp.linalg.cho_factor(regularised(), lower=False)
        if not isinstance(factor[0], jax.core.Tracer):
            cache["cho"] = factor
        return factor

    def decay(evals: Array, t: Array) -> tuple[Array, Array]:
        """``(exp(-lr t lam / n) - 1)`` (or ``(1 - lr lam / n)^t - 1``) and that over ``lam``."""
        lam = jnp.maximum(evals, 0.0)[None, :]
        x = learning_rate * lam / n
        t = t[:, None]
        if discrete:
            below = x < 1.0
            power = jnp.expm1(t * jnp.log1p(-jnp.where(below, x, 0.0)))
            train = jnp.where(below, power, jnp.power(1.0 - x, t) - 1.0)
        else:
            train = jnp.expm1(-x * t)
        positive = lam > 0
        test = jnp.where(positive, train / jnp.where(positive, lam, 1.0), 0.0)
        return train, test

    def predict_fn(
        t: Array | float | None = None,
        fx_train_0: Array | float | None = 0.0,
        fx_test_0: Array | float | None = None,
        k_test_train: Array | None = None,
    ) -> Array | tuple[Array, Array]:
        """Outputs on the training [and test] set at time[s] ``t`` (see the module docstring).

        Args:
            t: steps (any shape; leading axes of the result), or ``None`` for ``t -> infinity``.
            fx_train_0: outputs on the training set at ``t = 0`` (shape of ``y_train`` or a
                scalar); ``None``: do not predict the training set.
            fx_test_0: outputs on the test set at ``t = 0``; ``None``: no test predictions.
            k_test_train: test-train kernel, nt's layout (test axes first in each pair), with
                the same ``trace_axes`` absent.

        Returns:
            ``fx_train_t``, ``fx_test_t``, or both as a tuple if neither ``fx_train_0`` nor
            ``fx_test_0`` is ``None``.

        Raises:
            ValueError: if both ``fx_train_0`` and ``fx_test_0`` are ``None``, ``fx_test_0``
                is given without ``k_test_train``, or a concrete ``t`` is negative or NaN
                (a traced ``t`` is not checked).
        """
        _check_time(t)
        if fx_train_0 is None and fx_test_0 is None:
            raise ValueError("fx_train_0 and fx_test_0 are both None: nothing to predict")
        if fx_test_0 is not None and k_test_train is None:
            raise ValueError("fx_test_0 needs k_test_train, the test-train kernel")
        want_train, want_test = fx_train_0 is not None, fx_test_0 is not None
        y = y_train.astype(dtype)
        f0 = jnp.zeros_like(y) if fx_train_0 is None else jnp.broadcast_to(fx_train_0, y.shape)
        f0 = f0.astype(dtype)
        if want_test:
            k_te, test_kept = test_side(k_test_train)
            test_shape = list(y.shape)
            for axis, size in zip(kept, test_kept, strict=True):
                test_shape[axis] = size
            g0 = jnp.broadcast_to(fx_test_0, tuple(test_shape)).astype(dtype)

        if t is None:
            fx_train_t = y
            if want_test:
                sol = jsp.linalg.cho_solve(cho(), as_matrix(y - f0))
                dfx = jnp.matmul(k_te, sol, precision=_HIGHEST)
                fx_test_t = g0 + from_matrix(dfx, (), test_kept)
        else:
            t = jnp.asarray(t).astype(dtype)
            lead = t.shape
            t_flat = t.reshape(-1)
            evals, evecs = eig()
            train_coef, test_coef = decay(evals, t_flat)  # (T, m)
            proj = jnp.matmul(evecs.T, as_matrix(f0 - y), precision=_HIGHEST)  # (m, r)
            if want_train:
                dfx = jnp.einsum("ji,ti,ir->tjr", evecs, train_coef, proj, precision=_HIGHEST)
                fx_train_t = f0[None] + from_matrix(dfx, (t_flat.shape[0],), kept_shape)
                fx_train_t = fx_train_t.reshape(lead + y.shape)
            if want_test:
                dfx = jnp.einsum(
                    "aj,ji,ti,ir->tar", k_te, evecs, test_coef, proj, precision=_HIGHEST
                )
                fx_test_t = g0[None] + from_matrix(dfx, (t_flat.shape[0],), test_kept)
                fx_test_t = fx_test_t.reshape(lead + g0.shape)

        if want_train and want_test:
            return fx_train_t, fx_test_t
        return fx_train_t if want_train else fx_test_t

    return predict_fn


def gradient_descent_mse(
    k_train_train: Array,
    y_train: Array,
    learning_rate: float = 1.0,
    diag_reg: float = 0.0,
    diag_reg_absolute_scale: bool = False,
    trace_axes: Axes = (-1,),
    *,
    eigh: tuple[Array, Array] | None = None,
) -> PredictFn:
    """nt's ``predict.gradient_descent_mse``: continuous-time (gradient flow) predictions.

    Args:
        k_train_train: NTK (or NNGP) of the training inputs, nt's layout: the pairs of the axes
            of ``y_train`` without ``trace_axes`` (e.g. ``(N, N)`` for ``y_train`` of shape
            ``(N, C)`` with ``trace_axes=(-1,)``, the kernel being ``K ⊗ I`` along ``C``).
        y_train: targets (``n = y_train.size`` normalises the loss).
        learning_rate: step size; time is ``learning_rate * t``.
        diag_reg: ``K + diag_reg * I`` (relative to ``trace(K) / dim(K)`` by default).
        diag_reg_absolute_scale: ``diag_reg`` in absolute units.
        trace_axes: axes of ``y_train`` absent from the kernels.
        eigh: optional ``(evals, evecs)`` of the regularised 2-D kernel ``K + reg I``, as
            ``jnp.linalg.eigh`` returns them, when the caller already has them (not in nt; saves
            the decomposition, e.g. where a program may hold only one LAPACK call).

    Returns:
        ``predict_fn(t=None, fx_train_0=0., fx_test_0=None, k_test_train=None)``: the training
        [and test] outputs at time[s] ``t``, ``f_t = y + exp(-lr t K / n) (f_0 - y)`` (module
        docstring); ``t=None`` means ``t -> infinity``.

    Raises:
        ValueError: for ``trace_axes`` out of range or a kernel of the wrong shape.
    """
    return _make_predict_fn(
        k_train_train, y_train, learning_rate, diag_reg, diag_reg_absolute_scale, trace_axes,
        discrete=False, eigh=eigh,
    )  # fmt: skip


def gradient_descent_mse_discrete(
    k_train_train: Array,
    y_train: Array,
    learning_rate: float = 1.0,
    diag_reg: float = 0.0,
    diag_reg_absolute_scale: bool = False,
    trace_axes: Axes = (-1,),
    *,
    eigh: tuple[Array, Array] | None = None,
) -> PredictFn:
    """Exact discrete gradient descent of the linearised network (not in nt).

    Arguments and ``predict_fn`` as :func:`gradient_descent_mse`, but ``t`` counts steps of
    full-batch gradient descent with step ``learning_rate`` on ``||f - y||^2 / (2 n)``:
    ``f_t = y + (I - lr K / n)^t (f_0 - y)`` on the training set and ``f_t(x) = f_0(x) -
    (lr / n) K(x, X) sum_{s < t} (I - lr K / n)^s (f_0 - y)`` elsewhere. Non-integer ``t``
    interpolates by the real power where ``lr lam / n < 1``. ``t=None`` gives the fixed point,
    the same as :func:`gradient_descent_mse`, reached only for ``lr < max_learning_rate(K, n)``.
    ``eigh`` as in :func:`gradient_descent_mse`.
    """
    return _make_predict_fn(
        k_train_train, y_train, learning_rate, diag_reg, diag_reg_absolute_scale, trace_axes,
        discrete=True, eigh=eigh,
    )  # fmt: skip


def max_learning_rate(
    ntk_train_train: Array,
    y_train_size: int | None = None,
    momentum: float = 0.0,
    eps: float = 1e-12,
) -> Array:
    """nt's ``predict.max_learning_rate``: ``2 (1 + momentum) n / (lambda_max(K) + eps)``.

    The largest step for which ``I - lr K / n`` is a contraction (gradient descent on
    ``||f - y||^2 / (2 n)`` converges).

    Args:
        ntk_train_train: kernel in nt's layout (made 2-D as in :func:`gradient_descent_mse`).
        y_train_size: ``n``; ``None``: the kernel's dimension (``trace_axes=()``).
        momentum: heavy-ball momentum.
        eps: added to ``lambda_max``.
    """
    k = _to_2d(jnp.asarray(ntk_train_train))
    n = k.shape[0] if y_train_size is None else y_train_size
    return 2.0 * (1.0 + momentum) * n / (lapack.eigvalsh(k)[-1] + eps)
