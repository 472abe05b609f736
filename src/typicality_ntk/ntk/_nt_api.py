r"""neural-tangents' empirical API (``nt.empirical_ntk_fn`` and friends) on :func:`make_ntk_fn`.

neural-tangents 0.6.5 (archived) does not import on current JAX. The functions here have its
names, signatures, axis conventions and numbers (``tests/test_nt_api.py`` checks them against
outputs of nt 0.6.5 itself), so an nt script runs after changing ``import neural_tangents as nt``
to ``from typicality_ntk import ntk as nt``. The NTK is always computed by :func:`make_ntk_fn`:
there is one implementation behind both APIs.

**Layout** (nt's): for ``f(params, x)`` of output shape ``(d_0, ..., d_{n-1})`` (the batch is
one of these axes, usually ``d_0``) the kernel has, axis by axis in order, the pair
``(d_i(x1), d_i(x2))`` (zipped: ``(N1, N2, 3, 3, 2, 2)`` for outputs ``(N, 3, 2)``), except that
an axis in ``trace_axes`` is absent (the kernel is **averaged** over it: nt divides the trace by
the axis size) and an axis in ``diagonal_axes`` appears once. ``diagonal_axes=(0,)`` is the
per-example diagonal ``K(x1_i, x2_i)``; the default ``trace_axes=(-1,)`` on ``(N, n_out)``
outputs gives the ``(N1, N2)`` mean over outputs.

**How** ``empirical_ntk_fn`` computes it:

* ``vmap_axes`` given (an int, or nt's triple ``(in_axes, out_axes, {})``): ``f`` is promised to
  treat the examples along that axis independently, so the batch axis is moved to the front, the
  other output axes flattened, and :func:`make_ntk_fn` gives the ``(N1, O, N2, O)`` kernel from
  per-example Jacobians. Traced or diagonal axes are then taken from it; when the batch axis is
  diagonal only the ``N`` blocks ``K(x1_i, x2_i)`` are computed, and when every other axis is
  traced only the output-traced ``(N1, N2)`` kernel.
* ``vmap_axes=None`` (nt's default): nothing is assumed about the batch, as in nt. ``f`` on the
  whole of ``x1`` is one "example" of :func:`make_ntk_fn` (its Jacobian has one row per output
  entry, as nt's ``jacobian(f)(params)``), so functions that mix examples are handled exactly.
  This costs what nt's default costs (Jacobians of whole batches); pass ``vmap_axes=0`` for the
  per-example route when ``f`` treats examples independently. When ``x1`` and ``x2`` differ in
  shape (or the keyword arguments differ between them), ``x1`` and ``x2`` are evaluated as one
  example holding both and the cross block is kept (up to 4x the contraction work).

Both routes give the same numbers for functions that treat examples independently.

**Implementations** (``implementation``, nt's ints or names): ``1`` / ``2`` are ours of the same
name; ``3`` / ``"structured"`` is ours, which applies to flax ``Dense`` layers only (e.g.
:func:`~typicality_ntk.ntk.make_mlp`; otherwise a one-line ``ValueError`` says why, where nt's
handles any function) and works example by example, so it needs ``vmap_axes``; ``0`` /
``"auto"`` is our :attr:`NtkImplementation.AUTO` (structured where it applies, else a cost
model), not nt's compile-and-measure-FLOPs.

**Not covered**: inputs ``x`` that are pytrees (arrays only; outputs may be pytrees, each leaf
gets its own kernel, cross terms ignored, as in nt); per-keyword ``vmap_axes`` are accepted, but
then the whole-batch route is taken; nt's private ``_j_rules``, ``_s_rules`` and ``_fwd`` are
accepted and ignored; ``empirical_ntk_vp_fn`` is not provided.

``apply_fn_kwargs`` are split between ``x1`` and ``x2`` as nt does: ``rng`` (a key) is kept for
``x1`` and, when ``x2`` is given and differs from ``x1``, folded with 1 for ``x2``; a tuple of two
values gives one to each (for ``rng``, without nt's re-keying of equal pairs); anything else is
passed to both.
"""

import collections
import functools
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from typicality_ntk.ntk._empirical import NtkImplementation, make_ntk_fn

__all__ = [
    "as_implementation",
    "empirical_kernel_fn",
    "empirical_nngp_fn",
    "empirical_ntk_fn",
    "linearize",
    "taylor_expand",
]

PyTree = Any
Axes = int | Sequence[int]

_HIGHEST = jax.lax.Precision.HIGHEST

#: nt's ``NtkImplementation`` integers (``nt.NtkImplementation`` members are these ints).
NT_IMPLEMENTATION_CODES: dict[int, str] = {
    0: "auto",
    1: "jacobian_contraction",
    2: "ntk_vector_products",
    3: "structured",
}
_IMPLEMENTATION_NAMES: dict[str, str] = {
    "auto": "auto",
    "jacobian_contraction": "jacobian_contraction",
    "ntk_vector_products": "ntk_vector_products",
    "structured": "structured",
    "structured_derivatives": "structured",  # nt's member name
}
#: nt's default ``implementation`` (``NtkImplementation.JACOBIAN_CONTRACTION``).
DEFAULT_NTK_IMPLEMENTATION = 1


def as_implementation(implementation: "NtkImplementation | int | str") -> NtkImplementation:
    """Our :class:`NtkImplementation` for nt's ``implementation`` argument.

    Args:
        implementation: a :class:`NtkImplementation`; nt's integer (or ``nt.NtkImplementation``
            member, an ``IntEnum``): ``0`` auto, ``1`` Jacobian contraction, ``2`` NTK-vector
            products, ``3`` structured derivatives; or a name, ``"auto"``,
            ``"jacobian_contraction"``, ``"ntk_vector_products"``, ``"structured"`` (also nt's
            ``"STRUCTURED_DERIVATIVES"``; case-insensitive).

    Raises:
        ValueError: for anything else.
    """
    if isinstance(implementation, NtkImplementation):
        return implementation
    if isinstance(implementation, (int, np.integer)) and not isinstance(implementation, bool):
        value = NT_IMPLEMENTATION_CODES.get(int(implementation))
    elif isinstance(implementation, str):
        value = _IMPLEMENTATION_NAMES.get(implementation.lower())
    else:
        value = None
    if value is None:
        raise ValueError(
            f"implementation must be one of {tuple(NT_IMPLEMENTATION_CODES)} or "
            f"{tuple(_IMPLEMENTATION_NAMES)}, got {implementation!r}"
        )
    return NtkImplementation(value)


# --------------------------------------------------------------------------- axes and layout


def _check_axes_type(axes: Axes, name: str) -> tuple[int, ...]:
    axes = (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise ValueError(f"{name} must be an int or a sequence of ints, got {axes!r}")
    return tuple(int(a) for a in axes)


def _canonical_axes(axes: tuple[int, ...], ndim: int, name: str) -> tuple[int, ...]:
    """Sorted non-negative axes of an ``ndim``-dimensional output (duplicates merged, as nt)."""
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"{name}={axes} is out of range for outputs with {ndim} dimensions")
    return tuple(sorted({a % ndim for a in axes}))


def _labels(ndim: int, trace: tuple[int, ...], diag: tuple[int, ...]):
    """Einsum labels: x1 side ``i``, x2 side ``ndim + i`` (``i`` if traced / diagonal); output."""
    side1 = list(range(ndim))
    side2 = [i if (i in trace or i in diag) else ndim + i for i in range(ndim)]
    out = []
    for i in range(ndim):
        if i in diag:
            out.append(i)
        elif i not in trace:
            out += [i, ndim + i]
    return side1, side2, out


def _check_paired_shapes(
    shape1: tuple[int, ...], shape2: tuple[int, ...], axes: tuple[int, ...], what: str
) -> None:
    if len(shape1) != len(shape2):
        raise ValueError(
            f"x2: f(params, x2) has shape {shape2} but f(params, x1) has shape {shape1}"
        )
    for a in axes:
        if shape1[a] != shape2[a]:
            raise ValueError(
                f"x2: f(params, x2) of shape {shape2} and f(params, x1) of shape {shape1} differ "
                f"on axis {a}, which is in {what}"
            )


# --------------------------------------------------------------------------- keyword arguments


def _is_array(x: Any) -> bool:
    return isinstance(x, (jax.Array, np.ndarray))


def _same_inputs(x1: Array, x2: Array) -> Array | bool:
    """nt's ``x1_is_x2`` (shapes equal and entries within 1e-12)."""
    if x1 is x2:
        return True
    if x1.shape != x2.shape:
        return False
    return jnp.all(jnp.abs(x1 - x2) < 1e-12)


def _split_kwargs(kwargs: dict, x1: Array, x2: Array | None) -> tuple[dict, dict]:
    """nt's ``split_kwargs``: per-side keyword arguments for ``x1`` and ``x2``."""
    kwargs1, kwargs2 = {}, {}
    for name, value in kwargs.items():
        if name == "rng" and (x2 is None or value is None):
            kwargs1[name] = kwargs2[name] = value
        elif name == "rng" and _is_array(value):
            kwargs1[name] = value
            kwargs2[name] = jnp.where(_same_inputs(x1, x2), value, jax.random.fold_in(value, 1))
        elif isinstance(value, tuple) and len(value) == 2:
            kwargs1[name], kwargs2[name] = value
        else:
            kwargs1[name] = kwargs2[name] = value
    return kwargs1, kwargs2


def _check_input(x: Any, name: str) -> None:
    if not _is_array(x):
        raise ValueError(f"{name} must be an array (pytrees of inputs are not supported)")


def _output_shapes(f, params, x1, x2, kwargs1, kwargs2):
    """``eval_shape`` of ``f`` on both inputs; errors on ``x2`` alone become a ``ValueError``."""
    fx1 = jax.eval_shape(lambda p, x: f(p, x, **kwargs1), params, x1)
    if x2 is None:
        return fx1, fx1
    try:
        fx2 = jax.eval_shape(lambda p, x: f(p, x, **kwargs2), params, x2)
    except (TypeError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(
            f"x2: f(params, x2) fails for x2 of shape {x2.shape} (x1 has shape {x1.shape}): {first}"
        ) from error
    if jax.tree_util.tree_structure(fx1) != jax.tree_util.tree_structure(fx2):
        raise ValueError("x2: f(params, x2) and f(params, x1) have different pytree structures")
    return fx1, fx2


# --------------------------------------------------------------------------- vmap_axes


def _batch_axes(vmap_axes: Any) -> tuple[int | None, int | None, bool]:
    """``(in_axis, out_axis, per_keyword)`` from nt's ``vmap_axes``; validated at construction."""
    if vmap_axes is None:
        return None, None, False
    if isinstance(vmap_axes, tuple) and len(vmap_axes) == 3:
        in_axes, out_axes, kw_axes = vmap_axes
    else:
        in_axes, out_axes, kw_axes = vmap_axes, vmap_axes, {}
    ok = all(
        isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in (in_axes, out_axes)
    )
    if not ok or not isinstance(kw_axes, dict):
        raise ValueError(
            "vmap_axes must be None, an int or a triple (in_axis: int, out_axis: int, "
            f"kwargs_axes: dict), got {vmap_axes!r}"
        )
    return int(in_axes), int(out_axes), bool(kw_axes)


# --------------------------------------------------------------------------- NTK


def _leaf(f: Callable, index: int | None) -> Callable:
    """``f`` restricted to one leaf of its (pytree) output; ``index=None``: ``f`` itself."""
    if index is None:
        return f

    def f_leaf(params, x, **kwargs):
        return jax.tree_util.tree_leaves(f(params, x, **kwargs))[index]

    return f_leaf


def _ntk_per_example(
    f, params, x1, x2, kwargs, shape1, shape2, in_axis, out_axis, trace, diag, impl
) -> Array:
    """``vmap_axes`` route: per-example Jacobians of the batch along ``in_axis`` / ``out_axis``."""
    ndim = len(shape1)
    in_axis %= x1.ndim
    out_axis %= ndim

    def g(p, xb):  # (B, ...) -> (B, O), batch first
        y = f(p, jnp.moveaxis(xb, 0, in_axis), **kwargs)
        y = jnp.moveaxis(y, out_axis, 0)
        return y.reshape(y.shape[0], -1)

    xb1 = jnp.moveaxis(x1, in_axis, 0)
    xb2 = None if x2 is None else jnp.moveaxis(x2, in_axis, 0)
    rest = [i for i in range(ndim) if i != out_axis]
    rest1, rest2 = [shape1[i] for i in rest], [shape2[i] for i in rest]
    side1, side2, out = _labels(ndim, trace, diag)
    r1, r2 = [side1[i] for i in rest], [side2[i] for i in rest]

    if out_axis in diag:
        ntk_one = make_ntk_fn(g, implementation=impl)
        xb2_ = xb1 if xb2 is None else xb2
        k = jax.vmap(lambda a, b: ntk_one(params, a[None], b[None]))(xb1, xb2_)  # (N, O, O)
        k = k.reshape([shape1[out_axis], *rest1, *rest2])
        labels = [side1[out_axis], *r1, *r2]
    elif set(rest) == set(trace):
        k = make_ntk_fn(g, implementation=impl, trace_outputs=True)(params, xb1, xb2)
        return k / math.prod(rest1)
    else:
        k = make_ntk_fn(g, implementation=impl)(params, xb1, xb2)  # (N1 O, N2 O)
        k = k.reshape([shape1[out_axis], *rest1, shape2[out_axis], *rest2])
        labels = [side1[out_axis], *r1, side2[out_axis], *r2]
    size = math.prod(shape1[i] for i in trace)
    return jnp.einsum(k, labels, out, precision=_HIGHEST) / size


def _ntk_whole_batch(
    f, params, x1, x2, kwargs1, kwargs2, shared, shape1, shape2, trace, diag, impl
):
    """``vmap_axes=None`` route: ``f`` on the whole batch is one example of :func:`make_ntk_fn`."""
    o1 = math.prod(shape1)

    def one(x_shape, kwargs):
        def g(p, z):  # (1, size) -> (1, O)
            return f(p, z[0].reshape(x_shape), **kwargs).reshape(1, -1)

        return g

    if x2 is None:
        k = make_ntk_fn(one(x1.shape, kwargs1), implementation=impl)(params, x1.reshape(1, -1))
    elif shared and x1.shape == x2.shape:
        g = one(x1.shape, kwargs1)
        k = make_ntk_fn(g, implementation=impl)(params, x1.reshape(1, -1), x2.reshape(1, -1))
    else:
        s1 = x1.size

        def g(p, z):  # x1 and x2 as one example: (1, s1 + s2) -> (1, o1 + o2)
            y1 = f(p, z[0, :s1].reshape(x1.shape), **kwargs1).reshape(-1)
            y2 = f(p, z[0, s1:].reshape(x2.shape), **kwargs2).reshape(-1)
            return jnp.concatenate([y1, y2])[None]

        z = jnp.concatenate([x1.reshape(-1), x2.reshape(-1).astype(x1.dtype)])[None]
        k = make_ntk_fn(g, implementation=impl)(params, z)[:o1, o1:]
    k = k.reshape(tuple(shape1) + tuple(shape2))
    side1, side2, out = _labels(len(shape1), trace, diag)
    size = math.prod(shape1[i] for i in trace)
    return jnp.einsum(k, side1 + side2, out, precision=_HIGHEST) / size


def empirical_ntk_fn(
    f: Callable[..., PyTree],
    trace_axes: Axes = (-1,),
    diagonal_axes: Axes = (),
    vmap_axes: Any = None,
    implementation: "NtkImplementation | int | str" = DEFAULT_NTK_IMPLEMENTATION,
    _j_rules: bool = True,
    _s_rules: bool = True,
    _fwd: bool | None = None,
) -> Callable[..., PyTree]:
    """nt's ``empirical_ntk_fn``: a function drawing the empirical NTK of ``f``.

    Args:
        f: ``f(params, x, **kwargs)`` returning an array of any shape (or a pytree of them; each
            leaf gets its own kernel).
        trace_axes: output axes to average the kernel over (nt's trace divided by the size).
        diagonal_axes: output axes along which only the diagonal is kept (appearing once).
        vmap_axes: ``None`` (no assumption about the batch), or the batch axis of inputs and
            outputs (an int, or ``(in_axis, out_axis, kwargs_axes)``) along which ``f`` treats
            examples independently. Only the cost depends on it (see the module docstring).
        implementation: nt's ``0``-``3``, a name or a :class:`NtkImplementation`, see
            :func:`as_implementation`. nt's default ``1``, Jacobian contraction.
        _j_rules: nt's internal option; ignored.
        _s_rules: nt's internal option; ignored.
        _fwd: nt's internal option; ignored.

    Returns:
        ``ntk_fn(x1, x2, params, **apply_fn_kwargs)``; ``x2=None`` means ``x1``. The kernel has
        nt's layout (module docstring), e.g. ``(N1, N2)`` for ``(N, n_out)`` outputs with the
        default ``trace_axes=(-1,)``, ``(N1, N2, n_out, n_out)`` with ``trace_axes=()``.

    Raises:
        ValueError: for an unknown ``implementation``, non-integer axes, ``trace_axes`` and
            ``diagonal_axes`` overlapping or a malformed ``vmap_axes``; when called, for axes out
            of range, ``x1`` / ``x2`` that are not arrays, ``x2`` with another feature shape
            than ``x1``, or outputs differing on traced / diagonal axes.
    """
    del _j_rules, _s_rules, _fwd
    impl = as_implementation(implementation)
    trace_axes = _check_axes_type(trace_axes, "trace_axes")
    diagonal_axes = _check_axes_type(diagonal_axes, "diagonal_axes")
    in_axis, out_axis, per_keyword = _batch_axes(vmap_axes)
    structured = impl.value == "structured"
    if structured and (in_axis is None or per_keyword):
        raise ValueError(
            "implementation='structured' needs vmap_axes (an int, or a triple without keyword "
            f"axes): it works example by example; got vmap_axes={vmap_axes!r}"
        )

    def ntk_fn(x1: Array, x2: Array | None, params: PyTree, **apply_fn_kwargs) -> PyTree:
        _check_input(x1, "x1")
        if x2 is not None:
            _check_input(x2, "x2")
            if in_axis is not None:
                _check_feature_shapes(x1, x2, in_axis)
        kwargs1, kwargs2 = _split_kwargs(apply_fn_kwargs, x1, x2)
        shared = all(kwargs1[k] is kwargs2[k] for k in kwargs1)
        if structured and not shared:
            raise ValueError(
                "implementation='structured' needs the same apply_fn_kwargs for x1 and x2 "
                "(an rng key or a pair splits them)"
            )
        fx1, fx2 = _output_shapes(f, params, x1, x2, kwargs1, kwargs2)
        if in_axis is not None:
            _check_vmap_axes(vmap_axes, in_axis, out_axis, x1, fx1)
        leaves1, treedef = jax.tree_util.tree_flatten(fx1)
        leaves2 = jax.tree_util.tree_leaves(fx2)
        single = treedef.num_leaves == 1 and _is_leaf_output(fx1)
        kernels = []
        for index, (leaf1, leaf2) in enumerate(zip(leaves1, leaves2, strict=True)):
            shape1, shape2 = tuple(leaf1.shape), tuple(leaf2.shape)
            ndim = len(shape1)
            trace = _canonical_axes(trace_axes, ndim, "trace_axes")
            diag = _canonical_axes(diagonal_axes, ndim, "diagonal_axes")
            if set(trace) & set(diag):
                raise ValueError(
                    f"trace_axes={trace_axes} and diagonal_axes={diagonal_axes} overlap"
                )
            _check_paired_shapes(shape1, shape2, trace, "trace_axes")
            _check_paired_shapes(shape1, shape2, diag, "diagonal_axes")
            f_leaf = _leaf(f, None if single else index)
            if in_axis is not None and shared and not per_keyword:
                k = _ntk_per_example(
                    f_leaf, params, x1, x2, kwargs1, shape1, shape2, in_axis, out_axis,
                    trace, diag, impl,
                )  # fmt: skip
            else:
                k = _ntk_whole_batch(
                    f_leaf, params, x1, x2, kwargs1, kwargs2, shared, shape1, shape2,
                    trace, diag, impl,
                )  # fmt: skip
            kernels.append(k)
        return jax.tree_util.tree_unflatten(treedef, kernels)

    return ntk_fn


def _check_vmap_axes(vmap_axes: Any, in_axis: int, out_axis: int, x1: Array, fx1: Any) -> None:
    ndims = [leaf.ndim for leaf in jax.tree_util.tree_leaves(fx1)]
    if not -x1.ndim <= in_axis < x1.ndim or not all(-n <= out_axis < n for n in ndims):
        raise ValueError(
            f"vmap_axes={vmap_axes!r} is out of range for x1 with {x1.ndim} dimensions and "
            f"outputs with {ndims}"
        )


def _is_leaf_output(fx: Any) -> bool:
    return isinstance(fx, jax.ShapeDtypeStruct)


def _check_feature_shapes(x1: Array, x2: Array, in_axis: int) -> None:
    if x1.ndim != x2.ndim or not -x1.ndim <= in_axis < x1.ndim:
        raise ValueError(
            f"x2 of shape {x2.shape} does not match x1 of shape {x1.shape} (batch axis {in_axis})"
        )
    axis = in_axis % x1.ndim
    if x1.shape[:axis] + x1.shape[axis + 1 :] != x2.shape[:axis] + x2.shape[axis + 1 :]:
        raise ValueError(
            f"x2 of shape {x2.shape} has other feature dimensions than x1 of shape {x1.shape} "
            f"(batch axis {in_axis})"
        )


# --------------------------------------------------------------------------- NNGP and both


def empirical_nngp_fn(
    f: Callable[..., PyTree], trace_axes: Axes = (-1,), diagonal_axes: Axes = ()
) -> Callable[..., PyTree]:
    """nt's ``empirical_nngp_fn``: the outer product of outputs ``f(x1) f(x2)^T``.

    Same layout, averaging over ``trace_axes`` and diagonals as :func:`empirical_ntk_fn`.

    Returns:
        ``nngp_fn(x1, x2, params, **apply_fn_kwargs)``; ``x2=None`` means ``x1``.

    Raises:
        ValueError: as :func:`empirical_ntk_fn`.
    """
    trace_axes = _check_axes_type(trace_axes, "trace_axes")
    diagonal_axes = _check_axes_type(diagonal_axes, "diagonal_axes")

    def nngp_fn(x1: Array, x2: Array | None, params: PyTree, **apply_fn_kwargs) -> PyTree:
        _check_input(x1, "x1")
        if x2 is not None:
            _check_input(x2, "x2")
        kwargs1, kwargs2 = _split_kwargs(apply_fn_kwargs, x1, x2)
        _output_shapes(f, params, x1, x2, kwargs1, kwargs2)
        out1 = f(params, x1, **kwargs1)
        out2 = out1 if x2 is None else f(params, x2, **kwargs2)

        def contract(y1: Array, y2: Array) -> Array:
            ndim = y1.ndim
            trace = _canonical_axes(trace_axes, ndim, "trace_axes")
            diag = _canonical_axes(diagonal_axes, ndim, "diagonal_axes")
            if set(trace) & set(diag):
                raise ValueError(
                    f"trace_axes={trace_axes} and diagonal_axes={diagonal_axes} overlap"
                )
            _check_paired_shapes(y1.shape, y2.shape, trace, "trace_axes")
            _check_paired_shapes(y1.shape, y2.shape, diag, "diagonal_axes")
            side1, side2, out = _labels(ndim, trace, diag)
            size = math.prod(y1.shape[i] for i in trace)
            return jnp.einsum(y1, side1, y2, side2, out, precision=_HIGHEST) / size

        return jax.tree_util.tree_map(contract, out1, out2)

    return nngp_fn


_KERNEL_GETS = ("nngp", "ntk")


@functools.cache
def _empirical_kernel_type(get: tuple[str, ...]) -> type:
    return collections.namedtuple("EmpiricalKernel", get)


def _canonical_get(get: Any) -> tuple[bool, tuple[str, ...]]:
    if get is None:
        return False, _KERNEL_GETS
    single = isinstance(get, str)
    names = (get,) if single else tuple(get)
    if not names or not all(isinstance(g, str) for g in names):
        raise ValueError(f"get must be None, 'nngp', 'ntk' or a tuple of them, got {get!r}")
    names = tuple(g.lower() for g in names)
    if len(set(names)) < len(names) or not set(names) <= set(_KERNEL_GETS):
        raise ValueError(f"get must be None, 'nngp', 'ntk' or a tuple of them, got {get!r}")
    return single, names


def empirical_kernel_fn(
    f: Callable[..., PyTree],
    trace_axes: Axes = (-1,),
    diagonal_axes: Axes = (),
    vmap_axes: Any = None,
    implementation: "NtkImplementation | int | str" = DEFAULT_NTK_IMPLEMENTATION,
    _j_rules: bool = True,
    _s_rules: bool = True,
    _fwd: bool | None = None,
) -> Callable[..., Any]:
    """nt's ``empirical_kernel_fn``: NNGP and / or NTK (arguments as :func:`empirical_ntk_fn`).

    Returns:
        ``kernel_fn(x1, x2, get, params, **apply_fn_kwargs)``: for ``get`` a string
        (``"nngp"`` or ``"ntk"``) the kernel; for a tuple an ``EmpiricalKernel`` namedtuple with
        those fields in that order; ``get=None`` means ``("nngp", "ntk")``. For pytree outputs,
        the pytree of kernels / namedtuples (nt's layout).

    Raises:
        ValueError: as :func:`empirical_ntk_fn`, and for an unknown ``get``.
    """
    fns = {
        "nngp": empirical_nngp_fn(f, trace_axes, diagonal_axes),
        "ntk": empirical_ntk_fn(
            f, trace_axes, diagonal_axes, vmap_axes, implementation, _j_rules, _s_rules, _fwd
        ),
    }

    def kernel_fn(x1: Array, x2: Array | None, get: Any, params: PyTree, **apply_fn_kwargs) -> Any:
        single, names = _canonical_get(get)
        outs = [fns[g](x1, x2, params, **apply_fn_kwargs) for g in names]
        if single:
            return outs[0]
        kernel_type = _empirical_kernel_type(names)
        return jax.tree_util.tree_map(lambda *ks: kernel_type(*ks), *outs)

    return kernel_fn


# --------------------------------------------------------------------------- Taylor series


def linearize(f: Callable[..., PyTree], params: PyTree) -> Callable[..., PyTree]:
    """nt's ``linearize``: the first-order Taylor series of ``f`` in its parameters.

    Returns:
        ``f_lin(new_params, *args, **kwargs) = f(params, *args, **kwargs) + J (new_params -
        params)``, the Jacobian-vector product taken at ``params``.
    """

    def f_lin(p: PyTree, *args, **kwargs) -> PyTree:
        dparams = jax.tree_util.tree_map(operator.sub, p, params)
        f0, df = jax.jvp(lambda q: f(q, *args, **kwargs), (params,), (dparams,))
        return jax.tree_util.tree_map(operator.add, f0, df)

    return f_lin


def taylor_expand(f: Callable[..., PyTree], params: PyTree, degree: int) -> Callable[..., PyTree]:
    """nt's ``taylor_expand``: the Taylor series of ``f`` about ``params`` to order ``degree``.

    Returns:
        ``f_tayl(new_params, *args, **kwargs) = sum_{k <= degree} D^k f(params)[dp, ..., dp] /
        k!`` with ``dp = new_params - params`` (nested JVPs).
    """

    def expand(g, dparams, current):
        if current == degree:
            return g(params)

        def g_jvp(p):
            return jax.jvp(g, (p,), (dparams,))[1]

        dg = expand(g_jvp, dparams, current + 1)
        return jax.tree_util.tree_map(lambda a, b: a + b / (current + 1), g(params), dg)

    def f_tayl(p: PyTree, *args, **kwargs) -> PyTree:
        dparams = jax.tree_util.tree_map(operator.sub, p, params)
        return expand(lambda q: f(q, *args, **kwargs), dparams, 0)

    return f_tayl
