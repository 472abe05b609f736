r"""Finite-width NTK at initialisation against the infinite-width kernel, as the width grows.

For every hidden width ``n`` of ``model.widths`` and every sample (an independent initialisation
of the MLP), the empirical NTK ``K`` (paper Eq. 3, the full ``(N n_L) x (N n_L)`` kernel in
sample-major order) on the ``N`` training inputs is compared with the closed-form kernel of the
same architecture, ``Θ∞ ⊗ I_{n_L}`` (different outputs are independent with identical kernels in
the limit; the cross-output blocks of ``K`` are finite-width fluctuations and count as error):

.. math:: \mathrm{rel\_error\_ntk} = \|K - Θ∞ ⊗ I\|_F / \|Θ∞ ⊗ I\|_F
    \;\sim\; n^{-1/2}.

``Θ∞`` and the NNGP ``Σ∞`` come from :func:`~typicality_ntk.ntk.infinite_width_kernels` on the
host, once per point (in NTK parameterisation they do not depend on the width; in standard
parameterisation the NTK does), and are shared by every sample as the traced context.

The finite-width NNGP is read off the readout layer: its weight and bias gradients are the
penultimate features, so their kernel (outputs averaged, exact since the readout's cross-output
blocks vanish) is ``σ_w² a·a'/n + σ_b²`` in NTK parameterisation and ``a·a' + 1`` in standard
parameterisation (mapped back to ``σ_w² a·a'/n + σ_b²``), the empirical counterpart of ``Σ∞``.

The empirical kernel is :func:`~typicality_ntk.ntk.empirical_ntk` with ``ntk.implementation``;
the parameters are drawn by :func:`init_params` (the law of the network's ``init_fn``, from one
normal vector). No LAPACK call anywhere: norms are sums of squares.

Columns (one row per width and sample):

* ``width``, ``n_params`` (P), ``n_outputs`` (n_L), ``n_train`` (N), ``sample``;
* ``rel_error_ntk``: ``||K - Θ∞ ⊗ I||_F / ||Θ∞ ⊗ I||_F`` over the whole kernel;
* ``rel_error_diag``: the same over the ``N n_L`` diagonal entries only (kernel variances);
* ``rel_error_offdiag``: the same over the off-diagonal entries only;
* ``rel_error_nngp``: ``||Σ_n - Σ∞||_F / ||Σ∞||_F`` for the finite-width NNGP of the
  penultimate features (the readout layer's share of ``K``, see above).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from typicality_ntk.config import Config
from typicality_ntk.errors import ConfigError
from typicality_ntk.ntk import ANALYTIC_ACTIVATIONS, empirical_ntk, infinite_width_kernels
from typicality_ntk.ntk.from_config import (
    NETWORK_COORDS,
    count_params,
    dataset,
    network,
    network_static,
)
from typicality_ntk.sweep import Experiment, Point

COLUMNS = (
    *NETWORK_COORDS,
    "rel_error_ntk",
    "rel_error_diag",
    "rel_error_offdiag",
    "rel_error_nngp",
)


def check(cfg) -> None:
    """Only activations with a closed-form kernel."""
    if cfg.model.activation not in ANALYTIC_ACTIVATIONS:
        raise ConfigError(
            "model.activation",
            cfg.model.activation,
            "ntk_convergence needs a closed-form kernel: " + " or ".join(ANALYTIC_ACTIVATIONS),
        )


def analytic_kernels(x, cfg, width: int) -> dict:
    """``{"ntk": Θ∞ ⊗ I_{n_L} (N n_L, N n_L), "nngp": Σ∞ (N, N)}`` for the network of ``width``."""
    m = cfg.model
    return _analytic_kernels(
        x,
        depth=m.depth,
        activation=m.activation,
        sigma_w=float(m.sigma_w),
        sigma_b=float(m.sigma_b),
        parameterization=m.parameterization,
        widths=(int(width),) * m.depth if m.parameterization == "standard" else None,
        n_out=cfg.data.outputs,
    )


# One compiled program instead of ~50 eager dispatches (seconds of set-up on a small CPU).
@functools.partial(
    jax.jit,
    static_argnames=(
        "depth",
        "activation",
        "sigma_w",
        "sigma_b",
        "parameterization",
        "widths",
        "n_out",
    ),
)
def _analytic_kernels(x, *, depth, activation, sigma_w, sigma_b, parameterization, widths, n_out):
    k = infinite_width_kernels(
        x,
        hidden_layers=depth,
        activation=activation,
        sigma_w=sigma_w,
        sigma_b=sigma_b,
        parameterization=parameterization,
        widths=widths,
    )
    return {"ntk": jnp.kron(k["ntk"], jnp.eye(n_out, dtype=x.dtype)), "nngp": k["nngp"]}


def points(cfg, key):
    # jitted: one compile for the inputs instead of an eager dispatch per op (x is the same
    # draw as ntk_spectrum's, up to rounding of the normalisation)
    x = jax.jit(lambda k: dataset(cfg, k)["x_train"])(key)
    kernels = None
    out = []
    for w in cfg.model.widths:
        static = network_static(cfg, w)
        if kernels is None or cfg.model.parameterization == "standard":
            kernels = analytic_kernels(x, cfg, w)
        coords = {
            "width": w,
            "n_params": count_params(static, x.shape[1]),
            "n_outputs": cfg.data.outputs,
            "n_train": cfg.data.n_train,
        }
        context = {"x": x, **kernels}
        out.append(Point(coords, {**static, "implementation": cfg.ntk.implementation}, context))
    return out


def _rel(diff, ref):
    return jnp.sqrt(jnp.sum(diff**2)) / jnp.sqrt(jnp.sum(ref**2))


def _readout_nngp(apply, params, x, *, depth, width, parameterization, sigma_w, sigma_b, n_out):
    """Finite-width NNGP ``σ_w² a·a'/n + σ_b²`` from the readout layer's gradients."""
    last = f"layer{depth}"
    inner = params["params"]

    def apply_readout(p_last, xx):
        return apply({"params": {**inner, last: p_last}}, xx)

    k_last = empirical_ntk(
        apply_readout,
        inner[last],
        x,
        implementation="jacobian_contraction",
        trace_outputs=True,
    ) / jnp.asarray(n_out, x.dtype)
    if parameterization == "standard":  # K_last = a.a' + 1
        return (sigma_w**2 / width) * (k_last - 1.0) + sigma_b**2
    return k_last  # NTK parameterisation: K_last = sigma_w^2 a.a'/n + sigma_b^2


def init_params(key, init, x, *, parameterization, sigma_w, sigma_b):
    """One draw of the parameters from the law :func:`~typicality_ntk.ntk.make_mlp` documents.

    ``ntk``: every weight and bias N(0, 1); ``standard``: ``W ~ N(0, sigma_w^2 / fan_in)``,
    ``b ~ N(0, sigma_b^2)``. The structure comes from ``init`` (shapes only); the numbers from a
    single ``jax.random.normal`` call. Same law as ``init(key, x)``, another stream: flax's
    per-leaf key derivation costs ~4 s of XLA compile per program on a small CPU, one normal
    draw ~0.5 s, and every width is its own program.
    """
    shapes = jax.eval_shape(init, jax.random.key(0), jax.ShapeDtypeStruct(x[:1].shape, x.dtype))
    leaves, treedef = jax.tree_util.tree_flatten_with_path(shapes)
    sizes = [math.prod(leaf.shape) for _, leaf in leaves]
    z = jax.random.normal(key, (sum(sizes),), x.dtype)
    out, start = [], 0
    for (path, leaf), size in zip(leaves, sizes, strict=True):
        v = z[start : start + size].reshape(leaf.shape)
        start += size
        if parameterization == "standard":
            name = getattr(path[-1], "key", None)
            v = v * (sigma_w / math.sqrt(leaf.shape[0]) if name == "kernel" else sigma_b)
        out.append(v)
    return jax.tree_util.tree_unflatten(treedef, out)


def sample(key, context, *, implementation, **net):
    init, apply = network(**net)
    x = context["x"]
    params = init_params(
        key,
        init,
        x,
        parameterization=net["parameterization"],
        sigma_w=net["sigma_w"],
        sigma_b=net["sigma_b"],
    )
    k = empirical_ntk(apply, params, x, implementation=implementation)  # (N n_L, N n_L)
    theta = context["ntk"]
    diff = k - theta
    on = jnp.eye(k.shape[0], dtype=bool)
    nngp = _readout_nngp(
        apply,
        params,
        x,
        depth=net["depth"],
        width=net["width"],
        parameterization=net["parameterization"],
        sigma_w=net["sigma_w"],
        sigma_b=net["sigma_b"],
        n_out=net["n_out"],
    )
    return {
        "rel_error_ntk": _rel(diff, theta),
        "rel_error_diag": _rel(jnp.diagonal(diff), jnp.diagonal(theta)),
        "rel_error_offdiag": _rel(jnp.where(on, 0.0, diff), jnp.where(on, 0.0, theta)),
        "rel_error_nngp": _rel(nngp - context["nngp"], context["nngp"]),
    }


def plot(table, arrays, config, outdir):
    """:func:`typicality_ntk.plot.convergence.plot_ntk_convergence`, imported on first use (a
    config error or a ``figures=false`` run never loads matplotlib)."""
    from typicality_ntk.plot.convergence import plot_ntk_convergence

    return plot_ntk_convergence(table, arrays, config, outdir)


EXPERIMENT = Experiment(
    "ntk_convergence",
    points,
    sample,
    plot,
    COLUMNS,
    check=check,
    uses=("model", "data", "ntk"),
    schema=Config,
)

__all__ = [
    "COLUMNS",
    "EXPERIMENT",
    "analytic_kernels",
    "check",
    "init_params",
    "plot",
    "points",
    "sample",
]
