r"""Infinite-width NNGP and NTK kernels of fully connected networks, in closed form.

The network is ``[Dense(n_l, sigma_w, sigma_b), act] * L`` followed by a linear readout
``Dense(n_out, sigma_w, sigma_b)``; the kernels are those of one output (different outputs are
independent with identical kernels). For inputs ``x, x'`` in ``R^{n_0}`` (indices 1, 2 below
stand for the pairs ``(x, x)``, ``(x', x')``; 12 for ``(x, x')``):

* Input layer: :math:`\Sigma^0_{12} = \sigma_w^2 \, x \cdot x' / n_0 + \sigma_b^2`,
  :math:`\Theta^0 = \Sigma^0` (NTK parameterisation).
* For each hidden layer ``l = 0 .. L-1``, with :math:`T, \dot T` the Gaussian expectations
  :math:`E[\phi(u)\phi(v)]`, :math:`E[\phi'(u)\phi'(v)]` over
  :math:`(u, v) \sim N(0, [[\Sigma^l_{11}, \Sigma^l_{12}], [\Sigma^l_{12}, \Sigma^l_{22}]])`:

  .. math::
      \Sigma^{l+1} = \sigma_w^2 \, T(\Sigma^l) + \sigma_b^2, \qquad
      \Theta^{l+1} = \Sigma^{l+1} + \sigma_w^2 \, \Theta^l \, \dot T(\Sigma^l).

* ReLU (arc-cosine kernel of degree 1), with
  :math:`\cos\vartheta = \Sigma_{12} / \sqrt{\Sigma_{11}\Sigma_{22}}`:

  .. math::
      T = \frac{\sqrt{\Sigma_{11}\Sigma_{22}}}{2\pi}
          \left(\sin\vartheta + (\pi - \vartheta)\cos\vartheta\right), \qquad
      \dot T = \frac{\pi - \vartheta}{2\pi}.

* Erf (arcsine kernel), with :math:`D = (1 + 2\Sigma_{11})(1 + 2\Sigma_{22})`:

  .. math::
      T = \frac{2}{\pi} \arcsin\frac{2\Sigma_{12}}{\sqrt{D}}, \qquad
      \dot T = \frac{4}{\pi} \frac{1}{\sqrt{D - 4\Sigma_{12}^2}}.

The result is ``nngp = Sigma^L`` and ``ntk = Theta^L`` after the readout, the numbers of
``neural_tangents.stax`` ``kernel_fn(x1, x2, ("nngp", "ntk"))`` (in NTK parameterisation they do
not depend on the widths).

Standard parameterisation (``W ~ N(0, sigma_w^2 / fan_in)``, ``h = x W + b``) has the same NNGP,
but the NTK keeps a factor of the fan-in, so it grows with the width (as in nt, Sohl-Dickstein et
al. 2020 with ``s = (1, 1)``): with :math:`T^{-1}_{12} = x \cdot x'/n_0` for the input,

.. math:: \Theta^{l+1} = n_l \, T^{l}_{12} + \sigma_w^2 \, \Theta^l \dot T^{l} + 1,

where :math:`n_l` is the fan-in of the layer (``n_0`` for the first, then the hidden widths) and
the ``+1`` is the bias gradient.

Cosines and arcsine arguments are clipped to ``[-1, 1]`` so the diagonal (``x = x'``) is NaN-free,
and a zero variance (``x = 0`` with ``sigma_b = 0``) gives ``T = 0`` instead of ``0/0``.
"""

import math

import jax.numpy as jnp
from jax import Array

__all__ = ["ANALYTIC_ACTIVATIONS", "infinite_width_kernels"]

#: Activations with a closed-form kernel.
ANALYTIC_ACTIVATIONS: tuple[str, ...] = ("relu", "erf")


def _relu(q1: Array, q2: Array, s12: Array) -> tuple[Array, Array]:
    """Arc-cosine kernel: ``q1 (N1, 1)``, ``q2 (1, N2)``, ``s12 (N1, N2)`` -> ``(T, T_dot)``."""
    norm = jnp.sqrt(q1 * q2)
    safe_norm = jnp.where(norm > 0, norm, 1.0)
    cos = jnp.clip(s12 / safe_norm, -1.0, 1.0)
    theta = jnp.arccos(cos)
    sin = jnp.sqrt(jnp.clip(1.0 - cos**2, 0.0, 1.0))
    t = norm * (sin + (math.pi - theta) * cos) / (2 * math.pi)
    t_dot = (math.pi - theta) / (2 * math.pi)
    return t, t_dot


def _erf(q1: Array, q2: Array, s12: Array) -> tuple[Array, Array]:
    """Arcsine kernel of ``erf``: same shapes as :func:`_relu`."""
    d = (1.0 + 2.0 * q1) * (1.0 + 2.0 * q2)
    t = (2 / math.pi) * jnp.arcsin(jnp.clip(2.0 * s12 / jnp.sqrt(d), -1.0, 1.0))
    # d - 4 s12^2 >= 1 + 2 q1 + 2 q2 > 0 for any valid covariance; the clip only guards rounding.
    t_dot = (4 / math.pi) / jnp.sqrt(jnp.maximum(d - 4.0 * s12**2, 1.0))
    return t, t_dot


_KERNELS = {"relu": _relu, "erf": _erf}


def infinite_width_kernels(
    x1: Array,
    x2: Array | None = None,
    *,
    hidden_layers: int,
    activation: str,
    sigma_w: float,
    sigma_b: float,
    parameterization: str = "ntk",
    widths: tuple[int, ...] | None = None,
) -> dict[str, Array]:
    """NNGP and NTK of an infinitely wide fully connected network (see the module docstring).

    Matches ``neural_tangents.stax.serial(*[Dense(w, W_std=sigma_w, b_std=sigma_b), act] *
    hidden_layers, Dense(1, W_std=sigma_w, b_std=sigma_b))[2](x1, x2, ("nngp", "ntk"))``.

    Args:
        x1 (array of shape (N1, n0)): first inputs.
        x2 (array of shape (N2, n0) or None): second inputs; ``None`` means ``x1``.
        hidden_layers: number of hidden (activation) layers L >= 0.
        activation: ``"relu"`` or ``"erf"``.
        sigma_w: weight standard deviation.
        sigma_b: bias standard deviation.
        parameterization: ``"ntk"`` (width-independent) or ``"standard"``.
        widths: hidden widths, ``len(widths) == hidden_layers``; required (and only used) for
            ``"standard"``, whose NTK depends on them.

    Returns:
        ``{"nngp": (N1, N2), "ntk": (N1, N2)}`` in the dtype of ``x1``.

    Raises:
        ValueError: for an unknown activation or parameterisation, or missing ``widths``.
    """
    if activation not in _KERNELS:
        raise ValueError(
            f"activation must be one of {ANALYTIC_ACTIVATIONS} for closed-form kernels, "
            f"got {activation!r}"
        )
    if parameterization not in ("ntk", "standard"):
        raise ValueError(
            f"parameterization must be one of ('ntk', 'standard'), got {parameterization!r}"
        )
    if hidden_layers < 0:
        raise ValueError(f"hidden_layers must be >= 0, got {hidden_layers}")
    standard = parameterization == "standard"
    if standard:
        if widths is None or len(widths) != hidden_layers:
            raise ValueError(
                "the standard-parameterisation NTK depends on the widths: pass widths with "
                f"len(widths) == hidden_layers == {hidden_layers}, got {widths!r}"
            )
        fan_ins = (x1.shape[-1],) + tuple(widths)
    kernel = _KERNELS[activation]
    x2_ = x1 if x2 is None else x2
    n0 = x1.shape[-1]
    sw2, sb2 = sigma_w**2, sigma_b**2

    # Post-activation second moments of the layer input (the raw inputs for the first layer).
    t11 = jnp.sum(x1 * x1, axis=-1)[:, None] / n0  # (N1, 1)
    t22 = jnp.sum(x2_ * x2_, axis=-1)[None, :] / n0  # (1, N2)
    t12 = jnp.matmul(x1, x2_.T, precision="highest") / n0  # (N1, N2)
    theta_post = jnp.zeros_like(t12)  # Theta^{l} * T_dot, zero below the first layer
    for layer in range(hidden_layers + 1):
        q1, q2, s12 = sw2 * t11 + sb2, sw2 * t22 + sb2, sw2 * t12 + sb2
        if standard:
            theta = fan_ins[layer] * t12 + sw2 * theta_post + 1.0
        else:
            theta = s12 + sw2 * theta_post
        if layer == hidden_layers:
            break
        t12, t_dot = kernel(q1, q2, s12)
        t11, _ = kernel(q1, q1, q1)
        t22, _ = kernel(q2, q2, q2)
        theta_post = theta * t_dot
    return {"nngp": s12, "ntk": theta}
