"""Agreement with neural-tangents 0.6.5 (``tests/fixtures/nt_reference.npz``).

The fixture is written by ``scripts/make_nt_reference.py`` in a separate environment (see its
docstring): stax MLPs (ReLU / erf, 2 and 3 hidden layers, widths 64 and 128, n_out 1 and 2, NTK
and standard parameterisation), their float32-exact parameters, nt's empirical NTK in both
implementations and nt's analytic NNGP / NTK, all in float64. Here we load nt's parameters into
our flax MLP and require relative agreement within ``RTOL`` in float64.
"""

import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import nt_fixture_mlp

from typicality_ntk.ntk import empirical_ntk, infinite_width_kernels

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "nt_reference.npz"
# Tests compare numbers, not speed: skip LLVM's optimisation passes, which dominate XLA CPU compile
# time for these small programs (IEEE semantics are unchanged).
FAST_COMPILE = {"xla_backend_optimization_level": 0}
RTOL = 1e-5  # relative to the largest entry of the reference kernel
IMPLEMENTATIONS = ("jacobian_contraction", "ntk_vector_products")
PAIRS = ("x1x2", "x1x1")

with np.load(FIXTURE) as _data:
    ALL_MODELS = tuple(str(m) for m in _data["meta/models"])
# XLA compile time (about 3 s a model on a small CPU) dominates, so the default run covers each
# activation, depth, parameterisation and n_out once; the rest run with ``-m slow``.
DEFAULT_MODELS = (
    "ntk_relu_d2_w64_o2",
    "ntk_erf_d3_w64_o2",
    "standard_relu_d2_w64_o1",
    "standard_erf_d2_w64_o1",
)
MODELS = tuple(
    m if m in DEFAULT_MODELS else pytest.param(m, marks=pytest.mark.slow) for m in ALL_MODELS
)


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def ours(ref):
    """``ours(model)``: our kernels for ``model``, from one jitted program (memoised)."""
    cache = {}

    def get(model):
        if model not in cache:
            cache[model] = jax.device_get(_our_kernels(ref, model))
        return cache[model]

    return get


pytestmark = pytest.mark.usefixtures("strict_x64")


def _parse(model):
    """``"ntk_relu_d2_w64_o1"`` -> (parameterization, activation, depth, width, n_out)."""
    param, act, depth, width, n_out = model.split("_")
    return param, act, int(depth[1:]), int(width[1:]), int(n_out[1:])


def _x(ref, pair):
    x1 = jnp.asarray(ref["x1"])
    return x1, (jnp.asarray(ref["x2"]) if pair == "x1x2" else None)


def _assert_relative(actual, desired):
    actual, desired = np.asarray(actual), np.asarray(desired)
    assert actual.shape == desired.shape
    assert actual.dtype == np.float64
    scale = np.max(np.abs(desired))
    np.testing.assert_allclose(actual, desired, rtol=RTOL, atol=RTOL * scale)


def _our_kernels(ref, model):
    """All kernels of ``model`` that the fixture has, keyed like the fixture."""
    param, act, depth, width, n_out = _parse(model)
    _, apply_fn, params = nt_fixture_mlp(ref, model)

    @functools.partial(jax.jit, compiler_options=FAST_COMPILE)
    def compute(params, x1, x2):
        out = {}
        for pair in PAIRS:
            x2_ = x2 if pair == "x1x2" else None
            for impl in IMPLEMENTATIONS:
                out[f"emp/{impl}/{pair}"] = empirical_ntk(
                    apply_fn, params, x1, x2_, implementation=impl
                )
            if n_out > 1:
                out[f"emp_traced/{pair}"] = empirical_ntk(
                    apply_fn, params, x1, x2_, trace_outputs=True
                )
            kernels = infinite_width_kernels(
                x1,
                x2_,
                hidden_layers=depth,
                activation=act,
                sigma_w=float(ref["meta/sigma_w"]),
                sigma_b=float(ref["meta/sigma_b"]),
                parameterization=param,
                widths=(width,) * depth if param == "standard" else None,
            )
            for name, k in kernels.items():
                out[f"analytic/{name}/{pair}"] = k
        return out

    return compute(params, jnp.asarray(ref["x1"]), jnp.asarray(ref["x2"]))


def _assert_relative(actual, desired):
    actual, desired = np.asarray(actual), np.asarray(desired)
    assert actual.shape == desired.shape
    assert actual.dtype == np.float64
    scale = np.max(np.abs(desired))
    np.testing.assert_allclose(actual, desired, rtol=RTOL, atol=RTOL * scale)


@pytest.mark.parametrize("model", MODELS)
def test_param_layout_matches_our_init(ref, model):
    init_fn, _, params = nt_fixture_mlp(ref, model)
    ours = jax.eval_shape(init_fn, jax.random.key(0), jnp.asarray(ref["x1"]))
    assert jax.tree.structure(ours) == jax.tree.structure(params)
    assert jax.tree.map(jnp.shape, ours) == jax.tree.map(jnp.shape, params)
    assert all(leaf.dtype == jnp.float64 for leaf in jax.tree.leaves(ours))


@pytest.mark.parametrize("pair", PAIRS)
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("model", MODELS)
def test_empirical_ntk_matches_nt(ref, ours, model, implementation, pair):
    # nt (trace_axes=()) gives [i, j, k, l]; ours is sample-major [(i, k), (j, l)].
    nt_k = ref[f"{model}/emp/{implementation}/{pair}"]
    n1, n2, n_out, _ = nt_k.shape
    desired = nt_k.transpose(0, 2, 1, 3).reshape(n1 * n_out, n2 * n_out)
    _assert_relative(ours(model)[f"emp/{implementation}/{pair}"], desired)


@pytest.mark.parametrize("pair", PAIRS)
@pytest.mark.parametrize("model", [m for m in ALL_MODELS if _parse(m)[4] > 1])
def test_trace_outputs_matches_nt(ref, ours, model, pair):
    # nt's default trace_axes=(-1,) averages over the outputs; ours sums.
    n_out = _parse(model)[4]
    _assert_relative(ours(model)[f"emp_traced/{pair}"], n_out * ref[f"{model}/emp_traced/{pair}"])


@pytest.mark.parametrize("pair", PAIRS)
@pytest.mark.parametrize("kernel", ("nngp", "ntk"))
@pytest.mark.parametrize("model", MODELS)
def test_analytic_kernels_match_nt(ref, ours, model, kernel, pair):
    key = f"analytic/{kernel}/{pair}"
    _assert_relative(ours(model)[key], ref[f"{model}/{key}"])
