"""``implementation="structured"`` (per-layer Grams of inputs and cotangents) is the empirical NTK.

Every structured kernel is checked against Jacobian contraction in float64 (relative Frobenius
error <= 1e-10), over a covering subset of depth x n_out x activation x parameterisation x
sigma_b x (x2 given or None) x trace_outputs: each value of each factor, and each pair of
values of (depth, activation, parameterisation, sigma_b > 0), appears in some case.
"""

import functools
import itertools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from typicality_ntk.ntk import StructureError, empirical_ntk, make_mlp, make_ntk_fn
from typicality_ntk.ntk.masked import MaskedMLP

pytestmark = pytest.mark.usefixtures("strict_x64")

N1, N2, N0 = 4, 3, 3
TOL = 1e-10
FAST_COMPILE = {"xla_backend_optimization_level": 0}
WIDTHS = (5, 7, 6, 4)

# (depth, n_out, activation, parameterization, sigma_b, x2 given, trace_outputs)
GRID = (
    (1, 1, "relu", "ntk", 0.0, False, False),
    (1, 10, "erf", "standard", 0.3, True, True),
    (1, 3, "tanh", "ntk", 0.7, True, False),
    (2, 3, "erf", "ntk", 0.0, True, False),
    (2, 1, "tanh", "standard", 0.0, False, True),
    (2, 2, "relu", "standard", 0.5, False, False),
    (3, 10, "tanh", "ntk", 0.5, True, True),
    (3, 2, "relu", "standard", 0.0, True, True),
    (3, 1, "erf", "standard", 0.2, False, False),
    (4, 2, "relu", "ntk", 0.1, False, True),
    (4, 10, "erf", "standard", 0.0, False, False),
    (4, 1, "tanh", "standard", 1.0, True, False),
)


def test_grid_covers_pairs():
    """Each pair of values of (depth, activation, parameterisation, sigma_b > 0) is in GRID."""
    factors = [(c[0], c[2], c[3], c[4] > 0) for c in GRID]
    levels = [(1, 2, 3, 4), ("relu", "erf", "tanh"), ("ntk", "standard"), (False, True)]
    for (a, la), (b, lb) in itertools.combinations(enumerate(levels), 2):
        seen = {(f[a], f[b]) for f in factors}
        assert seen == set(itertools.product(la, lb)), (a, b, set(itertools.product(la, lb)) - seen)
    assert {c[1] for c in GRID} == {1, 2, 3, 10}
    assert {(c[5], c[6]) for c in GRID} == set(itertools.product((False, True), repeat=2))


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.standard_normal((N1, N0))), jnp.asarray(rng.standard_normal((N2, N0)))


def _random_params(init_fn, x, seed=1):
    """Parameters from NumPy, all entries N(0, 1) (jax.random would add compiles)."""
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(init_fn, jax.random.key(0), x)
    return jax.tree.map(lambda s: jnp.asarray(rng.standard_normal(s.shape), s.dtype), shapes)


def _kernels(apply_fn, params, x1, x2, trace_outputs, impls=("structured", "jacobian_contraction")):
    out = []
    for impl in impls:
        fn = jax.jit(
            make_ntk_fn(apply_fn, implementation=impl, trace_outputs=trace_outputs),
            compiler_options=FAST_COMPILE,
        )
        out.append(np.asarray(fn(params, x1) if x2 is None else fn(params, x1, x2)))
    return out


def _assert_rel(actual, desired, tol=TOL):
    assert actual.shape == desired.shape, (actual.shape, desired.shape)
    assert actual.dtype == desired.dtype == np.float64, (actual.dtype, desired.dtype)
    err = np.linalg.norm(actual - desired) / np.linalg.norm(desired)
    assert err <= tol, err


@pytest.mark.parametrize("case", GRID, ids=lambda c: "-".join(map(str, c)))
def test_structured_equals_jacobian_contraction(case):
    depth, n_out, activation, parameterization, sigma_b, x2_given, trace = case
    init_fn, apply_fn = make_mlp(
        widths=WIDTHS[:depth],
        n_out=n_out,
        activation=activation,
        parameterization=parameterization,
        sigma_w=1.3,
        sigma_b=sigma_b,
    )
    x1, x2 = _inputs()
    params = _random_params(init_fn, x1)
    k_s, k_jc = _kernels(apply_fn, params, x1, x2 if x2_given else None, trace)
    n2 = N2 if x2_given else N1
    assert k_s.shape == ((N1, n2) if trace else (N1 * n_out, n2 * n_out))
    _assert_rel(k_s, k_jc)


class _LinenMLP(nn.Module):
    """Plain flax linen: nn.Dense with and without a bias, and (``norm``) a LayerNorm whose
    parameters no dense layer owns (contracted by Jacobians, then added)."""

    norm: bool = False

    @nn.compact
    def __call__(self, x):
        f64 = {"param_dtype": jnp.float64}
        x = jax.nn.relu(nn.Dense(8, **f64)(x))
        if self.norm:
            x = nn.LayerNorm(force_float32_reductions=False, **f64)(x)
        x = jnp.tanh(nn.Dense(5, use_bias=False, **f64)(x))
        return nn.Dense(2, **f64)(x)


@pytest.mark.parametrize("norm", [False, True], ids=["dense", "dense+layernorm"])
def test_flax_linen_dense(norm):
    module = _LinenMLP(norm=norm)
    x1, x2 = _inputs()
    params = _random_params(module.init, x1)
    for x2_, trace in ((x2, False), (None, True)):
        k_s, k_jc = _kernels(module.apply, params, x1, x2_, trace)
        _assert_rel(k_s, k_jc)


@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
def test_masked_mlp_equals_unpadded(parameterization):
    """One compiled program (traced width) gives the unpadded network's kernel at every width."""
    net = MaskedMLP(9, 2, 3, "tanh", parameterization, sigma_w=1.4, sigma_b=0.3)
    x1, x2 = _inputs()
    full = jax.tree.map(
        lambda a: jnp.asarray(np.random.default_rng(2).standard_normal(a.shape)),
        net.init(jax.random.key(0), N0, 9, jnp.float64),
    )
    traces = []

    def ntk(params, x1, x2, width):
        traces.append(None)
        return empirical_ntk(
            functools.partial(net.apply, width=width), params, x1, x2, implementation="structured"
        )

    ntk = jax.jit(ntk, compiler_options=FAST_COMPILE)
    for width in (1, 4, 9):
        params = jax.tree.map(jnp.multiply, full, net.mask(width, N0, jnp.float64))
        with jax.numpy_rank_promotion("allow"):  # MaskedMLP.apply broadcasts its (w,) mask
            k = np.asarray(ntk(params, x1, x2, jnp.asarray(width)))
        small = net.unpad(params, width)
        _, apply_w = make_mlp(
            widths=(width, width), n_out=3, activation="tanh",
            parameterization=parameterization, sigma_w=1.4, sigma_b=0.3,
        )  # fmt: skip
        (k_ref,) = _kernels(apply_w, small, x1, x2, False, impls=("jacobian_contraction",))
        _assert_rel(k, k_ref)
    assert len(traces) == 1


def test_auto_picks_structured_and_batching():
    """``auto`` gives the structured kernel bit for bit; batch_size blocks it exactly."""
    init_fn, apply_fn = make_mlp(widths=(6, 5), n_out=3, activation="erf", sigma_b=0.2)
    x1, x2 = _inputs()
    params = _random_params(init_fn, x1)
    k_auto, k_s, k_jc = _kernels(
        apply_fn, params, x1, x2, False, impls=("auto", "structured", "jacobian_contraction")
    )
    np.testing.assert_array_equal(k_auto, k_s)
    _assert_rel(k_s, k_jc)
    for x2_, trace in ((x2, False), (None, True)):
        blocked = empirical_ntk(
            apply_fn, params, x1, x2_, implementation="structured", trace_outputs=trace,
            batch_size=2,
        )  # fmt: skip
        (k_ref,) = _kernels(apply_fn, params, x1, x2_, trace, impls=("structured",))
        _assert_rel(np.asarray(blocked), k_ref, 1e-13)


def _one_line_error(fn):
    with pytest.raises(ValueError) as info:
        fn()
    assert isinstance(info.value, StructureError)
    message = str(info.value)
    assert "\n" not in message and message
    return message


def test_structure_errors_are_one_line():
    x1, _ = _inputs()
    plain = {"w": jnp.ones((N0, 2))}

    def plain_fn(p, x):
        return jnp.tanh(x @ p["w"])

    msg = _one_line_error(lambda: empirical_ntk(plain_fn, plain, x1, implementation="structured"))
    assert "Dense" in msg
    # auto falls back to the other implementations
    assert empirical_ntk(plain_fn, plain, x1).shape == (2 * N1, 2 * N1)

    class Shared(nn.Module):
        @nn.compact
        def __call__(self, x):
            dense = nn.Dense(N0, param_dtype=jnp.float64)
            return dense(jnp.tanh(dense(x)))

    params = _random_params(Shared().init, x1)
    msg = _one_line_error(
        lambda: empirical_ntk(Shared().apply, params, x1, implementation="structured")
    )
    assert "more than once" in msg

    class Sequence(nn.Module):
        @nn.compact
        def __call__(self, x):  # (N, n0) -> (N, 1) through a (N, n0, 2) dense input
            y = nn.Dense(1, param_dtype=jnp.float64)(jnp.stack([x, x**2], axis=-1))
            return jnp.sum(y, axis=(1, 2))[:, None]

    params = _random_params(Sequence().init, x1)
    msg = _one_line_error(
        lambda: empirical_ntk(Sequence().apply, params, x1, implementation="structured")
    )
    assert "(batch, fan_in)" in msg

    init_fn, apply_fn = make_mlp(widths=(4,), n_out=1, activation="relu")
    params = _random_params(init_fn, x1)
    msg = _one_line_error(
        lambda: empirical_ntk(
            lambda p, x: apply_fn(jax.tree.map(lambda a: 2 * a, p), x),
            params,
            x1,
            implementation="structured",
        )
    )
    assert "not leaves of params" in msg

    net = MaskedMLP(4, 1, 1)
    mparams = net.init(jax.random.key(0), N0, 3, jnp.float64)
    with jax.numpy_rank_promotion("allow"):  # MaskedMLP.apply broadcasts its (w,) mask
        msg = _one_line_error(
            lambda: empirical_ntk(
                lambda p, x: net.apply(p, x, 3), mparams, x1, implementation="structured"
            )
        )
    assert "MaskedMLP" in msg


def test_unknown_implementation():
    init_fn, apply_fn = make_mlp(widths=(4,), n_out=1, activation="relu")
    x1, _ = _inputs()
    with pytest.raises(ValueError, match="implementation.*structured"):
        empirical_ntk(apply_fn, _random_params(init_fn, x1), x1, implementation="structure")
