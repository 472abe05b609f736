"""Fully connected networks in NTK or standard parameterisation, as pure functions.

We use ``flax.linen`` rather than ``flax.nnx``: a linen module is a stateless description, so
``module.init(key, x)`` and ``module.apply(params, x)`` already are the pure
``init_fn(key, x) -> params`` / ``apply_fn(params, x) -> f(x)`` pair that ``jax.jit``,
``jax.vmap``, ``jax.jacrev`` and :func:`~typicality_ntk.ntk.empirical_ntk` need. ``nnx`` keeps
parameters inside mutable objects and would need an ``nnx.split`` / ``nnx.merge`` round trip
around every transform to get the same thing.
"""

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

__all__ = [
    "ACTIVATIONS",
    "PARAMETERIZATIONS",
    "MLPSpec",
    "make_mlp",
    "n_params",
]

#: Allowed values of ``activation``.
ACTIVATIONS: tuple[str, ...] = ("relu", "erf", "tanh")
#: Allowed values of ``parameterization``.
PARAMETERIZATIONS: tuple[str, ...] = ("ntk", "standard")

_ACTIVATION_FNS: dict[str, Callable[[Array], Array]] = {
    "relu": jax.nn.relu,
    "erf": jax.lax.erf,
    "tanh": jnp.tanh,
}

Params = Any  # a pytree of arrays
InitFn = Callable[[Array, Array], Params]
ApplyFn = Callable[[Params, Array], Array]


def _check_activation(activation: str) -> str:
    """Return ``activation`` or raise a ``ValueError`` naming the allowed values."""
    if activation not in _ACTIVATION_FNS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    return activation


def _check_parameterization(parameterization: str) -> str:
    """Return ``parameterization`` or raise a ``ValueError`` naming the allowed values."""
    if parameterization not in PARAMETERIZATIONS:
        raise ValueError(
            f"parameterization must be one of {PARAMETERIZATIONS}, got {parameterization!r}"
        )
    return parameterization


@dataclasses.dataclass(frozen=True)
class MLPSpec:
    """Static description of a fully connected network (hashable, usable as a jit static arg).

    Attributes:
        widths: hidden-layer widths; ``len(widths)`` is the number of hidden layers.
        n_out: number of outputs of the final (linear) layer.
        activation: one of :data:`ACTIVATIONS`.
        parameterization: ``"ntk"`` or ``"standard"`` (see :func:`make_mlp`).
        sigma_w: weight standard deviation.
        sigma_b: bias standard deviation.
    """

    widths: tuple[int, ...]
    n_out: int
    activation: str
    parameterization: str = "ntk"
    sigma_w: float = 1.0
    sigma_b: float = 0.0

    def __post_init__(self) -> None:
        _check_activation(self.activation)
        _check_parameterization(self.parameterization)
        # OmegaConf hands lists where the schema says tuple; tuples keep the spec hashable.
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        if any(w < 1 for w in self.widths) or self.n_out < 1:
            raise ValueError(f"widths and n_out must be positive, got {self.widths}, {self.n_out}")


class _Dense(nn.Module):
    """Affine layer with parameters ``kernel`` (fan_in, features) and ``bias`` (features,).

    ``ntk``: ``kernel, bias ~ N(0, 1)`` and ``h = sigma_w / sqrt(fan_in) * x @ kernel +
    sigma_b * bias``. ``standard``: ``kernel ~ N(0, sigma_w**2 / fan_in)``, ``bias ~ N(0,
    sigma_b**2)`` and ``h = x @ kernel + bias``. Same layout as ``neural_tangents.stax.Dense``
    (whose bias has an extra leading axis of size 1).
    """

    features: int
    parameterization: str
    sigma_w: float
    sigma_b: float
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        fan_in = x.shape[-1]
        if self.parameterization == "ntk":
            w_scale, b_scale = 1.0, 1.0
        else:
            w_scale, b_scale = self.sigma_w / math.sqrt(fan_in), self.sigma_b

        def normal(scale: float) -> Callable[..., Array]:
            return lambda key, shape, dtype: scale * jax.random.normal(key, shape, dtype)

        kernel = self.param("kernel", normal(w_scale), (fan_in, self.features), self.param_dtype)
        bias = self.param("bias", normal(b_scale), (self.features,), self.param_dtype)
        h = jnp.matmul(x, kernel, precision=jax.lax.Precision.HIGHEST)
        bias = jnp.reshape(bias, (1,) * (h.ndim - 1) + (-1,))  # explicit: rank promotion "raise"
        if self.parameterization == "ntk":
            return (self.sigma_w / math.sqrt(fan_in)) * h + self.sigma_b * bias
        return h + bias


class _MLP(nn.Module):
    spec: MLPSpec
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        spec = self.spec
        act = _ACTIVATION_FNS[spec.activation]
        dense = dict(
            parameterization=spec.parameterization,
            sigma_w=spec.sigma_w,
            sigma_b=spec.sigma_b,
            param_dtype=self.param_dtype,
        )
        for layer, width in enumerate(spec.widths):
            x = act(_Dense(width, name=f"layer{layer}", **dense)(x))
        return _Dense(spec.n_out, name=f"layer{len(spec.widths)}", **dense)(x)


def make_mlp(
    *,
    widths: tuple[int, ...],
    n_out: int,
    activation: str,
    parameterization: str = "ntk",
    sigma_w: float = 1.0,
    sigma_b: float = 0.0,
) -> tuple[InitFn, ApplyFn]:
    """Build a fully connected network as a pair of pure functions.

    The network is ``Dense(widths[0]) -> act -> ... -> Dense(widths[-1]) -> act ->
    Dense(n_out)``, the same architecture as ``stax.serial(*[Dense(w, W_std=sigma_w,
    b_std=sigma_b), act] * len(widths), Dense(n_out, W_std=sigma_w, b_std=sigma_b))``.

    * ``"ntk"``: every weight and bias is drawn from N(0, 1) and a layer computes
      ``h = sigma_w / sqrt(fan_in) * x W + sigma_b * b``.
    * ``"standard"``: ``W ~ N(0, sigma_w**2 / fan_in)``, ``b ~ N(0, sigma_b**2)`` and
      ``h = x W + b``.

    The two have the same function-space distribution at init; their NTKs differ.

    Args:
        widths: hidden widths, one per hidden layer (may be empty: a linear model).
        n_out: number of outputs.
        activation: ``"relu"``, ``"erf"`` or ``"tanh"``.
        parameterization: ``"ntk"`` or ``"standard"``.
        sigma_w: weight standard deviation.
        sigma_b: bias standard deviation (the bias parameters exist even when it is 0).

    Returns:
        ``(init_fn, apply_fn)``. ``init_fn(key, x_example)`` returns the parameter pytree
        ``{"params": {"layer0": {"kernel": (n0, widths[0]), "bias": (widths[0],)}, ...,
        f"layer{len(widths)}": {...}}}`` in the floating dtype of ``x_example`` (shape
        ``(..., n0)``). ``apply_fn(params, x)`` maps ``x`` of shape ``(..., n0)`` to
        ``(..., n_out)``; in particular ``(batch, n0) -> (batch, n_out)`` and a single example
        ``(n0,) -> (n_out,)``.

    Raises:
        ValueError: for an unknown ``activation`` or ``parameterization``.
    """
    spec = MLPSpec(
        widths=tuple(widths),
        n_out=n_out,
        activation=activation,
        parameterization=parameterization,
        sigma_w=float(sigma_w),
        sigma_b=float(sigma_b),
    )
    module = _MLP(spec)

    def init_fn(key: Array, x_example: Array) -> Params:
        dtype = jnp.result_type(x_example)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(f"x_example must be floating point, got {dtype}")
        return _MLP(spec, param_dtype=dtype).init(key, x_example)

    def apply_fn(params: Params, x: Array) -> Array:
        return module.apply(params, x)

    return init_fn, apply_fn


def n_params(params: Params) -> int:
    """Total number of scalar parameters P in a pytree (a Python ``int``, static under jit)."""
    return sum(int(np.prod(jnp.shape(leaf))) for leaf in jax.tree_util.tree_leaves(params))
