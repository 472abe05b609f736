"""Exact identities of the empirical NTK (paper Eq. 3), in float32 and float64.

Every kernel is checked against a naive reference: ``jax.jacrev`` of the whole batch, flattened
to ``J`` of shape ``(N * n_out, P)``, and ``K = J J^T``.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from typicality_ntk.ntk import (
    NtkImplementation,
    empirical_ntk,
    jacobian,
    make_mlp,
    make_ntk_fn,
    n_params,
    select_implementation,
)

N1, N2, N0, N_OUT = 5, 3, 4, 3
JC, VP = NtkImplementation.JACOBIAN_CONTRACTION, NtkImplementation.NTK_VECTOR_PRODUCTS
# AUTO resolves to one of these at trace time (tested in test_auto_and_jit).
IMPLS = (JC, VP)

# Tests compare numbers, not speed: skip LLVM's optimisation passes, which dominate XLA CPU compile
# time for these small programs (about 2.5x faster to compile; IEEE semantics are unchanged).
FAST_COMPILE = {"xla_backend_optimization_level": 0}

# One tolerance table keyed by dtype (relative to the largest entry of the reference), as in
# neural-tangents' tests/test_utils.py. TODO: move to a shared tests helper once there is one.
_TOLERANCE = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}


def tolerance(dtype) -> float:
    """Relative tolerance for comparing kernels computed in ``dtype``."""
    return _TOLERANCE[np.dtype(dtype)]


def assert_close(actual, desired, dtype=None):
    """Elementwise ``|a - d| <= tol * (|d| + max|d|)`` with ``tol = tolerance(dtype)``."""
    actual, desired = np.asarray(actual), np.asarray(desired)
    dtype = desired.dtype if dtype is None else dtype
    assert actual.shape == desired.shape, (actual.shape, desired.shape)
    assert actual.dtype == dtype and desired.dtype == dtype, (actual.dtype, desired.dtype)
    tol = tolerance(dtype)
    np.testing.assert_allclose(actual, desired, rtol=tol, atol=tol * np.max(np.abs(desired)))


@pytest.fixture(autouse=True)
def _strict_jax():
    with jax.numpy_rank_promotion("raise"), jax.numpy_dtype_promotion("strict"):
        yield


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
    """The dtype under test; enables x64 for float64 and restores the previous setting."""
    previous = jax.config.jax_enable_x64
    if request.param == "float64":
        jax.config.update("jax_enable_x64", True)
    yield jnp.dtype(request.param)
    jax.config.update("jax_enable_x64", previous)


def _mlp_problem(dtype):
    """A small tanh MLP; parameters from NumPy (jax.random would add an XLA compile)."""
    init_fn, apply_fn = make_mlp(
        widths=(7, 6),
        n_out=N_OUT,
        activation="tanh",
        parameterization="ntk",
        sigma_w=1.5,
        sigma_b=0.3,
    )
    rng = np.random.default_rng(0)
    x1 = jnp.asarray(rng.standard_normal((N1, N0)), dtype)
    x2 = jnp.asarray(rng.standard_normal((N2, N0)), dtype)
    shapes = jax.eval_shape(init_fn, jax.random.key(0), x1)
    params = jax.tree.map(lambda s: jnp.asarray(rng.standard_normal(s.shape), s.dtype), shapes)
    return apply_fn, params, x1, x2


def _naive_jacobian(apply_fn, params, x):
    """``(N * n_out, P)`` from ``jax.jacrev`` of the whole (flattened, sample-major) batch."""
    flat, unravel = ravel_pytree(params)
    return jax.jacrev(lambda p: apply_fn(unravel(p), x).reshape(-1))(flat)


def _naive_ntk(apply_fn, params, x1, x2):
    j1 = _naive_jacobian(apply_fn, params, x1)
    j2 = _naive_jacobian(apply_fn, params, x2)
    return jnp.matmul(j1, j2.T, precision="highest")


def _toy_model(dtype):
    """A non-MLP ``apply_fn`` with a nested dict of parameters of mixed shapes."""

    def apply_fn(params, x):  # (N, 2) -> (N, 2)
        h = jnp.sin(x @ params["a"] + params["b"][None, :])
        y = jnp.stack([jnp.sum(h**2, axis=-1), jnp.sum(h, axis=-1) * params["c"]], axis=-1)
        return y * params["scale"]["s"]

    rng = np.random.default_rng(1)
    params = {
        "a": rng.standard_normal((2, 4)),
        "b": rng.standard_normal(4),
        "c": np.float64(0.7),
        "scale": {"s": rng.standard_normal((1, 2))},
    }
    params = jax.tree.map(lambda a: jnp.asarray(a, dtype), params)
    x1 = jnp.asarray(rng.standard_normal((4, 2)), dtype)
    x2 = jnp.asarray(rng.standard_normal((3, 2)), dtype)
    return apply_fn, params, x1, x2


# (implementation, trace_outputs, batch_size, symmetric): covers padding of x1 and x2, an exact
# fit (N2 == 3), batch size 1, x2 = None, and both implementations. The unbatched reference of
# each case is in ``computed`` under ``REFERENCE_OF_CASE``.
BATCHING_CASES = (
    (JC, False, 2, False),
    (VP, False, 2, False),
    (JC, True, 3, True),
    (VP, True, 1, False),
)
REFERENCE_OF_CASE = {
    BATCHING_CASES[0]: "jacobian_contraction/x1x2",
    BATCHING_CASES[1]: "ntk_vector_products/x1x2",
    BATCHING_CASES[2]: "jacobian_contraction/x1None_traced",
    BATCHING_CASES[3]: "ntk_vector_products/traced",
}


def _case_id(case):
    impl, trace, batch_size, symmetric = case
    return f"{impl.value}-trace{trace}-b{batch_size}" + ("-x2None" if symmetric else "")


@pytest.fixture(scope="module")
def computed():
    """``computed(dtype)``: every kernel the tests below compare, from one jitted program.

    XLA compile time dominates on a small CPU, so all variants are traced into one program per
    dtype and memoised; the tests then only compare arrays.
    """
    cache = {}

    def get(dtype):
        if dtype not in cache:
            apply_fn, params, x1, x2 = _mlp_problem(dtype)
            toy_apply, toy_params, toy_x1, toy_x2 = _toy_model(dtype)

            @functools.partial(jax.jit, compiler_options=FAST_COMPILE)
            def compute(params, x1, x2, toy_params, toy_x1, toy_x2):
                out = {
                    "naive": _naive_ntk(apply_fn, params, x1, x2),
                    "naive_j": _naive_jacobian(apply_fn, params, x1),
                    "jacobian": jacobian(apply_fn, params, x1),
                    "toy_naive": _naive_ntk(toy_apply, toy_params, toy_x1, toy_x2),
                }
                for impl in IMPLS:
                    name = impl.value
                    ntk = functools.partial(empirical_ntk, implementation=impl)
                    out[f"{name}/x1x2"] = ntk(apply_fn, params, x1, x2)
                    out[f"{name}/toy"] = ntk(toy_apply, toy_params, toy_x1, toy_x2)
                    out[f"{name}/traced"] = ntk(apply_fn, params, x1, x2, trace_outputs=True)
                    out[f"{name}/x1None"] = ntk(apply_fn, params, x1)
                    out[f"{name}/x1x1"] = ntk(apply_fn, params, x1, x1)
                out["jacobian_contraction/x1None_traced"] = empirical_ntk(
                    apply_fn, params, x1, implementation=JC, trace_outputs=True
                )
                for case in BATCHING_CASES:
                    impl, trace, batch_size, symmetric = case
                    out[_case_id(case)] = empirical_ntk(
                        apply_fn,
                        params,
                        x1,
                        None if symmetric else x2,
                        implementation=impl,
                        trace_outputs=trace,
                        batch_size=batch_size,
                    )
                return out

            cache[dtype] = jax.device_get(compute(params, x1, x2, toy_params, toy_x1, toy_x2)) | {
                "n_params": n_params(params)
            }
        return cache[dtype]

    return get


@pytest.mark.parametrize("implementation", IMPLS)
def test_matches_naive_jacobian(computed, dtype, implementation):
    k = computed(dtype)[f"{implementation.value}/x1x2"]
    assert k.shape == (N1 * N_OUT, N2 * N_OUT)
    assert_close(k, computed(dtype)["naive"], dtype)


@pytest.mark.parametrize("implementation", IMPLS)
def test_arbitrary_apply_fn(computed, dtype, implementation):
    assert_close(computed(dtype)[f"{implementation.value}/toy"], computed(dtype)["toy_naive"])


def test_jacobian_matches_naive(computed, dtype):
    c = computed(dtype)
    j = c["jacobian"]
    assert j.shape == (N1 * N_OUT, c["n_params"])
    assert_close(j, c["naive_j"], dtype)
    jj = np.matmul(j.astype(np.float64), j.T.astype(np.float64)).astype(dtype)
    assert_close(jj, c["jacobian_contraction/x1None"], dtype)


@pytest.mark.parametrize("implementation", IMPLS)
def test_trace_outputs_is_trace_over_output_blocks(computed, dtype, implementation):
    c = computed(dtype)
    k = c[f"{implementation.value}/x1x2"].reshape(N1, N_OUT, N2, N_OUT)
    assert_close(c[f"{implementation.value}/traced"], np.einsum("ikjk->ij", k), dtype)


@pytest.mark.parametrize("implementation", IMPLS)
def test_x2_none_is_x1_and_kernel_is_symmetric_psd(computed, dtype, implementation):
    c = computed(dtype)
    k = c[f"{implementation.value}/x1None"]
    assert_close(k, c[f"{implementation.value}/x1x1"], dtype)
    assert_close(k, k.T, dtype)
    k64 = k.astype(np.float64)
    eigenvalues = np.linalg.eigvalsh((k64 + k64.T) / 2)
    assert eigenvalues.min() >= -tolerance(dtype) * eigenvalues.max()


@pytest.mark.parametrize("case", BATCHING_CASES, ids=_case_id)
def test_batching_gives_same_kernel(computed, dtype, case):
    c = computed(dtype)
    assert_close(c[_case_id(case)], c[REFERENCE_OF_CASE[case]], dtype)


def test_auto_and_jit(computed):
    """One trace per jitted function; AUTO picks NTK-vector products for n_out = 3."""
    c = computed(jnp.float32)
    apply_fn, params, x1, x2 = _mlp_problem(jnp.float32)
    traces = []

    def counting_apply(p, x):
        traces.append(x.shape)
        return apply_fn(p, x)

    ntk_fn = jax.jit(
        make_ntk_fn(counting_apply, implementation="auto"), compiler_options=FAST_COMPILE
    )
    assert_close(ntk_fn(params, x1, x2), c["ntk_vector_products/x1x2"])
    n_traces = len(traces)
    k2 = ntk_fn(jax.tree.map(lambda a: 2 * a, params), x1, x2)
    assert len(traces) == n_traces  # new parameter values: no retrace
    assert k2.shape == (N1 * N_OUT, N2 * N_OUT) and bool(jnp.all(jnp.isfinite(k2)))

    jitted = jax.jit(
        empirical_ntk,
        static_argnums=0,
        static_argnames=("implementation", "trace_outputs", "batch_size"),
        compiler_options=FAST_COMPILE,
    )
    k_traced = jitted(apply_fn, params, x1, x2, implementation=VP, trace_outputs=True)
    assert_close(k_traced, c["ntk_vector_products/traced"])
    assert select_implementation(N1, N2, N_OUT, n_params(params)) is VP


def test_auto_blocks_a_jacobian_over_budget(computed, monkeypatch):
    """``auto`` without batch_size: one block when J fits the budget, else power-of-2 blocks of
    J rows within it, and the same kernel (the width-2048, N=512 bench case: 16 -> 2 GB)."""
    from typicality_ntk.ntk import _empirical

    assert _empirical.auto_batch_size(512, 1, 8_400_000, 4) == 32  # 2 GiB / 33.6 MB = 63 rows
    assert _empirical.auto_batch_size(48, 1, 8_400_000, 4) is None  # 1.6 GB at once
    assert _empirical.auto_batch_size(4, 1, 10**12, 8) == 1
    c = computed(jnp.float32)
    apply_fn, params, x1, x2 = _mlp_problem(jnp.float32)
    row = N_OUT * n_params(params) * 4
    monkeypatch.setattr(_empirical, "AUTO_JACOBIAN_BYTES", 2 * row)  # blocks of 2 examples

    def no_structure(*args):
        raise _empirical._structured.StructureError("as if apply_fn had no dense layers")

    monkeypatch.setattr(_empirical._structured, "analyze", no_structure)  # auto: not structured
    assert _empirical.auto_batch_size(N1, N_OUT, n_params(params), 4) == 2
    k = jax.jit(make_ntk_fn(apply_fn, implementation="auto"), compiler_options=FAST_COMPILE)
    assert_close(k(params, x1, x2), c["ntk_vector_products/x1x2"])


def test_select_implementation():
    """Winners measured on this project's CPU (3-layer ReLU MLPs of 16 inputs, bench/cost_model.py;
    see COST_JACOBIAN_ENTRY), only cases won by over 1.3x in both runs; JC/VP time ratio."""
    assert select_implementation(512, 512, 1, 9_473, symmetric=True) is JC  # w=64: 0.19
    assert select_implementation(512, 512, 1, 136_193, symmetric=True) is JC  # w=256: 0.37-0.38
    assert select_implementation(128, 128, 1, 136_193, symmetric=True) is JC  # w=256: 0.67-0.74
    assert select_implementation(16, 16, 8, 9_928, symmetric=True) is VP  # w=64: 2.7-3.1
    assert select_implementation(16, 16, 1, 2_117_633, symmetric=True) is VP  # w=1024: 2.5-3.6
    assert select_implementation(128, 128, 8, 137_992) is VP  # w=256, x2 != x1: 2.3-2.4
    assert select_implementation(128, 128, 1, 2_117_633) is VP  # w=1024, x2 != x1: 1.43-1.47


def test_invalid_arguments():
    apply_fn, params, x1, _ = _mlp_problem(jnp.float32)
    with pytest.raises(ValueError, match="jacobian_contraction.*ntk_vector_products.*auto"):
        empirical_ntk(apply_fn, params, x1, implementation="bogus")
    with pytest.raises(ValueError, match="batch_size"):
        empirical_ntk(apply_fn, params, x1, batch_size=0)
    with pytest.raises(ValueError, match=r"\(batch, n_out\)"):
        empirical_ntk(lambda p, x: apply_fn(p, x)[:, 0], params, x1)
