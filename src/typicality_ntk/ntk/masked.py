r"""A width-padded MLP whose hidden units beyond an *active* width are masked out.

One compiled program serves every width up to ``width_pad``: the active width is an array (traced,
so it can vary between calls, or be vmapped over) and the hidden units ``j >= width`` are switched
off. For every active width ``w <= width_pad`` the masked network *is* the network of
:func:`~typicality_ntk.ntk.make_mlp` with ``widths=(w,) * depth``:

* **forward pass**: hidden activations are multiplied by the mask ``1[j < w]``, and the NTK
  scaling ``sigma_w / sqrt(fan_in)`` uses the active fan-in (``n_0`` for the first layer, ``w``
  after it), so masked units contribute nothing to any output;
* **initialisation**: the random draws are laid out so that the active block is the same
  whatever ``width_pad`` is (a width-``w`` network drawn padded to 2000 equals the one drawn
  unpadded): a padded axis is the leading axis of a ``jax.random.normal`` draw, whose leading
  prefix does not depend on its length, and hidden-to-hidden kernels draw one column per key;
  the standard parameterisation's ``sigma_w / sqrt(fan_in)`` uses the active fan-in; masked
  entries are set to 0, so norms of the parameters count active ones only;
* **training**: the gradient of every masked parameter is exactly 0 (its unit's output is
  multiplied by 0, or its input is a masked activation), and :func:`masked_optimizer` also
  multiplies the updates by the mask, so masked parameters stay 0 under any optax optimiser.

The parameter pytree has :func:`make_mlp`'s layout, ``{"params": {"layer{l}": {"kernel",
"bias"}}}``, with hidden sizes ``width_pad``; :meth:`MaskedMLP.unpad` cuts it to the active
network's parameters (which ``make_mlp``'s ``apply_fn`` accepts).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax import Array

from typicality_ntk.ntk._mlp import MLPSpec

__all__ = ["MaskedMLP", "masked_optimizer", "n_params_mlp"]

_HIGHEST = jax.lax.Precision.HIGHEST
_ACT = {"relu": jax.nn.relu, "erf": jax.lax.erf, "tanh": jnp.tanh}

Params = Any


def n_params_mlp(width, *, n_in: int, depth: int, n_out: int):
    """P of the MLP with ``depth`` hidden layers of ``width`` (works on ints and on arrays)."""
    return n_in * width + width + (depth - 1) * (width * width + width) + width * n_out + n_out


def _prefix_normal(key: Array, shape: tuple[int, ...], dtype) -> Array:
    """N(0, 1) draws whose rows ``[:m]`` do not depend on ``shape[0]`` (row-major prefix).

    With JAX's partitionable threefry (the default since 0.5) ``jax.random.normal`` has that
    property (the bits of an element depend on its flat index only); otherwise each row gets its
    own ``fold_in`` key.
    """
    if jax.config.jax_threefry_partitionable:
        # drawn flat: XLA:CPU compiles a multi-dimensional partitionable draw ~10x slower
        return jax.random.normal(key, (math.prod(shape),), dtype).reshape(shape)
    rows = jnp.arange(shape[0])
    return jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(key, i), shape[1:], dtype))(rows)


@dataclasses.dataclass(frozen=True)
class MaskedMLP:
    """The MLP ``n_in -> (width,) * depth -> n_out`` padded to ``width_pad`` hidden units.

    Hashable: usable as a static argument. ``width`` arguments are integer arrays (or ints),
    ``1 <= width <= width_pad``; nothing checks that under jit.

    Attributes:
        width_pad: hidden units allocated per layer (the largest width the program serves).
        depth: hidden layers L >= 1.
        n_out: outputs n_L.
        activation, parameterization, sigma_w, sigma_b: as in :func:`make_mlp`.
    """

    width_pad: int
    depth: int
    n_out: int
    activation: str = "relu"
    parameterization: str = "ntk"
    sigma_w: float = 1.0
    sigma_b: float = 0.0

    def __post_init__(self) -> None:
        if self.depth < 1:
            raise ValueError(f"depth must be >= 1, got {self.depth}")
        # the same checks as make_mlp (activation, parameterisation, positive sizes)
        MLPSpec(
            widths=(self.width_pad,) * self.depth,
            n_out=self.n_out,
            activation=self.activation,
            parameterization=self.parameterization,
        )

    # -- shapes and masks -------------------------------------------------------------------
    def unit_mask(self, width, dtype=jnp.float32) -> Array:
        """``1[j < width]`` for the ``width_pad`` hidden units."""
        return (jnp.arange(self.width_pad) < width).astype(dtype)

    def mask(self, width, n_in: int, dtype=jnp.float32) -> Params:
        """Pytree of 0/1 arrays shaped like the parameters: 1 on the active network."""
        m = self.unit_mask(width, dtype)
        one_in, one_out = jnp.ones((n_in,), dtype), jnp.ones((self.n_out,), dtype)
        out = {}
        for layer in range(self.depth + 1):
            rows = one_in if layer == 0 else m
            cols = one_out if layer == self.depth else m
            out[f"layer{layer}"] = {"kernel": rows[:, None] * cols[None, :], "bias": cols}
        return {"params": out}

    def n_params(self, width, n_in: int):
        """P of the active network (int for an int width, an array for an array)."""
        return n_params_mlp(width, n_in=n_in, depth=self.depth, n_out=self.n_out)

    # -- parameters -------------------------------------------------------------------------
    def init(self, key: Array, n_in: int, width, dtype=jnp.float32) -> Params:
        """Padded parameters of the active network; masked entries are 0.

        The active block does not depend on ``width_pad`` (see the module docstring); its law is
        :func:`make_mlp`'s: N(0, 1) entries (``ntk``) or N(0, sigma_w^2 / fan_in) and
        N(0, sigma_b^2) (``standard``, with the active fan-in). Two random draws in all (each
        ``jax.random.normal`` costs compile time): row ``1 + j`` of the first holds everything of
        hidden unit ``j`` outside the hidden-to-hidden kernels (its input weights, its biases,
        its readout weights), row 0 the readout bias; the second holds, per unit ``j`` (its own
        ``fold_in`` key), the column ``j`` of every hidden-to-hidden kernel.
        """
        d, w_pad, n_out = self.depth, self.width_pad, self.n_out
        k_units, k_hidden = jax.random.split(key)
        z = _prefix_normal(k_units, (1 + w_pad, n_in + d + n_out), dtype)
        units = z[1:]
        kernels = [units[:, :n_in].T]  # (n_in, w_pad)
        biases = [units[:, n_in + l] for l in range(d)]
        if d > 1:
            hh = jax.vmap(
                lambda j: _prefix_normal(jax.random.fold_in(k_hidden, j), (w_pad, d - 1), dtype)
            )(jnp.arange(w_pad))  # (j, i, l): kernel l+1 [i, j]
            kernels += [hh[:, :, l].T for l in range(d - 1)]
        kernels.append(units[:, n_in + d : n_in + d + n_out])  # readout (w_pad, n_out)
        biases.append(z[0, :n_out])
        mask = self.mask(width, n_in, dtype)["params"]
        width_f = jnp.asarray(width, dtype)
        out = {}
        for layer in range(d + 1):
            kernel, bias = kernels[layer], biases[layer]
            if self.parameterization == "standard":
                active_fan_in = jnp.asarray(n_in, dtype) if layer == 0 else width_f
                kernel = kernel * (self.sigma_w / jnp.sqrt(active_fan_in))
                bias = bias * self.sigma_b
            m = mask[f"layer{layer}"]
            out[f"layer{layer}"] = {"kernel": kernel * m["kernel"], "bias": bias * m["bias"]}
        return {"params": out}

    def unpad(self, params: Params, width: int) -> Params:
        """The active network's parameters (Python int ``width``), in :func:`make_mlp`'s layout."""
        p = params["params"]
        out = {}
        for layer in range(self.depth + 1):
            k, b = p[f"layer{layer}"]["kernel"], p[f"layer{layer}"]["bias"]
            rows = k.shape[0] if layer == 0 else width
            cols = self.n_out if layer == self.depth else width
            out[f"layer{layer}"] = {"kernel": k[:rows, :cols], "bias": b[:cols]}
        return {"params": out}

    # -- forward ----------------------------------------------------------------------------
    def _dense(self, h: Array, p: Params, active_fan_in) -> Array:
        z = jnp.matmul(h, p["kernel"], precision=_HIGHEST)
        bias = jnp.reshape(p["bias"], (1,) * (z.ndim - 1) + (-1,))
        if self.parameterization == "ntk":
            scale = self.sigma_w / jnp.sqrt(jnp.asarray(active_fan_in, z.dtype))
            return scale * z + self.sigma_b * bias
        return z + bias

    def hidden(self, params: Params, x: Array, width) -> Array:
        """The last hidden layer's (masked) activations, shape ``(..., width_pad)``."""
        p = params["params"]
        act = _ACT[self.activation]
        m = self.unit_mask(width, x.dtype)
        h = x
        for layer in range(self.depth):
            fan_in = x.shape[-1] if layer == 0 else width
            h = act(self._dense(h, p[f"layer{layer}"], fan_in)) * m
        return h

    def apply(self, params: Params, x: Array, width) -> Array:
        """``f(x)`` of the active network: ``(..., n_in) -> (..., n_out)``."""
        h = self.hidden(params, x, width)
        return self._dense(h, params["params"][f"layer{self.depth}"], width)

    def readout_features(self, params: Params, x: Array, width) -> Array:
        r"""Jacobian of each output w.r.t. its readout column: ``(..., width_pad + 1)``.

        ``f_k(x) = phi(x) . [kernel[:, k]; bias[k]]`` with ``phi(x) = [s_w h(x), s_b]``, ``s_w =
        sigma_w / sqrt(width)``, ``s_b = sigma_b`` (``ntk``) or ``s_w = s_b = 1`` (``standard``);
        masked units give zero columns. Training only the readout is linear regression on phi.
        """
        h = self.hidden(params, x, width)
        if self.parameterization == "ntk":
            s_w = self.sigma_w / jnp.sqrt(jnp.asarray(width, h.dtype))
            s_b = self.sigma_b
        else:
            s_w, s_b = 1.0, 1.0
        ones = jnp.full(h.shape[:-1] + (1,), s_b, h.dtype)
        return jnp.concatenate([s_w * h, ones], axis=-1)


def masked_optimizer(
    optimizer: optax.GradientTransformation, mask: Params
) -> optax.GradientTransformationExtraArgs:
    """``optimizer`` whose updates are multiplied by ``mask`` (0/1 pytree like the parameters).

    With a masked network the gradients of masked parameters already vanish (and gd, sgd and adam
    turn a zero gradient into a zero update); this makes "masked units receive no update" hold
    for any optimiser (weight decay, momentum from a non-zero start, ...). Extra update arguments
    (``value``, ``grad``, ``value_fn`` of ``optax.lbfgs``'s line search) are passed on: the line
    search moves along a direction that is already 0 on masked parameters, so it sees the active
    network's loss.
    """
    inner = optax.with_extra_args_support(optimizer)

    def update(grads, state, params=None, **extra_args):
        updates, state = inner.update(grads, state, params, **extra_args)
        return jax.tree.map(jnp.multiply, updates, mask), state

    return optax.GradientTransformationExtraArgs(inner.init, update)
