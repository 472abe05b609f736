"""Generate ``tests/fixtures/nt_reference.npz`` with neural-tangents as the reference.

neural-tangents 0.6.5 does not import on the JAX this project uses, so this script runs in a
throw-away virtual environment outside the repository. The exact commands that produced the
committed fixture (Python 3.11.7, Linux x86-64, CPU only)::

    python3.11 -m venv /tmp/ntenv
    /tmp/ntenv/bin/pip install "jax==0.4.30" "jaxlib==0.4.30" "neural-tangents==0.6.5"
    /tmp/ntenv/bin/python scripts/make_nt_reference.py  # run from the repository root

pip resolved (among others) numpy 2.4.6, scipy 1.17.1, frozendict 2.5.1, tf2jax 0.3.6 and
tensorflow 2.21.0 (pulled in by tf2jax; only its import matters, it is never used here). No extra
pins were needed.

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

    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.1f} KiB, {len(out)} arrays)")


if __name__ == "__main__":
    main()
