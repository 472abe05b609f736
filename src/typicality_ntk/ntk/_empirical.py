r"""Empirical (finite-width) neural tangent kernel of any pure ``apply_fn(params, x)``.

The kernel is Eq. (3) of the paper,

.. math:: K_{(i,k),(j,l)} = \sum_{p=1}^{P}
    \frac{\partial f_k(x^{(1)}_i, \theta)}{\partial \theta_p}
    \frac{\partial f_l(x^{(2)}_j, \theta)}{\partial \theta_p},

for network outputs ``k, l < n_out`` and examples ``i < N1``, ``j < N2``. It is returned as a
matrix of shape ``(N1 * n_out, N2 * n_out)`` in **sample-major** order: row ``i * n_out + k``,
column ``j * n_out + l``, i.e. ``K.reshape(N1, n_out, N2, n_out)[i, k, j, l]``. (The paper
writes the same ``n_L N x n_L N`` kernel with the pair ``(i, x_k)`` as index; the ordering of the
pair only permutes rows and columns.) With ``trace_outputs=True`` the result is the ``(N1, N2)``
matrix ``sum_k K[(i, k), (j, k)]`` (a sum, not neural-tangents' mean over outputs).

Three implementations, as in neural-tangents (Novak et al., "Fast Finite Width Neural Tangent
Kernel", 2022):

* :attr:`NtkImplementation.JACOBIAN_CONTRACTION`: per-example Jacobians ``vmap(jacrev)`` flattened
  to ``J`` of shape ``(N * n_out, P)``, then ``K = J1 J2^T``, contracted leaf by leaf of the
  parameter pytree.
* :attr:`NtkImplementation.NTK_VECTOR_PRODUCTS`: ``J2`` is never formed. Each row of ``J1`` (a
  VJP of one example and one output, i.e. ``J1^T e``) is pushed forward through
  ``jax.linearize(lambda p: apply_fn(p, x2), params)`` (a JVP), giving the row ``J2 J1^T e`` of
  ``K`` directly. The ``J1`` rows of one block of ``x1`` are alive at the same time (as in
  neural-tangents, whose docs state the memory is the same as Jacobian contraction); use
  ``batch_size`` to bound them.
* :attr:`NtkImplementation.STRUCTURED`: no Jacobian at all. For a dense layer ``z = c h W + s b``,
  ``df_k/dW = c h (x) g_k`` with ``g_k = df_k/dz``, so the layer adds ``(c^2 h(x).h(x') + s^2)
  (g_k(x).g_l(x'))``: one Gram of layer inputs and one of output cotangents per layer
  (:mod:`~typicality_ntk.ntk._structured`; Novak et al.'s "structured derivatives"). Cost and
  memory are linear in the width instead of quadratic. It applies to flax linen ``nn.Dense`` /
  :func:`~typicality_ntk.ntk.make_mlp` layers (other parameter leaves by Jacobian contraction)
  and to ``functools.partial(MaskedMLP.apply, width=...)``; elsewhere it raises a ``ValueError``
  saying why. :attr:`NtkImplementation.AUTO` uses it whenever it applies.

The function must treat examples independently (no batch statistics): Jacobians are taken one
example at a time.
"""

import enum
import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array
from jax.flatten_util import ravel_pytree

from typicality_ntk.ntk import _structured

__all__ = [
    "AUTO_JACOBIAN_BYTES",
    "COST_JACOBIAN_ENTRY",
    "COST_TANGENT_ACTIVATION",
    "COST_VP_JACOBIAN_ENTRY",
    "NtkImplementation",
    "auto_batch_size",
    "empirical_ntk",
    "jacobian",
    "make_ntk_fn",
    "select_implementation",
]

Params = Any
ApplyFn = Callable[[Params, Array], Array]

_HIGHEST = jax.lax.Precision.HIGHEST


class NtkImplementation(enum.Enum):
    """How :func:`empirical_ntk` computes the kernel (see the module docstring)."""

    JACOBIAN_CONTRACTION = "jacobian_contraction"
    NTK_VECTOR_PRODUCTS = "ntk_vector_products"
    STRUCTURED = "structured"
    AUTO = "auto"
    #: neural-tangents' name for the structured route (an alias: the same member)
    STRUCTURED_DERIVATIVES = "structured"


def _as_implementation(implementation: "NtkImplementation | str") -> NtkImplementation:
    try:
        return NtkImplementation(implementation)
    except ValueError:
        allowed = tuple(m.value for m in NtkImplementation)
        raise ValueError(
            f"implementation must be one of {allowed}, got {implementation!r}"
        ) from None


#: Cost-model constants of :func:`select_implementation`, in FLOP equivalents, fitted to wall
#: times measured on this project's CPU machine on 2026-12-01, after b8b1047 (contraction as one
#: 2-D GEMM per leaf) and 2f81c8b (``J2 t`` as x2's transposed VJP) had made both methods faster
#: (2 x86_64 cores shared with other jobs, jax 0.10.2, float32, ``jit(make_ntk_fn(...))``, the
#: full kernel, after compilation, the median of 3 and of 5 interleaved rounds in two runs; script:
#: ``bench/cost_model.py``): 3-layer ReLU MLPs (16 inputs) of widths 64, 256, 1024, N = 16, 128,
#: 512, n_out = 1, 8, x2 = None (and x2 != x1 at N = 128), J up to 2 GiB: 19 cases, each in
#: both runs. With them the model picks the faster method in 36 of the 38 rows (18 of 19 in each
#: run; the miss: width 256, N = 128, n_out = 1, x2 != x1, where contraction is 1.07x faster and
#: the model says 1.30x slower) and predicts the time ratio within a factor 1.25 (rms of the
#: log). The constants fitted before those commits (1100, 400, 900) picked right in 32 of the 38
#: (rms factor 1.32): besides the same miss, they chose contraction at width 64, n_out = 8,
#: N = 128 and 512, where NTK-vector products are 1.1-1.3x faster.
#: Per Jacobian entry that contraction materialises (written by ``vmap(jacrev)``, read by the
#: contraction: memory traffic, not FLOPs):
COST_JACOBIAN_ENTRY = 560
#: Per Jacobian entry of ``J1`` in NTK-vector products (computed, partly fused into the products):
COST_VP_JACOBIAN_ENTRY = 160
#: Per tangent activation of the products ``J2 t`` (``N1 n_out`` tangents, ``N2`` examples, ``A``
#: activations each; ``A ~ 2 sqrt(P)`` for an MLP of 2-4 equal hidden layers, used when unknown):
COST_TANGENT_ACTIVATION = 560


def select_implementation(
    n1: int,
    n2: int,
    n_out: int,
    n_params: int,
    *,
    symmetric: bool = False,
    n_activations: int | None = None,
) -> NtkImplementation:
    """Jacobian contraction or NTK-vector products: what :attr:`NtkImplementation.AUTO` picks
    when the structured route does not apply, from a cost model fitted to measurements.

    Costs in FLOP equivalents (see the constants above for where they were measured):

    * Jacobian contraction: ``2 N1 N2 n_out^2 P`` FLOPs for ``J1 J2^T`` plus
      :data:`COST_JACOBIAN_ENTRY` per entry of the Jacobians formed, ``n_out P N1`` if
      ``symmetric`` (``J2 = J1``) else ``n_out P (N1 + N2)``;
    * NTK-vector products: ``4 N1 N2 n_out P`` FLOPs for the ``N1 n_out`` products ``J2 t``
      (transposed VJPs over ``x2``) plus :data:`COST_TANGENT_ACTIVATION` per tangent
      activation ``N1 n_out N2 A`` plus :data:`COST_VP_JACOBIAN_ENTRY` per entry of ``J1``
      (``n_out P N1``).

    So contraction wins for many examples against few parameters (its GEMM is efficient and
    ``J`` small), NTK-vector products for wide layers or several outputs. Peak memory is of the
    same order for both (``J1``; contraction also holds ``J2``) and does not enter the choice;
    ``batch_size`` bounds it for both.

    Args:
        n1: examples in ``x1`` (per block when blocking).
        n2: examples in ``x2`` (per block when blocking).
        n_out: outputs per example.
        n_params: number of parameters P.
        symmetric: ``x2`` is ``x1`` (contraction forms one Jacobian).
        n_activations: activations per example ``A`` (the sum of the layer widths of an MLP);
            ``None``: ``2 sqrt(P)``.

    Returns:
        ``JACOBIAN_CONTRACTION`` or ``NTK_VECTOR_PRODUCTS``.
    """
    p = n_params
    a = 2.0 * math.sqrt(p) if n_activations is None else n_activations
    n_jac = n1 if symmetric else n1 + n2
    cost_jc = 2 * n1 * n2 * n_out**2 * p + COST_JACOBIAN_ENTRY * n_out * p * n_jac
    cost_vp = (
        4 * n1 * n2 * n_out * p
        + COST_TANGENT_ACTIVATION * n1 * n_out * n2 * a
        + COST_VP_JACOBIAN_ENTRY * n_out * p * n1
    )
    if cost_jc <= cost_vp:
        return NtkImplementation.JACOBIAN_CONTRACTION
    return NtkImplementation.NTK_VECTOR_PRODUCTS


#: ``implementation="auto"`` without a ``batch_size``: largest Jacobian (bytes) held at once.
AUTO_JACOBIAN_BYTES = 2 << 30


def auto_batch_size(n: int, n_out: int, n_params: int, itemsize: int) -> int | None:
    """Examples per block so one block's Jacobian (``b n_out P`` numbers) fits the budget.

    ``None`` (no blocking) when all ``n`` examples fit in :data:`AUTO_JACOBIAN_BYTES`; otherwise
    the largest power of two that does (at least 1). Blocking recomputes the Jacobian of each
    ``x2`` block once per ``x1`` block (``n / b`` times the Jacobian work, small next to the
    ``2 N^2 n_out^2 P`` contraction when ``b`` is in the tens) and bounds the memory: e.g. a
    3-layer MLP of width 2048 (P = 8.4e6) at N = 512 needs 17 GB for J at once, 2 GB per block.
    """
    row = n_out * n_params * itemsize
    if n * row <= AUTO_JACOBIAN_BYTES:
        return None
    fit = max(1, AUTO_JACOBIAN_BYTES // row)
    return 1 << (int(fit).bit_length() - 1)


def _per_example_jacobian(apply_fn: ApplyFn, params: Params, x: Array) -> Params:
    """Jacobian pytree with leaves of shape ``(N, n_out, *leaf.shape)``."""

    def f(p: Params, xi: Array) -> Array:
        return apply_fn(p, xi[None])[0]

    return jax.vmap(jax.jacrev(f), in_axes=(None, 0))(params, x)


def _contract(j1: Params, j2: Params, trace_outputs: bool) -> Array:
    """``J1 J2^T`` summed over pytree leaves: ``(N1, O, N2, O)`` or ``(N1, N2)`` if traced."""

    def leaf(a: Array, b: Array) -> Array:
        # One GEMM on row-major 2-D views, (N1 O, P) x (N2 O, P)^T, or (N1, O P) x (N2, O P)^T
        # when traced (the sum over k is part of the contraction): XLA:CPU's rewrite of the 3-D
        # einsum "ikp,jlp->ikjl" transposed a copy of J2 first (the whole Jacobian again in
        # memory, and a strided copy; measured 3.9x slower than neural-tangents at P = 15 M).
        n1, n2, o = a.shape[0], b.shape[0], a.shape[1]
        rows1, rows2 = (n1, n2) if trace_outputs else (n1 * o, n2 * o)
        dims = (((1,), (1,)), ((), ()))
        k = jax.lax.dot_general(
            a.reshape(rows1, -1), b.reshape(rows2, -1), dims, precision=_HIGHEST
        )
        return k if trace_outputs else k.reshape(n1, o, n2, o)

    leaves1, leaves2 = jax.tree_util.tree_leaves(j1), jax.tree_util.tree_leaves(j2)
    return functools.reduce(jnp.add, map(leaf, leaves1, leaves2))


def _block_kernel(
    apply_fn: ApplyFn,
    params: Params,
    f1: Any,
    x2: Array,
    implementation: NtkImplementation,
    trace_outputs: bool,
    features: Callable[[Array], Any],
    f2: Any = None,
) -> Array:
    """Kernel between the examples whose features (Jacobian, or structured features) are
    ``f1`` and the examples ``x2`` (features ``f2``, computed by ``features`` if ``None``)."""
    if implementation is NtkImplementation.STRUCTURED:
        f2 = features(x2) if f2 is None else f2
        return _structured.structured_kernel(f1, f2, trace_outputs)
    if implementation is NtkImplementation.JACOBIAN_CONTRACTION:
        f2 = features(x2) if f2 is None else f2
        return _contract(f1, f2, trace_outputs)
    # J2 t as the transpose of x2's VJP (neural-tangents' way), not a forward-mode JVP: the same
    # FLOPs, but XLA keeps the J1 rows in their layout instead of transposing them for one
    # wide GEMM; measured 1.3-1.4x faster at P = 5 M on XLA:CPU (jax 0.10 and 0.4.30 alike).
    out2, vjp2 = jax.vjp(lambda p: apply_fn(p, x2), params)
    f2_lin = jax.linear_transpose(vjp2, jax.ShapeDtypeStruct(out2.shape, out2.dtype))
    k = jax.vmap(jax.vmap(lambda t: f2_lin((t,))[0]))(f1)  # (N1, O, N2, O)
    if trace_outputs:
        return jnp.einsum("ikjk->ij", k)
    return k


def _pad_blocks(x: Array, batch_size: int) -> Array:
    """``(N, ...) -> (n_blocks, batch_size, ...)``, padding by repeating the last example."""
    n = x.shape[0]
    n_blocks = -(-n // batch_size)
    pad = n_blocks * batch_size - n
    if pad:
        x = jnp.concatenate([x, jnp.repeat(x[-1:], pad, axis=0)], axis=0)
    return x.reshape((n_blocks, batch_size) + x.shape[1:])


def _check_output(apply_fn: ApplyFn, params: Params, x: Array) -> int:
    out = jax.eval_shape(apply_fn, params, x[:1])
    if len(out.shape) != 2 or out.shape[0] != 1:
        raise ValueError(
            "apply_fn(params, x) must return an array of shape (batch, n_out); for a batch of "
            f"one example it returned shape {out.shape}"
        )
    return out.shape[1]


def _resolve(
    apply_fn: ApplyFn,
    params: Params,
    x1: Array,
    n_out: int,
    n2: int,
    symmetric: bool,
    implementation: NtkImplementation,
    batch_size: int | None,
) -> tuple[NtkImplementation, int | None, Any]:
    """``(implementation, batch_size, structure)`` at trace time: ``auto`` resolved (structured
    whenever :func:`~typicality_ntk.ntk._structured.analyze` accepts ``apply_fn``, else the cost
    model), ``structure`` from ``analyze`` for the structured route (``None`` otherwise)."""
    if implementation is NtkImplementation.STRUCTURED:
        return implementation, batch_size, _structured.analyze(apply_fn, params, x1)
    if implementation is not NtkImplementation.AUTO:
        return implementation, batch_size, None
    try:
        return NtkImplementation.STRUCTURED, batch_size, _structured.analyze(apply_fn, params, x1)
    except _structured.StructureError:
        pass
    n1 = x1.shape[0]
    leaves = jax.tree_util.tree_leaves(params)
    n_p = sum(math.prod(jnp.shape(leaf)) for leaf in leaves)
    batch = batch_size
    if batch is None:
        itemsize = max(jnp.result_type(leaf).itemsize for leaf in leaves)
        batch = auto_batch_size(max(n1, n2), n_out, n_p, itemsize)
    b1, b2 = (n1, n2) if batch is None else (min(batch, n1), min(batch, n2))
    impl = select_implementation(b1, b2, n_out, n_p, symmetric=symmetric and batch is None)
    return impl, batch, None


def make_ntk_fn(
    apply_fn: ApplyFn,
    *,
    implementation: NtkImplementation | str = NtkImplementation.AUTO,
    trace_outputs: bool = False,
    batch_size: int | None = None,
) -> Callable[..., Array]:
    """Return a pure ``ntk_fn(params, x1, x2=None)`` computing the empirical NTK.

    The returned function is jit-compatible (the options are closed over, i.e. static); the
    caller owns ``jax.jit``. See :func:`empirical_ntk` for the arguments and the layout.

    Args:
        apply_fn: pure ``apply_fn(params, x) -> (batch, n_out)``; examples must be independent.
        implementation: a :class:`NtkImplementation` or its string value. ``"auto"`` decides
            at trace time: ``"structured"`` whenever ``apply_fn`` has that structure, else
            :func:`select_implementation`.
        trace_outputs: sum the kernel over the output index (returns ``(N1, N2)``).
        batch_size: if given, compute the kernel in blocks of ``batch_size`` examples of ``x1``
            and of ``x2`` (sequentially with ``jax.lax.map``; inputs are padded by repeating
            the last example, and the padding is cut off). Bounds the memory to the Jacobian
            rows (structured: the layer inputs and cotangents) of one block. Results equal the
            unbatched ones up to rounding. ``None`` with ``implementation="auto"``: structured
            all at once (its memory is activations only), else :func:`auto_batch_size` (all at
            once unless the Jacobian would exceed :data:`AUTO_JACOBIAN_BYTES`).

    Returns:
        ``ntk_fn(params, x1, x2=None) -> Array``.

    Raises:
        ValueError: for an unknown ``implementation`` or a non-positive ``batch_size``; when
            called, for ``"structured"`` on an ``apply_fn`` without that structure (one line
            saying why).
    """
    implementation = _as_implementation(implementation)
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size}")

    def ntk_fn(params: Params, x1: Array, x2: Array | None = None) -> Array:
        n_out = _check_output(apply_fn, params, x1)
        symmetric = x2 is None
        x2_ = x1 if symmetric else x2
        n1, n2 = x1.shape[0], x2_.shape[0]
        impl, batch, structure = _resolve(
            apply_fn, params, x1, n_out, n2, symmetric, implementation, batch_size
        )

        def features(x: Array) -> Any:
            if impl is NtkImplementation.STRUCTURED:
                return _structured.structured_features(structure, apply_fn, params, x, n_out)
            return _per_example_jacobian(apply_fn, params, x)

        if batch is None or (batch >= n1 and batch >= n2):
            f1 = features(x1)
            f2 = f1 if symmetric and impl is not NtkImplementation.NTK_VECTOR_PRODUCTS else None
            k = _block_kernel(apply_fn, params, f1, x2_, impl, trace_outputs, features, f2)
        else:
            x1b, x2b = _pad_blocks(x1, batch), _pad_blocks(x2_, batch)

            def row_of_blocks(x1_block: Array) -> Array:
                f1 = features(x1_block)
                return jax.lax.map(
                    lambda x2_block: _block_kernel(
                        apply_fn, params, f1, x2_block, impl, trace_outputs, features
                    ),
                    x2b,
                )

            blocks = jax.lax.map(row_of_blocks, x1b)  # (nb1, nb2, b, [O,] b, [O])
            nb1, nb2 = x1b.shape[0], x2b.shape[0]
            if trace_outputs:
                k = blocks.transpose(0, 2, 1, 3).reshape(nb1 * batch, nb2 * batch)
                k = k[:n1, :n2]
            else:
                k = blocks.transpose(0, 2, 3, 1, 4, 5).reshape(
                    nb1 * batch, n_out, nb2 * batch, n_out
                )
                k = k[:n1, :, :n2, :]
        if trace_outputs:
            return k
        return k.reshape(n1 * n_out, n2 * n_out)

    return ntk_fn


def empirical_ntk(
    apply_fn: ApplyFn,
    params: Params,
    x1: Array,
    x2: Array | None = None,
    *,
    implementation: NtkImplementation | str = NtkImplementation.AUTO,
    trace_outputs: bool = False,
    batch_size: int | None = None,
) -> Array:
    """Empirical NTK (paper Eq. 3) of ``apply_fn`` at ``params``.

    Jit with the options static, e.g. ``jax.jit(empirical_ntk, static_argnums=0,
    static_argnames=("implementation", "trace_outputs", "batch_size"))``, or build the function
    once with :func:`make_ntk_fn`.

    Args:
        apply_fn: pure ``apply_fn(params, x) -> (batch, n_out)``; examples must be independent.
        params: parameter pytree (P scalars in total).
        x1 (array of shape (N1, ...)): first batch of inputs.
        x2 (array of shape (N2, ...) or None): second batch; ``None`` means ``x1`` (and lets
            Jacobian contraction reuse ``J1``, structured its features).
        implementation: ``"jacobian_contraction"``, ``"ntk_vector_products"``,
            ``"structured"`` (dense layers only, see the module docstring) or ``"auto"``
            (structured where it applies, else the cost model of :func:`select_implementation`),
            or the enum member.
        trace_outputs: return the ``(N1, N2)`` sum over outputs instead of the full kernel.
        batch_size: examples per block; ``None``: everything at once (with ``"auto"`` and no
            structure: in blocks when the Jacobian would exceed :data:`AUTO_JACOBIAN_BYTES`,
            see :func:`make_ntk_fn`).

    Returns:
        Array of shape ``(N1 * n_out, N2 * n_out)`` with ``K[i * n_out + k, j * n_out + l] =
        sum_p df_k(x1_i)/dtheta_p df_l(x2_j)/dtheta_p`` (sample-major), or ``(N1, N2)`` with
        ``sum_k K[i * n_out + k, j * n_out + k]`` if ``trace_outputs``. The dtype is that of the
        outputs of ``apply_fn``.
    """
    ntk_fn = make_ntk_fn(
        apply_fn,
        implementation=implementation,
        trace_outputs=trace_outputs,
        batch_size=batch_size,
    )
    return ntk_fn(params, x1, x2)


def jacobian(apply_fn: ApplyFn, params: Params, x: Array) -> Array:
    """Jacobian of all outputs with respect to all parameters, as one matrix.

    Args:
        apply_fn: pure ``apply_fn(params, x) -> (batch, n_out)``; examples must be independent.
        params: parameter pytree with P scalars.
        x (array of shape (N, ...)): inputs.

    Returns:
        Array of shape ``(N * n_out, P)``: row ``i * n_out + k`` (sample-major, as in
        :func:`empirical_ntk`) is ``d f_k(x_i) / d theta``, with the columns in the order of
        ``jax.flatten_util.ravel_pytree(params)``. ``jacobian(...) @ jacobian(...).T`` is the
        empirical NTK.
    """
    n_out = _check_output(apply_fn, params, x)
    jac = _per_example_jacobian(apply_fn, params, x)
    flat = jax.vmap(jax.vmap(lambda tree: ravel_pytree(tree)[0]))(jac)  # (N, O, P)
    return flat.reshape(x.shape[0] * n_out, -1)
