"""neural-tangents' empirical / predict API (``typicality_ntk.ntk``) against nt 0.6.5 itself.

The ``api/...`` keys of ``tests/fixtures/nt_reference.npz`` (``scripts/make_nt_reference.py``)
hold nt's ``empirical_ntk_fn`` / ``empirical_nngp_fn`` / ``empirical_kernel_fn`` in several
``trace_axes`` / ``diagonal_axes`` / ``vmap_axes`` settings, ``linearize``, ``taylor_expand`` and
``predict.gradient_descent_mse`` for a plain JAX function with outputs ``(N, 3, 2)`` (and the
same with the batch on axis 1) and for stax MLPs equal to our :func:`make_mlp`. Ours must agree
to ``RTOL`` (relative to the largest entry) in float64. Each function's kernels come from one
jitted program (compile time dominates).
"""

import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import nt_fixture_mlp

from typicality_ntk import ntk as nt  # the one-line change from `import neural_tangents as nt`
from typicality_ntk.ntk import NtkImplementation
from typicality_ntk.ntk._nt_api import NT_IMPLEMENTATION_CODES, as_implementation

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "nt_reference.npz"
FAST_COMPILE = {"xla_backend_optimization_level": 0}
RTOL = 1e-6
_HIGHEST = jax.lax.Precision.HIGHEST

pytestmark = pytest.mark.usefixtures("strict_x64")

# Every implementation is checked against nt's (Jacobian-contraction) kernels: the two
# Jacobian-based ones in every setting; "auto" (structured for our MLPs with vmap_axes, else the
# cost model's pick) in a few; "structured" (flax Dense layers, needs vmap_axes) for the MLPs.
IMPLEMENTATIONS = ("jacobian_contraction", "ntk_vector_products", "auto", "structured")
# The layout code is shared, so the other implementations need fewer settings (compile time).
IMPL_SETTINGS = {
    "ntk_vector_products": ("trace_none", "vmap0_trace_none", "vmap0_diag_batch", "trace_all",
                            "vmap1", "vmap1_diag_batch"),
    "auto": ("trace_none", "vmap0", "vmap0_diag_batch", "vmap1"),
}  # fmt: skip

# Mirrors of the settings in scripts/make_nt_reference.py.
NTK_SETTINGS = {
    "trace_none": (dict(trace_axes=()), ("x1x2", "x1x1")),
    "trace_last": (dict(), ("x1x2", "x1x1")),
    "diag_batch": (dict(trace_axes=(), diagonal_axes=(0,)), ("x1x1", "x1x3")),
    "diag_last": (dict(trace_axes=(), diagonal_axes=(-1,)), ("x1x2", "x1x1")),
    "vmap0": (dict(vmap_axes=0), ("x1x2", "x1x1")),
    "vmap0_trace_none": (dict(trace_axes=(), vmap_axes=0), ("x1x2", "x1x1")),
    "vmap0_diag_batch": (dict(diagonal_axes=(0,), vmap_axes=0), ("x1x1", "x1x3")),
}
NTK_SETTINGS_3D = {
    "trace_mid_diag_last": (dict(trace_axes=(1,), diagonal_axes=(-1,)), ("x1x2", "x1x1")),
    "trace_all": (dict(trace_axes=(1, 2), vmap_axes=(0, 0, {})), ("x1x2", "x1x1")),
    "trace_batch": (dict(trace_axes=(0,)), ("x1x1", "x1x3")),
}
NTK_SETTINGS_T = {
    "trace_none": (dict(trace_axes=()), ("x1x2", "x1x1")),
    "vmap1": (dict(vmap_axes=(1, 1, {})), ("x1x2", "x1x1")),
    "vmap1_diag_batch": (dict(trace_axes=(), diagonal_axes=(1,), vmap_axes=1), ("x1x1", "x1x3")),
}
NNGP_SETTINGS = {
    "trace_none": (dict(trace_axes=()), ("x1x2", "x1x1")),
    "trace_last": (dict(), ("x1x2", "x1x1")),
    "diag_batch": (dict(trace_axes=(), diagonal_axes=(0,)), ("x1x1", "x1x3")),
    "diag_last": (dict(trace_axes=(), diagonal_axes=(-1,)), ("x1x2", "x1x1")),
}
KERNEL_SETTINGS = {
    "tuple_vmap0": (dict(vmap_axes=0), ("ntk", "nngp")),
    "none_trace_none": (dict(trace_axes=()), None),
}
PREDICT_SETTINGS = {
    "full": ((), dict(learning_rate=0.5, trace_axes=())),
    "full_reg": ((), dict(learning_rate=0.5, diag_reg=1e-2, trace_axes=())),
    "traced_reg_abs": (
        (-1,),
        dict(learning_rate=2.0, diag_reg=1e-3, diag_reg_absolute_scale=True),
    ),
}
PREDICT_SETTINGS_3D = {"traced_mid_reg": ((1,), dict(diag_reg=0.1, trace_axes=(1,)))}
MLPS = ("ntk_relu_d2_w64_o2", "standard_erf_d2_w64_o1")
FNS = ("plain", "plain_t", *MLPS)


def plain_apply(p, x):
    """``(N, n0) -> (N, 3, 2)``, as in the fixture script (rank promotion explicit)."""
    h = jnp.tanh(jnp.matmul(x, p["W1"], precision=_HIGHEST) + p["b1"][None, :])
    return jnp.matmul(h, p["W2"], precision=_HIGHEST).reshape(x.shape[0], 3, 2)


def plain_apply_t(p, x):
    """``(n0, N) -> (3, N, 2)``: the batch on axis 1."""
    return jnp.transpose(plain_apply(p, x.T), (1, 0, 2))


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


def _model(ref, fn):
    """``(apply_fn, params, delta, ntk_settings, predict_settings, transposed)`` of ``fn``."""
    if fn in ("plain", "plain_t"):
        params = {k: jnp.asarray(ref[f"api/plain/params/{k}"]) for k in ("W1", "b1", "W2")}
        delta = {k: jnp.asarray(ref[f"api/plain/delta/{k}"]) for k in ("W1", "b1", "W2")}
        if fn == "plain_t":
            return plain_apply_t, params, delta, NTK_SETTINGS_T, {}, True
        return (
            plain_apply, params, delta, {**NTK_SETTINGS, **NTK_SETTINGS_3D},
            {**PREDICT_SETTINGS, **PREDICT_SETTINGS_3D}, False,
        )  # fmt: skip
    _, apply_fn, params = nt_fixture_mlp(ref, fn)
    _, _, delta = nt_fixture_mlp(ref, fn, params_prefix=f"api/{fn}/delta")
    return apply_fn, params, delta, NTK_SETTINGS, PREDICT_SETTINGS, False


def _impl_settings(fn, impl, ntk_settings):
    """The NTK settings in which ``impl`` is checked for ``fn``."""
    if impl in IMPL_SETTINGS:
        return {k: v for k, v in ntk_settings.items() if k in IMPL_SETTINGS[impl]}
    if impl == "structured":
        if fn not in MLPS:
            return {}
        return {k: v for k, v in ntk_settings.items() if "vmap_axes" in v[0]}
    return ntk_settings


def _inputs(ref, transposed):
    xs = {"x1x1": ref["x1"], "x1x2": ref["x2"], "x1x3": ref["api/x3"]}
    return {k: jnp.asarray(v.T if transposed else v) for k, v in xs.items()}


def _ours(ref, fn):
    """Our value for every ``api/{fn}/...`` key of the fixture, from one jitted program."""
    apply_fn, params, delta, ntk_settings, predict_settings, transposed = _model(ref, fn)
    prefix = f"api/{fn}"

    @functools.partial(jax.jit, compiler_options=FAST_COMPILE)
    def compute(params, delta, xs, y_train):
        x1 = xs["x1x1"]
        inputs = {"x1x2": xs["x1x2"], "x1x1": None, "x1x3": xs["x1x3"]}
        out = {}
        for impl in IMPLEMENTATIONS:
            for setting, (kw, pairs) in _impl_settings(fn, impl, ntk_settings).items():
                ntk_fn = nt.empirical_ntk_fn(apply_fn, **kw, implementation=impl)
                for pair in pairs:
                    out[f"{impl}|{prefix}/ntk/{setting}/{pair}"] = ntk_fn(x1, inputs[pair], params)
        if transposed:
            return out
        for setting, (kw, pairs) in NNGP_SETTINGS.items():
            nngp_fn = nt.empirical_nngp_fn(apply_fn, **kw)
            for pair in pairs:
                out[f"{prefix}/nngp/{setting}/{pair}"] = nngp_fn(x1, inputs[pair], params)
        for setting, (kw, get) in KERNEL_SETTINGS.items():
            kernel_fn = nt.empirical_kernel_fn(apply_fn, **kw)
            for pair in ("x1x2", "x1x1"):
                kernels = kernel_fn(x1, inputs[pair], get, params)
                assert type(kernels).__name__ == "EmpiricalKernel"
                assert kernels._fields == (get or ("nngp", "ntk"))
                for name in ("nngp", "ntk"):
                    out[f"{prefix}/kernel/{setting}/{name}/{pair}"] = getattr(kernels, name)
        shifted = jax.tree.map(jnp.add, params, delta)
        out[f"{prefix}/linearize"] = nt.linearize(apply_fn, params)(shifted, x1)
        out[f"{prefix}/taylor2"] = nt.taylor_expand(apply_fn, params, 2)(shifted, x1)
        out[f"{prefix}/shifted"] = apply_fn(shifted, x1)

        x_test = inputs["x1x2"]
        fx_train_0, fx_test_0 = apply_fn(params, x1), apply_fn(params, x_test)
        times = {"none": None, "scalar": 1.5, "array": jnp.asarray([0.0, 0.3, 5.0, 100.0])}
        for setting, (k_trace, kw) in predict_settings.items():
            ntk_fn = nt.empirical_ntk_fn(apply_fn, trace_axes=k_trace, vmap_axes=0)
            k_train_train, k_test_train = ntk_fn(x1, None, params), ntk_fn(x_test, x1, params)
            predict_fn = nt.predict.gradient_descent_mse(k_train_train, y_train, **kw)
            for t_name, t in times.items():
                key = f"{prefix}/predict/{setting}/{t_name}"
                out[f"{key}/train"], out[f"{key}/test"] = predict_fn(
                    t, fx_train_0, fx_test_0, k_test_train
                )
                out[f"{key}/train_only"] = predict_fn(t, fx_train_0)
                out[f"{key}/default"] = predict_fn(t)
                out[f"{key}/test_only"] = predict_fn(t, None, fx_test_0, k_test_train)
        return out

    y_key = f"{prefix}/y_train"
    y_train = jnp.asarray(ref[y_key]) if y_key in ref else None
    return jax.device_get(compute(params, delta, _inputs(ref, transposed), y_train))


@pytest.fixture(scope="module")
def ours(ref):
    cache = {}

    def get(fn):
        if fn not in cache:
            cache[fn] = _ours(ref, fn)
        return cache[fn]

    return get


def _assert_relative(actual, desired, what=""):
    actual, desired = np.asarray(actual), np.asarray(desired)
    assert actual.shape == desired.shape, (what, actual.shape, desired.shape)
    assert actual.dtype == np.float64, what
    scale = np.max(np.abs(desired))
    np.testing.assert_allclose(actual, desired, rtol=RTOL, atol=RTOL * scale, err_msg=what)


def _keys(ref, fn, kind):
    return sorted(k for k in ref if k.startswith(f"api/{fn}/{kind}/"))


@pytest.mark.parametrize("fn", FNS)
def test_empirical_ntk_fn_matches_nt(ref, ours, fn):
    keys = _keys(ref, fn, "ntk")
    settings = _model(ref, fn)[3]
    assert len(keys) == sum(len(pairs) for _, pairs in settings.values())
    for impl in IMPLEMENTATIONS:
        impl_keys = [k for k in keys if k.split("/")[3] in _impl_settings(fn, impl, settings)]
        assert impl_keys or (impl == "structured" and fn not in MLPS)
        for key in impl_keys:
            _assert_relative(ours(fn)[f"{impl}|{key}"], ref[key], f"{impl}: {key}")


@pytest.mark.parametrize("kind", ("nngp", "kernel", "predict"))
@pytest.mark.parametrize("fn", ("plain", *MLPS))
def test_nngp_kernel_and_predict_match_nt(ref, ours, fn, kind):
    keys = _keys(ref, fn, kind)
    assert keys
    for key in keys:
        _assert_relative(ours(fn)[key], ref[key], key)


@pytest.mark.parametrize("fn", ("plain", *MLPS))
def test_linearize_and_taylor_expand_match_nt(ref, ours, fn):
    for what in ("linearize", "taylor2", "shifted"):
        key = f"api/{fn}/{what}"
        _assert_relative(ours(fn)[key], ref[key], key)
    # The shift is small: the Taylor series approach f(params + delta) with the order.
    exact = ref[f"api/{fn}/shifted"]
    err1 = np.max(np.abs(ref[f"api/{fn}/linearize"] - exact))
    err2 = np.max(np.abs(ref[f"api/{fn}/taylor2"] - exact))
    assert err2 < err1


def test_implementation_ints_and_names_are_the_same():
    for code, name in NT_IMPLEMENTATION_CODES.items():
        member = NtkImplementation(name)
        assert as_implementation(code) is member
        assert as_implementation(np.int64(code)) is member
        assert as_implementation(name) is member
        assert as_implementation(name.upper()) is member
        assert as_implementation(member) is member
    assert as_implementation("STRUCTURED_DERIVATIVES") is NtkImplementation("structured")
    # nt's enum member name works unchanged (an alias of STRUCTURED)
    assert NtkImplementation.STRUCTURED_DERIVATIVES is NtkImplementation.STRUCTURED


def test_int_and_name_give_the_same_kernel(ref):
    def check(apply_fn, params, codes):
        @functools.partial(jax.jit, compiler_options=FAST_COMPILE)
        def compute(params, x1, x2):
            return [
                nt.empirical_ntk_fn(apply_fn, vmap_axes=0, implementation=impl)(x1, x2, params)
                for code in codes
                for impl in (code, NT_IMPLEMENTATION_CODES[code], NtkImplementation(
                    NT_IMPLEMENTATION_CODES[code]))
            ]  # fmt: skip

        kernels = compute(params, jnp.asarray(ref["x1"][:3]), jnp.asarray(ref["x2"][:2]))
        for k in kernels[1:]:
            np.testing.assert_allclose(k, kernels[0], rtol=1e-12, atol=1e-12 * np.max(np.abs(k)))

    params = {k: jnp.asarray(ref[f"api/plain/params/{k}"]) for k in ("W1", "b1", "W2")}
    check(plain_apply, params, (0, 1, 2))
    apply_fn, params, *_ = _model(ref, MLPS[0])  # structured: flax Dense layers only
    check(apply_fn, params, (0, 1, 2, 3))


# --------------------------------------------------------------------------- beyond the fixture


def _small_params(key=0):
    k1, k2, k3 = jax.random.split(jax.random.key(key), 3)
    return {
        "W1": jax.random.normal(k1, (4, 5), jnp.float64),
        "b1": jax.random.normal(k2, (5,), jnp.float64),
        "W2": jax.random.normal(k3, (5, 6), jnp.float64),
    }


def _small_apply(p, x, scale=1.0):
    h = jnp.tanh(jnp.matmul(x, p["W1"], precision=_HIGHEST) + p["b1"][None, :])
    return scale * jnp.matmul(h, p["W2"], precision=_HIGHEST).reshape(x.shape[0], 3, 2)


def _small_inputs():
    x1 = jax.random.normal(jax.random.key(1), (3, 4), jnp.float64)
    x2 = jax.random.normal(jax.random.key(2), (2, 4), jnp.float64)
    return x1, x2


def _naive_ntk(f, params, x1, x2):
    """``J(x1) J(x2)^T`` of whole-batch Jacobians, nt's zipped layout for ``(N, 3, 2)`` outputs."""

    def jac(x):
        j = jax.jacrev(lambda p: f(p, x))(params)
        shape = jax.eval_shape(f, params, x).shape
        return jnp.concatenate(
            [leaf.reshape(shape + (-1,)) for leaf in jax.tree.leaves(j)], axis=-1
        )

    k = jnp.einsum("abcp,defp->abcdef", jac(x1), jac(x2), precision=_HIGHEST)
    return jnp.transpose(k, (0, 3, 1, 4, 2, 5))


def test_vmap_axes_none_keeps_cross_example_terms():
    # f mixes examples (subtracts the batch mean): nt's vmap_axes=None is exact for it, and so
    # is ours, whatever the implementation.
    def f(p, x):
        y = _small_apply(p, x)
        return y - jnp.mean(y, axis=0, keepdims=True)

    @functools.partial(jax.jit, compiler_options=FAST_COMPILE)
    def compute(params, x1, x2):
        out = {"naive": _naive_ntk(f, params, x1, x2), "naive11": _naive_ntk(f, params, x1, x1)}
        for impl in ("jacobian_contraction", "ntk_vector_products", "auto"):
            ntk_fn = nt.empirical_ntk_fn(f, trace_axes=(), implementation=impl)
            out[impl] = ntk_fn(x1, x2, params)
            out[impl + "11"] = ntk_fn(x1, None, params)
        out["mean"] = nt.empirical_ntk_fn(f)(x1, x2, params)
        return out

    out = compute(_small_params(), *_small_inputs())
    for impl in ("jacobian_contraction", "ntk_vector_products", "auto"):
        for tag in ("", "11"):
            d = out["naive" + tag]
            np.testing.assert_allclose(out[impl + tag], d, rtol=0, atol=1e-12 * np.max(np.abs(d)))
    mean = jnp.einsum("abcedd->abce", out["naive"]) / 2
    np.testing.assert_allclose(out["mean"], mean, rtol=1e-12)


def test_kwargs_pytree_outputs_and_rng_split():
    def two(p, x):
        y = _small_apply(p, x)
        return {"a": y, "b": y[:, 0, :]}

    def noisy(p, x, rng):  # a key-dependent output scale, as dropout would have
        return _small_apply(p, x) * (1.0 + jax.random.uniform(rng, (), jnp.float64))

    @functools.partial(jax.jit, compiler_options=FAST_COMPILE)
    def compute(params, x1, x2, key):
        ntk_fn = nt.empirical_ntk_fn(_small_apply, trace_axes=(), vmap_axes=0)
        out = {
            "base": ntk_fn(x1, x2, params),
            "base11": ntk_fn(x1, None, params),
            "scaled": ntk_fn(x1, x2, params, scale=2.0),
            "two": nt.empirical_ntk_fn(two, trace_axes=(), vmap_axes=0)(x1, x2, params),
            "two_nngp": nt.empirical_kernel_fn(two, trace_axes=())(x1, None, "nngp", params),
            "nngp": nt.empirical_nngp_fn(_small_apply, trace_axes=())(x1, None, params),
            "scale1": 1.0 + jax.random.uniform(key, (), jnp.float64),
            "scale2": 1.0 + jax.random.uniform(jax.random.fold_in(key, 1), (), jnp.float64),
        }
        for vmap_axes in (None, 0):
            fn = nt.empirical_ntk_fn(noisy, trace_axes=(), vmap_axes=vmap_axes)
            out[f"rng11_{vmap_axes}"] = fn(x1, None, params, rng=key)
            out[f"rng12_{vmap_axes}"] = fn(x1, x2, params, rng=key)
        return out

    out = compute(_small_params(), *_small_inputs(), jax.random.key(3))
    base, s1, s2 = out["base"], out["scale1"], out["scale2"]
    np.testing.assert_allclose(out["scaled"], 4.0 * base, rtol=1e-12)
    np.testing.assert_allclose(out["two"]["a"], base, rtol=1e-12)
    np.testing.assert_allclose(out["two"]["b"], base[:, :, 0, 0], rtol=1e-12)
    np.testing.assert_allclose(out["two_nngp"]["a"], out["nngp"], rtol=1e-12)
    assert out["two_nngp"]["b"].shape == (3, 3, 2, 2)
    for vmap_axes in (None, 0):  # x2=None: one key; x2 given: fold_in(key, 1) for x2
        np.testing.assert_allclose(out[f"rng11_{vmap_axes}"], s1**2 * out["base11"], rtol=1e-12)
        np.testing.assert_allclose(out[f"rng12_{vmap_axes}"], s1 * s2 * base, rtol=1e-12)


def test_predict_eagerly_and_with_zero_modes():
    # A rank-deficient kernel (one zero eigenvalue): nt divides 0 / 0 there, ours does not.
    j = jax.random.normal(jax.random.key(0), (4, 3), jnp.float64)
    k = j @ j.T
    y = jax.random.normal(jax.random.key(1), (4, 1), jnp.float64)
    k_test = jax.random.normal(jax.random.key(2), (2, 3), jnp.float64) @ j.T
    predict_fn = nt.predict.gradient_descent_mse(k, y)
    train, test = predict_fn(jnp.asarray([1.0, 1e9]), 0.0, jnp.zeros((2, 1)), k_test)
    assert np.all(np.isfinite(train)) and np.all(np.isfinite(test))
    # t -> infinity: the training residual keeps only its null-space component.
    null = np.linalg.eigh(np.asarray(k))[1][:, :1]
    np.testing.assert_allclose(train[1], y - null @ (null.T @ np.asarray(y)), atol=1e-6)
    np.testing.assert_allclose(predict_fn(1.0), train[0], rtol=1e-12)  # the cached eigh


def test_discrete_gradient_descent_is_exact():
    # f_{s+1} = f_s - (lr / n) K (f_s - y), f_test_{s+1} = f_test_s - (lr / n) K_te (f_s - y).
    j = jax.random.normal(jax.random.key(0), (10, 20), jnp.float64)
    k_all = jnp.matmul(j, j.T, precision=_HIGHEST) / 20
    k, k_te = k_all[:6, :6], k_all[6:, :6]
    y = jax.random.normal(jax.random.key(1), (6, 1), jnp.float64)
    f0 = jax.random.normal(jax.random.key(2), (6, 1), jnp.float64)
    g0 = jnp.zeros((4, 1))
    lr = 0.5 * float(nt.predict.max_learning_rate(k, y.size))
    evals = np.linalg.eigvalsh(np.asarray(k))
    np.testing.assert_allclose(nt.predict.max_learning_rate(k, 7), 2 * 7 / (evals[-1] + 1e-12))

    @functools.partial(jax.jit, compiler_options=FAST_COMPILE)
    def compute(k, k_te, y, f0, g0):
        f, g, steps = f0, g0, []
        for _ in range(6):
            steps.append((f, g))
            r = f - y
            f = f - lr / y.size * jnp.matmul(k, r, precision=_HIGHEST)
            g = g - lr / y.size * jnp.matmul(k_te, r, precision=_HIGHEST)
        discrete = nt.predict.gradient_descent_mse_discrete(k, y, learning_rate=lr)
        flow = nt.predict.gradient_descent_mse(k, y, learning_rate=lr)
        small = nt.predict.gradient_descent_mse_discrete(k, y, learning_rate=1e-3 * lr)
        small_flow = nt.predict.gradient_descent_mse(k, y, learning_rate=1e-3 * lr)
        return {
            "loop_train": jnp.stack([s[0] for s in steps]),
            "loop_test": jnp.stack([s[1] for s in steps]),
            "steps": discrete(jnp.arange(6.0), f0, g0, k_te),
            "inf": discrete(None, f0, g0, k_te),
            "flow_inf": flow(None, f0, g0, k_te),
            "small": small(300.0, f0),
            "small_flow": small_flow(300.0, f0),
        }

    out = compute(k, k_te, y, f0, g0)
    np.testing.assert_allclose(out["steps"][0], out["loop_train"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out["steps"][1], out["loop_test"], rtol=1e-10, atol=1e-12)
    for a, b in zip(out["inf"], out["flow_inf"], strict=True):  # the same fixed point
        np.testing.assert_allclose(a, b, rtol=1e-12)
    # Small steps: close to gradient flow (the difference is second order in lr).
    scale = np.max(np.abs(out["small_flow"]))
    np.testing.assert_allclose(out["small"], out["small_flow"], rtol=0, atol=1e-4 * scale)


# --------------------------------------------------------------------------- bad input


def test_bad_arguments_raise_value_errors():
    params = _small_params()
    x1 = jnp.zeros((3, 4))
    for impl in ("bogus", 7, -1, True, None, 1.0):
        with pytest.raises(ValueError, match="implementation"):
            nt.empirical_ntk_fn(_small_apply, implementation=impl)
        with pytest.raises(ValueError, match="implementation"):
            nt.empirical_kernel_fn(_small_apply, implementation=impl)
    with pytest.raises(ValueError, match="trace_axes"):
        nt.empirical_ntk_fn(_small_apply, trace_axes=("a",))
    with pytest.raises(ValueError, match="vmap_axes"):
        nt.empirical_ntk_fn(_small_apply, vmap_axes="batch")
    for kw, name in (
        (dict(trace_axes=(3,)), "trace_axes"),
        (dict(trace_axes=(), diagonal_axes=(-4,)), "diagonal_axes"),
        (dict(trace_axes=(1,), diagonal_axes=(1,)), "overlap"),
    ):
        for fn in (nt.empirical_ntk_fn, nt.empirical_nngp_fn):
            with pytest.raises(ValueError, match=name):
                fn(_small_apply, **kw)(x1, None, params)
    for vmap_axes in (None, 0):
        ntk_fn = nt.empirical_ntk_fn(_small_apply, vmap_axes=vmap_axes)
        with pytest.raises(ValueError, match="x2"):
            ntk_fn(x1, jnp.zeros((2, 5)), params)  # 5 features, not 4
        with pytest.raises(ValueError, match="x2"):
            nt.empirical_ntk_fn(_small_apply, diagonal_axes=(0,), vmap_axes=vmap_axes)(
                x1, jnp.zeros((2, 4)), params
            )  # a diagonal over examples needs N1 == N2
    with pytest.raises(ValueError, match="x1"):
        nt.empirical_ntk_fn(_small_apply)((x1,), None, params)
    with pytest.raises(ValueError, match="vmap_axes"):
        nt.empirical_ntk_fn(_small_apply, vmap_axes=(0, 3, {}))(x1, None, params)
    with pytest.raises(ValueError, match="vmap_axes"):  # structured works example by example
        nt.empirical_ntk_fn(_small_apply, implementation=3)
    with pytest.raises(ValueError, match="get"):
        nt.empirical_kernel_fn(_small_apply)(x1, None, "nnpg", params)

    k, y = jnp.eye(3), jnp.zeros((3, 1))
    with pytest.raises(ValueError, match="k_train_train"):
        nt.predict.gradient_descent_mse(jnp.eye(4), y)
    with pytest.raises(ValueError, match="trace_axes"):
        nt.predict.gradient_descent_mse(k, y, trace_axes=(2,))
    predict_fn = nt.predict.gradient_descent_mse(k, y)
    with pytest.raises(ValueError, match="fx_train_0"):
        predict_fn(1.0, None)
    with pytest.raises(ValueError, match="k_test_train"):
        predict_fn(1.0, 0.0, jnp.zeros((2, 1)))
    with pytest.raises(ValueError, match="k_test_train"):
        predict_fn(1.0, 0.0, jnp.zeros((2, 1)), jnp.zeros((2, 4)))


def test_negative_time_is_a_value_error_and_traced_time_still_works():
    k = jnp.eye(3) * 2.0
    y = jnp.ones((3, 1))
    for make in (nt.predict.gradient_descent_mse, nt.predict.gradient_descent_mse_discrete):
        predict_fn = make(k, y, learning_rate=0.5)
        for t in (-5, -0.5, jnp.asarray(-1.0), [1.0, -2.0], np.array([[0.0], [-3.0]]), np.nan):
            with pytest.raises(ValueError, match=r"t=.* must be >= 0"):
                predict_fn(t, 0.0)
        np.testing.assert_allclose(predict_fn(0, 1.0), jnp.ones((3, 1)))  # t = 0 is allowed
        at_two = predict_fn(2.0, 0.0)
        traced = jax.jit(lambda t, p=predict_fn: p(t, 0.0))(2.0)  # a Tracer is not checked
        np.testing.assert_allclose(traced, at_two, rtol=1e-12)
        grad = jax.grad(lambda t, p=predict_fn: p(t, 0.0).sum())(1.0)
        assert np.isfinite(grad)
