"""Finite-width NTK at initialisation converges to the infinite-width kernel as width^(-1/2).

For a ReLU network in NTK parameterisation the empirical kernel fluctuates around the analytic
one with a standard deviation of order ``width**-0.5`` (plus a bias of order ``1 / width``), so
the relative Frobenius error averaged over initialisations lies on a log-log line of slope about
``-1/2``.

The default test draws one set of parameters per seed at the largest width and takes the
leading ``width`` rows/columns for the smaller networks (in NTK parameterisation every entry is
N(0, 1), so each slice is an exact draw at its width) and evaluates all widths in one jitted
program: XLA compile time, not arithmetic, dominates on a small CPU. The slow test sweeps
64..4096 with an independent ``init_fn`` call per width.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from typicality_ntk.ntk import empirical_ntk, infinite_width_kernels, make_mlp

SIGMA_W, SIGMA_B = 1.4, 0.1
N, N0, HIDDEN_LAYERS = 8, 5, 2
N_SEEDS = 8
SLOPE_RANGE = (-0.7, -0.3)
# Skip LLVM's optimisation passes: compile time, not arithmetic, dominates on a small CPU.
FAST_COMPILE = {"xla_backend_optimization_level": 0}


@pytest.fixture(autouse=True)
def _strict_jax():
    with jax.numpy_rank_promotion("raise"), jax.numpy_dtype_promotion("strict"):
        yield


def _mlp(width):
    return make_mlp(
        widths=(width,) * HIDDEN_LAYERS,
        n_out=1,
        activation="relu",
        parameterization="ntk",
        sigma_w=SIGMA_W,
        sigma_b=SIGMA_B,
    )


def _inputs_and_theta():
    x = jax.random.normal(jax.random.key(0), (N, N0))
    theta = infinite_width_kernels(
        x, hidden_layers=HIDDEN_LAYERS, activation="relu", sigma_w=SIGMA_W, sigma_b=SIGMA_B
    )["ntk"]
    return x, theta


def _relative_error(apply_fn, params, x, theta):
    k = empirical_ntk(apply_fn, params, x, implementation="jacobian_contraction")
    return jnp.linalg.norm(k - theta) / jnp.linalg.norm(theta)


def _slice(params, width):
    """Leading-``width`` sub-network of an NTK-parameterised MLP (all hidden layers)."""
    layers = params["params"]
    out = {}
    for name, layer in layers.items():
        is_first, is_last = name == "layer0", name == f"layer{len(layers) - 1}"
        rows = slice(None) if is_first else slice(0, width)
        cols = slice(None) if is_last else slice(0, width)
        out[name] = {"kernel": layer["kernel"][rows, cols], "bias": layer["bias"][cols]}
    return {"params": out}


def _slope(widths, errors):
    errors = np.asarray(errors)
    assert np.all(np.isfinite(errors)), errors
    slope, _ = np.polyfit(np.log(widths), np.log(errors), 1)
    return float(slope)


def test_empirical_ntk_converges_to_analytic():
    widths = (64, 128, 256, 512, 1024)
    x, theta = _inputs_and_theta()
    init_fn, _ = _mlp(max(widths))
    keys = jax.random.split(jax.random.key(1), N_SEEDS)
    params = jax.jit(jax.vmap(init_fn, in_axes=(0, None)), compiler_options=FAST_COMPILE)(keys, x)

    # All widths in one program: a single XLA compile.
    @functools.partial(jax.jit, compiler_options=FAST_COMPILE)
    def mean_errors(params):
        errors = []
        for width in widths:
            _, apply_fn = _mlp(width)

            def error(p, width=width, apply_fn=apply_fn):
                return _relative_error(apply_fn, _slice(p, width), x, theta)

            errors.append(jnp.mean(jax.vmap(error)(params)))
        return jnp.stack(errors)

    errors = np.asarray(mean_errors(params))
    slope = _slope(widths, errors)
    assert SLOPE_RANGE[0] <= slope <= SLOPE_RANGE[1], (slope, errors)


@pytest.mark.slow
def test_empirical_ntk_converges_to_analytic_full():
    widths = (64, 128, 256, 512, 1024, 2048, 4096)
    x, theta = _inputs_and_theta()
    errors = []
    for width in widths:
        init_fn, apply_fn = _mlp(width)
        keys = jax.random.split(jax.random.fold_in(jax.random.key(2), width), N_SEEDS)

        def error(key, init_fn=init_fn, apply_fn=apply_fn):
            return _relative_error(apply_fn, init_fn(key, x), x, theta)

        # One compile per width; seeds run sequentially to bound memory at large widths.
        errors.append(float(jnp.mean(jax.jit(lambda ks, f=error: jax.lax.map(f, ks))(keys))))
    slope = _slope(widths, errors)
    assert SLOPE_RANGE[0] <= slope <= SLOPE_RANGE[1], (slope, errors)
