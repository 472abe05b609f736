r"""Empirical NTK from the structure of dense layers: no Jacobian is ever formed.

A dense layer computes ``z = c h W + s b`` from its input ``h`` (one example: a row of length
``fan_in``), with ``c = sigma_w / sqrt(fan_in)``, ``s = sigma_b`` in the NTK parameterisation
and ``c = s = 1`` in the standard one (``flax.linen.Dense``; ``s = 0`` without a bias). With
``g_k = df_k / dz`` (one row of length ``features``), ``df_k / dW = c h \otimes g_k`` and
``df_k / db = s g_k``, so the layer's share of paper Eq. (3) is

.. math:: K^{\ell}_{(i,k),(j,l)} = \bigl(c^2\, h(x_i) \cdot h(x'_j) + s^2\bigr)\,
    \bigl(g_k(x_i) \cdot g_l(x'_j)\bigr),

and the kernel is the sum over layers (Novak et al., "Fast Finite Width Neural Tangent Kernel",
ICML 2022, Sec. 3: "structured derivatives"). Per layer that is one ``N1 x N2`` Gram of layer
inputs and one ``(N1 n_out) x (N2 n_out)`` Gram of cotangents: the cost is linear in the
width instead of quadratic, and the memory holds activations, never ``N n_out P`` Jacobian
entries.

How the pieces are found, for any pure ``apply_fn(params, x) -> (batch, n_out)``:

* **flax linen**: ``apply_fn`` runs under :func:`flax.linen.intercept_methods`. The interceptor
  recognises every call of a dense module (exactly :class:`flax.linen.Dense` or this package's
  ``_Dense``, see :func:`~typicality_ntk.ntk.make_mlp`), records its input ``h`` and adds a
  zero perturbation ``eps`` to its output ``z``; the VJP of ``f`` with respect to the
  perturbations, one per output ``k``, is ``g_k`` for every layer at once. ``c`` and ``s`` come
  from the module's attributes. A parameter leaf no dense layer owns (a layer norm's scale, a
  convolution) is handled by Jacobian contraction on those leaves only, and its share added.
* **MaskedMLP** (:mod:`~typicality_ntk.ntk.masked`, not linen): pass
  ``functools.partial(net.apply, width=width)``; its forward pass is rerun here with the
  perturbations, ``c`` uses the active (traced) fan-in, and the masked units have zero inputs
  and zero cotangents, so the kernel is the unpadded network's.

:func:`analyze` checks the structure at trace time and raises :class:`StructureError` (a
one-line ``ValueError``) when the formula would not be exact: no dense layer, a dense layer
called more than once per forward pass (shared weights), inputs not of shape ``(batch,
fan_in)``, a dense layer whose parameters are not leaves of ``params`` as given (``apply_fn``
transforms them, or a lifted transform such as ``nn.remat`` rewraps them), or one leaf owned
by two layers. Not detected: a dense layer's leaf that ``apply_fn`` *also* uses outside that
layer (tied weights where the second use is not a dense layer); its other use would be missed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen.dtypes import promote_dtype as _flax_promote_dtype
from jax import Array

from typicality_ntk.ntk._mlp import _Dense
from typicality_ntk.ntk.masked import _ACT, MaskedMLP

__all__ = [
    "DenseLayer",
    "Structure",
    "StructureError",
    "StructuredFeatures",
    "analyze",
    "structured_features",
    "structured_kernel",
]

Params = Any
ApplyFn = Callable[[Params, Array], Array]

_HIGHEST = jax.lax.Precision.HIGHEST
_DENSE_TYPES = (nn.Dense, _Dense)


class StructureError(ValueError):
    """``apply_fn`` has no structured form (the message, one line, says why)."""


class DenseLayer(NamedTuple):
    """Static description of one dense layer of a linen ``apply_fn``.

    Attributes:
        path: the module's scope path (its key in the parameter tree).
        features: width of its output ``z``.
        dtype: dtype of ``z``.
        c2: ``c**2``, the squared scale of ``h W``.
        s2: ``s**2``, the squared scale of the bias (0 without a bias).
        leaves: indices (in ``jax.tree_util.tree_leaves(params)``) of its kernel and bias.
    """

    path: tuple[str, ...]
    features: int
    dtype: Any
    c2: float
    s2: float
    leaves: tuple[int, ...]


class Structure(NamedTuple):
    """What :func:`analyze` found; ``masked`` is set for a MaskedMLP, ``layers`` otherwise.

    Attributes:
        layers: the dense layers, in call order.
        rest: indices of the parameter leaves no dense layer owns (Jacobian contraction).
        masked: ``(net, width)`` for ``functools.partial(net.apply, width=width)``.
    """

    layers: tuple[DenseLayer, ...] = ()
    rest: tuple[int, ...] = ()
    masked: tuple[MaskedMLP, Any] | None = None


class StructuredFeatures(NamedTuple):
    """Per-layer inputs and cotangents of a batch of ``N`` examples.

    Attributes:
        h: per layer, the inputs, shape ``(N, fan_in)``.
        g: per layer, ``df_k / dz``, shape ``(n_out, N, features)``.
        c2: per layer, ``c**2`` (a float, or a scalar array for a MaskedMLP's traced width).
        s2: per layer, ``s**2``.
        rest: per-example Jacobian of the leaves no dense layer owns (a list of arrays of shape
            ``(N, n_out, *leaf.shape)``), or ``None``.
    """

    h: tuple[Array, ...]
    g: tuple[Array, ...]
    c2: tuple[Any, ...]
    s2: tuple[Any, ...]
    rest: list[Array] | None


def _is_dense_call(context: Any) -> bool:
    return context.method_name == "__call__" and type(context.module) in _DENSE_TYPES


def _scales(module: nn.Module, fan_in: int) -> tuple[float, float]:
    """``(c**2, s**2)`` of a recognised dense module."""
    if isinstance(module, _Dense):
        if module.parameterization == "ntk":
            return module.sigma_w**2 / fan_in, module.sigma_b**2
        return 1.0, 1.0
    return 1.0, 1.0 if module.use_bias else 0.0


def _masked_of(apply_fn: ApplyFn) -> tuple[MaskedMLP, Any] | None:
    """``(net, width)`` if ``apply_fn`` is ``functools.partial(net.apply, width=width)``."""
    if not isinstance(apply_fn, functools.partial) or apply_fn.args:
        return None
    net = getattr(apply_fn.func, "__self__", None)
    if type(net) is not MaskedMLP or getattr(apply_fn.func, "__func__", None) is not (
        MaskedMLP.apply
    ):
        return None
    if set(apply_fn.keywords) != {"width"}:
        return None
    return net, apply_fn.keywords["width"]


def _analyze_masked(net: MaskedMLP, params: Params) -> None:
    try:
        layers = params["params"]
        ok = set(layers) == {f"layer{i}" for i in range(net.depth + 1)} and all(
            set(layers[f"layer{i}"]) == {"kernel", "bias"} for i in range(net.depth + 1)
        )
    except (KeyError, TypeError):
        ok = False
    if not ok or len(params) != 1:
        raise StructureError(
            "structured NTK of a MaskedMLP needs its parameter layout "
            "{'params': {'layer{l}': {'kernel', 'bias'}}} and nothing else"
        )


def analyze(apply_fn: ApplyFn, params: Params, x: Array) -> Structure:
    """Find the dense layers of ``apply_fn`` and check the structured formula is exact.

    Traces ``apply_fn`` once (``jax.eval_shape``: no computation), so it works on tracers.

    Args:
        apply_fn: pure ``apply_fn(params, x) -> (batch, n_out)``.
        params: its parameter pytree.
        x (array of shape (N, ...)): a batch of inputs.

    Returns:
        A :class:`Structure`.

    Raises:
        StructureError: (a ``ValueError``, one line) when the structured route cannot be used.
    """
    masked = _masked_of(apply_fn)
    if masked is not None:
        _analyze_masked(masked[0], params)
        return Structure(masked=masked)

    n = x.shape[0]
    records: list[DenseLayer] = []
    problems: list[str] = []
    counts: dict[tuple[str, ...], int] = {}

    def discover(params: Params, x: Array) -> Array:
        ids = {id(leaf): i for i, leaf in enumerate(jax.tree_util.tree_leaves(params))}

        def interceptor(fun, args, kwargs, context):
            out = fun(*args, **kwargs)
            if not _is_dense_call(context):
                return out
            module = context.module
            path = tuple(module.scope.path)
            name = "/".join(path) or type(module).__name__
            counts[path] = counts.get(path, 0) + 1
            if counts[path] > 1:
                problems.append(f"dense layer {name!r} is called more than once per forward pass")
                return out
            if isinstance(module, nn.Dense) and (
                module.dot_general is not None
                or module.dot_general_cls is not None
                or module.promote_dtype is not _flax_promote_dtype
            ):
                problems.append(f"dense layer {name!r} has a custom dot_general or promote_dtype")
                return out
            if len(args) != 1 or kwargs:
                problems.append(f"dense layer {name!r} is not called with one positional input")
                return out
            h = args[0]
            variables = module.variables
            owned = variables.get("params", {})
            expected = {"kernel", "bias"} if _s_exists(module) else {"kernel"}
            if set(variables) != {"params"} or set(owned) != expected:
                problems.append(f"dense layer {name!r} has variables other than kernel and bias")
                return out
            kernel = owned["kernel"]
            fan_in = kernel.shape[0]
            if jnp.ndim(h) != 2 or h.shape != (n, fan_in) or out.shape != (n, kernel.shape[1]):
                problems.append(
                    f"dense layer {name!r} has input shape {jnp.shape(h)}, not (batch, fan_in) = "
                    f"({n}, {fan_in})"
                )
                return out
            leaves = tuple(ids.get(id(owned[k]), -1) for k in sorted(expected, reverse=True))
            if -1 in leaves:
                problems.append(
                    f"the parameters of dense layer {name!r} are not leaves of params as given "
                    "(apply_fn or a lifted transform changes them)"
                )
                return out
            c2, s2 = _scales(module, fan_in)
            records.append(DenseLayer(path, int(out.shape[1]), out.dtype, c2, s2, leaves))
            return out

        with nn.intercept_methods(interceptor):
            return apply_fn(params, x)

    jax.eval_shape(discover, params, x)
    if problems:
        raise StructureError(f"structured NTK not applicable: {problems[0]}")
    if not records:
        raise StructureError(
            "structured NTK needs flax linen Dense layers (nn.Dense or make_mlp's) or "
            "functools.partial(MaskedMLP.apply, width=...); apply_fn has none"
        )
    owned = [i for layer in records for i in layer.leaves]
    if len(set(owned)) != len(owned):
        raise StructureError("structured NTK not applicable: two dense layers share a parameter")
    n_leaves = len(jax.tree_util.tree_leaves(params))
    rest = tuple(i for i in range(n_leaves) if i not in set(owned))
    return Structure(layers=tuple(records), rest=rest)


def _s_exists(module: nn.Module) -> bool:
    """Whether a recognised dense module has a bias parameter."""
    return isinstance(module, _Dense) or bool(module.use_bias)


def _cotangents(n_out: int, n: int, dtype) -> Array:
    """One-hot output cotangents, shape ``(n_out, n, n_out)``: entry ``[k, i, l] = [k == l]``."""
    eye = jnp.eye(n_out, dtype=dtype)
    return jnp.broadcast_to(eye[:, None, :], (n_out, n, n_out))


def _rest_jacobian(
    apply_fn: ApplyFn, params: Params, x: Array, rest: tuple[int, ...]
) -> list[Array]:
    """Per-example Jacobian of the leaves ``rest`` only: arrays ``(N, n_out, *leaf.shape)``."""
    leaves, treedef = jax.tree_util.tree_flatten(params)

    def f(rest_leaves: list[Array], xi: Array) -> Array:
        full = list(leaves)
        for i, leaf in zip(rest, rest_leaves, strict=True):
            full[i] = leaf
        return apply_fn(jax.tree_util.tree_unflatten(treedef, full), xi[None])[0]

    return jax.vmap(jax.jacrev(f), in_axes=(None, 0))([leaves[i] for i in rest], x)


def _linen_features(
    structure: Structure, apply_fn: ApplyFn, params: Params, x: Array, n_out: int
) -> StructuredFeatures:
    layers = structure.layers
    index = {layer.path: i for i, layer in enumerate(layers)}
    n = x.shape[0]

    def forward(eps: tuple[Array, ...]) -> tuple[Array, tuple[Array, ...]]:
        inputs: dict[int, Array] = {}

        def interceptor(fun, args, kwargs, context):
            out = fun(*args, **kwargs)
            if not _is_dense_call(context):
                return out
            i = index[tuple(context.module.scope.path)]
            inputs[i] = args[0]
            return out + eps[i]

        with nn.intercept_methods(interceptor):
            out = apply_fn(params, x)
        return out, tuple(inputs[i] for i in range(len(layers)))

    eps = tuple(jnp.zeros((n, layer.features), layer.dtype) for layer in layers)
    out, vjp, h = jax.vjp(forward, eps, has_aux=True)
    (g,) = jax.vmap(vjp)(_cotangents(n_out, n, out.dtype))
    rest = _rest_jacobian(apply_fn, params, x, structure.rest) if structure.rest else None
    c2 = tuple(layer.c2 for layer in layers)
    s2 = tuple(layer.s2 for layer in layers)
    return StructuredFeatures(h, g, c2, s2, rest)


def _masked_features(net: MaskedMLP, width: Any, params: Params, x: Array) -> StructuredFeatures:
    """MaskedMLP.apply rerun with a perturbation on every pre-activation."""
    p = params["params"]
    act = _ACT[net.activation]
    n, n_in = x.shape[0], x.shape[-1]
    unit_mask = net.unit_mask(width, x.dtype)[None, :]  # (1, width_pad)
    fan_ins = [n_in] + [width] * net.depth

    def forward(eps: tuple[Array, ...]) -> tuple[Array, tuple[Array, ...]]:
        h, inputs = x, []
        for layer in range(net.depth):
            inputs.append(h)
            z = net._dense(h, p[f"layer{layer}"], fan_ins[layer]) + eps[layer]
            h = act(z) * unit_mask
        inputs.append(h)
        out = net._dense(h, p[f"layer{net.depth}"], width) + eps[net.depth]
        return out, tuple(inputs)

    dtype = jnp.result_type(jax.eval_shape(net.apply, params, x[:1], width))
    sizes = [net.width_pad] * net.depth + [net.n_out]
    eps = tuple(jnp.zeros((n, size), dtype) for size in sizes)
    out, vjp, h = jax.vjp(forward, eps, has_aux=True)
    (g,) = jax.vmap(vjp)(_cotangents(net.n_out, n, out.dtype))
    if net.parameterization == "ntk":
        c2 = tuple(net.sigma_w**2 / jnp.asarray(f, dtype) for f in fan_ins)
        s2 = (net.sigma_b**2,) * (net.depth + 1)
    else:
        c2 = s2 = (1.0,) * (net.depth + 1)
    return StructuredFeatures(h, g, c2, s2, None)


def structured_features(
    structure: Structure, apply_fn: ApplyFn, params: Params, x: Array, n_out: int
) -> StructuredFeatures:
    """Layer inputs and output cotangents of the batch ``x`` (see the module docstring).

    Args:
        structure: from :func:`analyze` (on any batch of the same kind of input).
        apply_fn: the function analysed.
        params: its parameters.
        x (array of shape (N, ...)): inputs.
        n_out: outputs of ``apply_fn`` per example.

    Returns:
        :class:`StructuredFeatures` of ``x``: ``n_out`` VJPs and one forward pass.
    """
    if structure.masked is not None:
        net, width = structure.masked
        return _masked_features(net, width, params, x)
    return _linen_features(structure, apply_fn, params, x, n_out)


def structured_kernel(f1: StructuredFeatures, f2: StructuredFeatures, trace_outputs: bool) -> Array:
    r"""``sum_l (c^2 H1 H2^T + s^2) * (G1 . G2)`` (+ Jacobian contraction of the rest leaves).

    Args:
        f1: features of ``x1`` (``N1`` examples).
        f2: features of ``x2`` (``N2`` examples).
        trace_outputs: sum over the output index.

    Returns:
        Array of shape ``(N1, n_out, N2, n_out)``, or ``(N1, N2)`` if ``trace_outputs``.
    """
    dtype = f1.g[0].dtype
    k = None
    for h1, g1, c2, s2, h2, g2 in zip(f1.h, f1.g, f1.c2, f1.s2, f2.h, f2.g, strict=True):
        a = (c2 * jnp.matmul(h1, h2.T, precision=_HIGHEST) + s2).astype(dtype)  # (N1, N2)
        # The cotangent Gram as ONE 2-D GEMM on row-major views: XLA:CPU compiled the 3-D einsum
        # "kif,ljf->ikjl" against a transposed copy of g2 (bench/RESULTS.md: 39% -> 65% of the
        # f32 matmul peak at N = 4096, bit-identical kernel).
        n_out, n1, n2 = g1.shape[0], g1.shape[1], g2.shape[1]
        if trace_outputs:  # sum_k folded into the contraction: (N1, O F) x (N2, O F)^T
            rows1 = g1.transpose(1, 0, 2).reshape(n1, -1)
            term = a * _gemm_nt(rows1, g2.transpose(1, 0, 2).reshape(n2, -1))
        else:  # (O N1, F) x (O N2, F)^T -> (O, N1, O, N2) -> (N1, O, N2, O)
            gg = _gemm_nt(g1.reshape(n_out * n1, -1), g2.reshape(n_out * n2, -1))
            term = a[:, None, :, None] * gg.reshape(n_out, n1, n_out, n2).transpose(1, 0, 3, 2)
        k = term if k is None else k + term
    if f1.rest is not None:
        for a1, a2 in zip(f1.rest, f2.rest, strict=True):  # (N, O, ...) Jacobian leaves
            n1, n2, o = a1.shape[0], a2.shape[0], a1.shape[1]
            if trace_outputs:
                part = _gemm_nt(a1.reshape(n1, -1), a2.reshape(n2, -1))
            else:
                part = _gemm_nt(a1.reshape(n1 * o, -1), a2.reshape(n2 * o, -1))
                part = part.reshape(n1, o, n2, o)
            k = k + part.astype(dtype)
    return k


def _gemm_nt(a: Array, b: Array) -> Array:
    """``a @ b.T`` for 2-D ``a`` (m, p) and ``b`` (n, p), full precision, no transposed copy."""
    return jax.lax.dot_general(a, b, (((1,), (1,)), ((), ())), precision=_HIGHEST)
