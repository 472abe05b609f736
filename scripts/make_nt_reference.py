"""Generate ``tests/fixtures/nt_reference.npz`` with neural-tangents as the reference.

neural-tangents 0.6.5 does not import on the JAX this project uses, so this script runs in a
throw-away environment outside the project's. The exact command that produced the committed
fixture (run from the repository root; Linux x86-64, CPU only)::

    uv run --isolated --no-project --python 3.11 --with jax==0.4.30 --with jaxlib==0.4.30 \
        --with neural-tangents==0.6.5 python scripts/make_nt_reference.py

uv resolved (among others) numpy 2.4.6, scipy 1.17.1, frozendict 2.5.1, tf2jax 0.3.6 and
tensorflow 2.21.0 (pulled in by tf2jax; only its import matters, it is never used here). No extra
pins were needed. (The same versions in a plain venv, ``pip install "jax==0.4.30"
"jaxlib==0.4.30" "neural-tangents==0.6.5"``, produced the first version of the fixture.)

What is stored (all float64 unless noted; no pickled objects, ``np.load`` works with the default
``allow_pickle=False``):

* ``x1`` (N1, n0) and ``x2`` (N2, n0): the inputs.
* ``meta/sigma_w``, ``meta/sigma_b``: scalars; ``meta/models``: unicode array of model names
  ``{parameterization}_{activation}_d{hidden_layers}_w{width}_o{n_out}``; ``meta/versions``.
* ``params/{parameterization}_d{depth}_w{width}_o{n_out}/layer{l}/W`` (fan_in, fan_out) and
  ``.../b`` (fan_out,): stax ``Dense`` parameters, **stored as float32**. They are rounded to
  float32 *before* the kernels are computed (in float64), so casting them back to float64
  reproduces the kernels exactly. Parameters do not depend on the activation, so models that
  differ only in the activation share them. ``layer0 .. layer{depth}``; the last is the readout.
* ``{model}/emp/{implementation}/{x1x2|x1x1}``: ``nt.empirical_ntk_fn(apply_fn, trace_axes=(),
  implementation=...)(x1, x2 or None, params)``, shape (N1, N2, n_out, n_out) in nt's layout
  (``[i, j, k, l]`` = sum_p df_k(x1_i)/dp df_l(x2_j)/dp). For implementation in
  ``jacobian_contraction`` and ``ntk_vector_products``. (``STRUCTURED_DERIVATIVES`` is left out:
  in nt 0.6.5 on jax 0.4.30 it fails with ``module 'jax.interpreters.ad' has no attribute
  'source_info_util'``.)
* ``{model}/emp_traced/{x1x2|x1x1}``: nt's default ``trace_axes=(-1,)``: the *mean* over the
  outputs, shape (N1, N2) (models with n_out > 1 only).
* ``{model}/analytic/{nngp|ntk}/{x1x2|x1x1}``: ``kernel_fn(x1, x2 or None, ('nngp', 'ntk'))``,
  shape (N1, N2). In NTK parameterisation they do not depend on the width; in standard
  parameterisation they do (nt keeps the width factors).

Architecture: ``stax.serial(*[Dense(w, W_std=sigma_w, b_std=sigma_b, parameterization=p), act]
* depth, Dense(n_out, W_std=sigma_w, b_std=sigma_b, parameterization=p))``.

nt's empirical and predict API (read by ``tests/test_nt_api.py``; keys under ``api/``), for two
functions ``{fn}``: ``plain``, ``f(p, x) = (tanh(x @ W1 + b1) @ W2).reshape(N, 3, 2)`` (params
``api/plain/params/{W1,b1,W2}``, float64), and the stax MLPs of :data:`API_MODELS` (parameters
``params/...`` above); plus ``plain_t``, the same function with the batch on axis 1 (inputs
``x.T``, outputs ``(3, N, 2)``).

* ``api/x3`` (N1, n0): a third input with as many examples as ``x1`` (for kernels diagonal or
  traced along the batch axis, which need ``N1 == N2``).
* ``api/{fn}/ntk/{setting}/{pair}``: ``nt.empirical_ntk_fn(f, **NTK_SETTINGS[setting])(x1, xb,
  params)`` (nt's default implementation, Jacobian contraction) with ``pair`` ``x1x2`` (xb = x2),
  ``x1x1`` (None) or ``x1x3``.
* ``api/{fn}/nngp/{setting}/{pair}``: ``nt.empirical_nngp_fn(f, **NNGP_SETTINGS[setting])``.
* ``api/{fn}/kernel/{setting}/{nngp|ntk}/{pair}``: ``nt.empirical_kernel_fn(f, **KERNEL_SETTINGS
  [setting])(x1, xb, get, params)`` with ``get`` a tuple (``("ntk", "nngp")``) or ``None``.
* ``api/{fn}/delta/...``: a parameter shift (same layout as the parameters, float64);
  ``api/{fn}/linearize`` = ``nt.linearize(f, params)(params + delta, x1)``, ``api/{fn}/taylor2``
  = ``nt.taylor_expand(f, params, 2)(params + delta, x1)``, ``api/{fn}/shifted`` = ``f(params +
  delta, x1)``.
* ``api/{fn}/y_train``: targets for ``x1`` (train; ``x2`` is the test set).
  ``api/{fn}/predict/{setting}/{t}/{out}``: ``nt.predict.gradient_descent_mse(k_train_train,
  y_train, **PREDICT_SETTINGS[setting])`` with ``k_train_train = ntk(x1, None)`` and
  ``k_test_train = ntk(x2, x1)`` for ``ntk = empirical_ntk_fn(f, trace_axes=<the setting's>)``;
  ``t`` in ``none`` (``t=None``), ``scalar`` (``api/t_scalar``) or ``array`` (``api/t_array``);
  ``out``: ``train`` / ``test`` from ``predict_fn(t, fx_train_0, fx_test_0, k_test_train)``,
  ``train_only`` from ``predict_fn(t, fx_train_0)``, ``default`` from ``predict_fn(t)``
  (``fx_train_0 = 0``), ``test_only`` from ``predict_fn(t, None, fx_test_0, k_test_train)``.
"""

import pathlib

import jax
import jax.numpy as jnp
import neural_tangents as nt
import numpy as np
from neural_tangents import stax

jax.config.update("jax_enable_x64", True)

SIGMA_W = 1.3
SIGMA_B = 0.2
N1, N2, N0 = 8, 6, 5
OUT = pathlib.Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "nt_reference.npz"

# nt's empirical / predict API. Pairs: x1x2 (x2), x1x1 (None), x1x3 (N2 == N1).
NTK_SETTINGS = {
    "trace_none": (dict(trace_axes=()), ("x1x2", "x1x1")),
    "trace_last": (dict(), ("x1x2", "x1x1")),
    "diag_batch": (dict(trace_axes=(), diagonal_axes=(0,)), ("x1x1", "x1x3")),
    "diag_last": (dict(trace_axes=(), diagonal_axes=(-1,)), ("x1x2", "x1x1")),
    "vmap0": (dict(vmap_axes=0), ("x1x2", "x1x1")),
    "vmap0_trace_none": (dict(trace_axes=(), vmap_axes=0), ("x1x2", "x1x1")),
    "vmap0_diag_batch": (dict(diagonal_axes=(0,), vmap_axes=0), ("x1x1", "x1x3")),
}
# Only for the (N, 3, 2) function.
NTK_SETTINGS_3D = {
    "trace_mid_diag_last": (dict(trace_axes=(1,), diagonal_axes=(-1,)), ("x1x2", "x1x1")),
    "trace_all": (dict(trace_axes=(1, 2), vmap_axes=(0, 0, {})), ("x1x2", "x1x1")),
    "trace_batch": (dict(trace_axes=(0,)), ("x1x1", "x1x3")),
}
# Only for the (3, N, 2) function (batch on axis 1).
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
# name: (kernel trace_axes, gradient_descent_mse keywords)
PREDICT_SETTINGS = {
    "full": ((), dict(learning_rate=0.5, trace_axes=())),
    "full_reg": ((), dict(learning_rate=0.5, diag_reg=1e-2, trace_axes=())),
    "traced_reg_abs": (
        (-1,),
        dict(learning_rate=2.0, diag_reg=1e-3, diag_reg_absolute_scale=True),
    ),
}
PREDICT_SETTINGS_3D = {
    "traced_mid_reg": ((1,), dict(diag_reg=0.1, trace_axes=(1,))),
}
API_MODELS = ("ntk_relu_d2_w64_o2", "standard_erf_d2_w64_o1")
T_SCALAR = 1.5
T_ARRAY = (0.0, 0.3, 5.0, 100.0)

ACTIVATIONS = {"relu": stax.Relu, "erf": stax.Erf}
IMPLEMENTATIONS = {
    "jacobian_contraction": nt.NtkImplementation.JACOBIAN_CONTRACTION,
    "ntk_vector_products": nt.NtkImplementation.NTK_VECTOR_PRODUCTS,
}
# (parameterization, activation, hidden layers, width, n_out)
MODELS = [
    ("ntk", act, depth, width, 1)
    for act in ("relu", "erf")
    for depth in (2, 3)
    for width in (64, 128)
] + [
    ("ntk", "relu", 2, 64, 2),
    ("ntk", "erf", 3, 64, 2),
    ("standard", "relu", 2, 64, 1),
    ("standard", "erf", 2, 64, 1),
]


def build(parameterization, activation, depth, width, n_out):
    layers = []
    for _ in range(depth):
        layers += [
            stax.Dense(width, W_std=SIGMA_W, b_std=SIGMA_B, parameterization=parameterization),
            ACTIVATIONS[activation](),
        ]
    layers.append(
        stax.Dense(n_out, W_std=SIGMA_W, b_std=SIGMA_B, parameterization=parameterization)
    )
    return stax.serial(*layers)


def plain_apply(p, x):
    """``(N, n0) -> (N, 3, 2)``: a plain JAX function with a multi-dimensional output."""
    h = jnp.tanh(jnp.matmul(x, p["W1"]) + p["b1"][None, :])
    return jnp.matmul(h, p["W2"]).reshape(x.shape[0], 3, 2)


def plain_apply_t(p, x):
    """``(n0, N) -> (3, N, 2)``: :func:`plain_apply` with the batch on axis 1."""
    return jnp.transpose(plain_apply(p, x.T), (1, 0, 2))


def _shift(key, params):
    leaves, treedef = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(key, len(leaves))
    delta = [
        0.05 * jax.random.normal(k, a.shape, a.dtype) for k, a in zip(keys, leaves, strict=True)
    ]
    return jax.tree_util.tree_unflatten(treedef, delta)


def api_reference(
    prefix, apply_fn, params, delta, xs, y_train, ntk_settings, predict_settings, nngp=True
):
    """nt's empirical and predict API for ``apply_fn`` (keys ``{prefix}/...``)."""
    out = {}
    x1 = xs["x1x1"]
    inputs = {"x1x2": xs["x1x2"], "x1x1": None, "x1x3": xs["x1x3"]}
    for setting, (kw, pairs) in ntk_settings.items():
        fn = jax.jit(nt.empirical_ntk_fn(apply_fn, **kw))
        for pair in pairs:
            out[f"{prefix}/ntk/{setting}/{pair}"] = np.asarray(fn(x1, inputs[pair], params))
    if not nngp:
        return out
    for setting, (kw, pairs) in NNGP_SETTINGS.items():
        fn = jax.jit(nt.empirical_nngp_fn(apply_fn, **kw))
        for pair in pairs:
            out[f"{prefix}/nngp/{setting}/{pair}"] = np.asarray(fn(x1, inputs[pair], params))
    for setting, (kw, get) in KERNEL_SETTINGS.items():
        fn = nt.empirical_kernel_fn(apply_fn, **kw)
        for pair in ("x1x2", "x1x1"):
            kernels = fn(x1, inputs[pair], get, params)
            for name in ("nngp", "ntk"):
                out[f"{prefix}/kernel/{setting}/{name}/{pair}"] = np.asarray(getattr(kernels, name))
    shifted = jax.tree_util.tree_map(jnp.add, params, delta)
    out[f"{prefix}/linearize"] = np.asarray(nt.linearize(apply_fn, params)(shifted, x1))
    out[f"{prefix}/taylor2"] = np.asarray(nt.taylor_expand(apply_fn, params, 2)(shifted, x1))
    out[f"{prefix}/shifted"] = np.asarray(apply_fn(shifted, x1))

    out[f"{prefix}/y_train"] = np.asarray(y_train)
    x_test = inputs["x1x2"]
    fx_train_0, fx_test_0 = apply_fn(params, x1), apply_fn(params, x_test)
    times = {"none": None, "scalar": T_SCALAR, "array": jnp.asarray(T_ARRAY)}
    for setting, (k_trace, kw) in predict_settings.items():
        ntk_fn = jax.jit(nt.empirical_ntk_fn(apply_fn, trace_axes=k_trace))
        k_train_train, k_test_train = ntk_fn(x1, None, params), ntk_fn(x_test, x1, params)
        predict_fn = nt.predict.gradient_descent_mse(k_train_train, y_train, **kw)
        for t_name, t in times.items():
            key = f"{prefix}/predict/{setting}/{t_name}"
            train, test = predict_fn(t, fx_train_0, fx_test_0, k_test_train)
            out[f"{key}/train"], out[f"{key}/test"] = np.asarray(train), np.asarray(test)
            out[f"{key}/train_only"] = np.asarray(predict_fn(t, fx_train_0))
            out[f"{key}/default"] = np.asarray(predict_fn(t))
            out[f"{key}/test_only"] = np.asarray(predict_fn(t, None, fx_test_0, k_test_train))
    return out


def api_outputs(x1, x2, params_cache):
    """Every ``api/...`` key (see the module docstring)."""
    key_x3, key_p, key_y, key_d = jax.random.split(jax.random.PRNGKey(20250102), 4)
    x3 = jax.random.normal(key_x3, (N1, N0), dtype=jnp.float64)
    out = {
        "api/x3": np.asarray(x3),
        "api/t_scalar": np.float64(T_SCALAR),
        "api/t_array": np.asarray(T_ARRAY, np.float64),
    }
    xs = {"x1x1": x1, "x1x2": x2, "x1x3": x3}

    k1, k2, k3 = jax.random.split(key_p, 3)
    params = {
        "W1": jax.random.normal(k1, (N0, 16), jnp.float64) / np.sqrt(N0),
        "b1": 0.1 * jax.random.normal(k2, (16,), jnp.float64),
        "W2": jax.random.normal(k3, (16, 6), jnp.float64) / 4.0,
    }
    for name, value in params.items():
        out[f"api/plain/params/{name}"] = np.asarray(value)
    delta = _shift(jax.random.fold_in(key_d, 0), params)
    for name, value in delta.items():
        out[f"api/plain/delta/{name}"] = np.asarray(value)
    y_train = jax.random.normal(jax.random.fold_in(key_y, 0), (N1, 3, 2), jnp.float64)
    out.update(
        api_reference(
            "api/plain",
            plain_apply,
            params,
            delta,
            xs,
            y_train,
            {**NTK_SETTINGS, **NTK_SETTINGS_3D},
            {**PREDICT_SETTINGS, **PREDICT_SETTINGS_3D},
        )
    )
    xs_t = {k: v.T for k, v in xs.items()}
    out.update(
        api_reference(
            "api/plain_t",
            plain_apply_t,
            params,
            delta,
            xs_t,
            None,
            NTK_SETTINGS_T,
            {},
            nngp=False,
        )
    )

    for index, name in enumerate(API_MODELS):
        param, act, depth, width, n_out = name.split("_")
        depth, width, n_out = int(depth[1:]), int(width[1:]), int(n_out[1:])
        _, apply_fn, _ = build(param, act, depth, width, n_out)
        params = params_cache[f"{param}_d{depth}_w{width}_o{n_out}"]
        delta = _shift(jax.random.fold_in(key_d, index + 1), params)
        dense = [d for d in delta if d != ()]
        for layer, (w, b) in enumerate(dense):
            out[f"api/{name}/delta/layer{layer}/W"] = np.asarray(w)
            out[f"api/{name}/delta/layer{layer}/b"] = np.asarray(b).reshape(-1)
        y_train = jax.random.normal(jax.random.fold_in(key_y, index + 1), (N1, n_out), jnp.float64)
        out.update(
            api_reference(
                f"api/{name}", apply_fn, params, delta, xs, y_train, NTK_SETTINGS, PREDICT_SETTINGS
            )
        )
    return out


def main():
    key_x1, key_x2, key_params = jax.random.split(jax.random.PRNGKey(20250101), 3)
    x1 = jax.random.normal(key_x1, (N1, N0), dtype=jnp.float64)
    x2 = jax.random.normal(key_x2, (N2, N0), dtype=jnp.float64)
    out = {
        "x1": np.asarray(x1),
        "x2": np.asarray(x2),
        "meta/sigma_w": np.float64(SIGMA_W),
        "meta/sigma_b": np.float64(SIGMA_B),
        "meta/models": np.array([f"{p}_{a}_d{d}_w{w}_o{o}" for p, a, d, w, o in MODELS]),
        "meta/versions": np.array(
            [f"jax=={jax.__version__}", f"neural-tangents=={nt.__version__}"]
        ),
    }
    params_cache = {}
    for index, (param, act, depth, width, n_out) in enumerate(MODELS):
        name = f"{param}_{act}_d{depth}_w{width}_o{n_out}"
        init_fn, apply_fn, kernel_fn = build(param, act, depth, width, n_out)
        arch = f"{param}_d{depth}_w{width}_o{n_out}"
        if arch not in params_cache:
            _, params = init_fn(jax.random.fold_in(key_params, index), x1.shape)
            # Round to float32 so the stored float32 values are the exact parameters used.
            params = jax.tree_util.tree_map(
                lambda a: jnp.asarray(a, jnp.float32).astype(jnp.float64), params
            )
            dense = [p for p in params if p != ()]
            assert len(dense) == depth + 1
            for layer, (w, b) in enumerate(dense):
                out[f"params/{arch}/layer{layer}/W"] = np.asarray(w, np.float32)
                out[f"params/{arch}/layer{layer}/b"] = np.asarray(b, np.float32).reshape(-1)
            params_cache[arch] = params
        params = params_cache[arch]

        for impl_name, impl in IMPLEMENTATIONS.items():
            ntk_fn = jax.jit(nt.empirical_ntk_fn(apply_fn, trace_axes=(), implementation=impl))
            for tag, xb in (("x1x2", x2), ("x1x1", None)):
                k = np.asarray(ntk_fn(x1, xb, params))
                assert k.shape == (N1, N2 if xb is not None else N1, n_out, n_out), k.shape
                out[f"{name}/emp/{impl_name}/{tag}"] = k
        if n_out > 1:
            traced_fn = jax.jit(nt.empirical_ntk_fn(apply_fn))
            for tag, xb in (("x1x2", x2), ("x1x1", None)):
                out[f"{name}/emp_traced/{tag}"] = np.asarray(traced_fn(x1, xb, params))
        for tag, xb in (("x1x2", x2), ("x1x1", None)):
            kernels = kernel_fn(x1, xb, ("nngp", "ntk"))
            out[f"{name}/analytic/nngp/{tag}"] = np.asarray(kernels.nngp)
            out[f"{name}/analytic/ntk/{tag}"] = np.asarray(kernels.ntk)
        emp = out[f"{name}/emp/jacobian_contraction/x1x2"]
        spread = max(
            np.max(np.abs(out[f"{name}/emp/{i}/x1x2"] - emp)) for i in IMPLEMENTATIONS
        ) / np.max(np.abs(emp))
        print(f"{name}: max relative spread between nt implementations {spread:.2e}")

    api = api_outputs(x1, x2, params_cache)
    print(f"api: {len(api)} arrays")
    out.update(api)

    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.1f} KiB, {len(out)} arrays)")


if __name__ == "__main__":
    main()
