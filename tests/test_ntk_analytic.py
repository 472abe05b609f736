"""Closed-form infinite-width kernels: invariants, NaN-safety and a Monte-Carlo NNGP check.

Agreement with neural-tangents is in ``test_ntk_reference.py``.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from typicality_ntk.ntk import infinite_width_kernels, make_mlp

# Skip LLVM's optimisation passes: compile time, not arithmetic, dominates on a small CPU.
FAST_COMPILE = {"xla_backend_optimization_level": 0}
RTOL64 = 1e-12  # exact identities in float64
SIGMA_W, SIGMA_B = 1.5, 0.3


pytestmark = pytest.mark.usefixtures("strict_x64")


def _inputs():
    rng = np.random.default_rng(0)
    x1 = rng.standard_normal((5, 3))
    x1[2] = 0.0  # a zero input: zero pre-activation variance when sigma_b = 0
    x1[3] = -2.0 * x1[1]  # antiparallel to another input: cosine -1
    return jnp.asarray(x1), jnp.asarray(rng.standard_normal((4, 3)))


@functools.partial(
    jax.jit,
    static_argnames=("hidden_layers", "activation", "sigma_b"),
    compiler_options=FAST_COMPILE,
)
def _kernels(x1, x2, *, hidden_layers, activation, sigma_b):
    kwargs = dict(
        hidden_layers=hidden_layers, activation=activation, sigma_w=SIGMA_W, sigma_b=sigma_b
    )
    return {
        "x1None": infinite_width_kernels(x1, **kwargs),
        "x1x1": infinite_width_kernels(x1, x1, **kwargs),
        "x1x2": infinite_width_kernels(x1, x2, **kwargs),
    }


def test_invalid_arguments():
    x = jnp.ones((2, 3))
    kwargs = dict(hidden_layers=1, sigma_w=1.0, sigma_b=0.0)
    with pytest.raises(ValueError, match="relu.*erf"):
        infinite_width_kernels(x, activation="tanh", **kwargs)
    with pytest.raises(ValueError, match="ntk.*standard"):
        infinite_width_kernels(x, activation="relu", parameterization="mup", **kwargs)
    with pytest.raises(ValueError, match="widths"):
        infinite_width_kernels(x, activation="relu", parameterization="standard", **kwargs)


@pytest.mark.parametrize("sigma_b", [0.0, SIGMA_B])
@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_symmetric_psd_and_finite(activation, sigma_b):
    x1, x2 = _inputs()
    out = _kernels(x1, x2, hidden_layers=3, activation=activation, sigma_b=sigma_b)
    for name in ("nngp", "ntk"):
        k = np.asarray(out["x1None"][name])
        assert np.all(np.isfinite(k)) and np.all(np.isfinite(out["x1x2"][name]))
        np.testing.assert_allclose(k, out["x1x1"][name], rtol=RTOL64, atol=0)
        np.testing.assert_allclose(k, k.T, rtol=RTOL64, atol=0)
        eigenvalues = np.linalg.eigvalsh(k)
        assert eigenvalues.min() >= -RTOL64 * eigenvalues.max()
    # Theta^{l+1} = Sigma^{l+1} + (positive), entrywise on the diagonal.
    assert np.all(np.diag(out["x1None"]["ntk"]) >= np.diag(out["x1None"]["nngp"]))


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_diagonal_follows_the_one_dimensional_recursion(activation):
    """On ``x = x'`` the recursions reduce to scalar maps of the variance ``q``."""
    x1, x2 = _inputs()
    depth = 3
    out = _kernels(x1, x2, hidden_layers=depth, activation=activation, sigma_b=SIGMA_B)["x1None"]
    q = SIGMA_W**2 * np.sum(np.asarray(x1) ** 2, axis=1) / x1.shape[1] + SIGMA_B**2
    theta = q
    for _ in range(depth):
        if activation == "relu":
            t, t_dot = q / 2, 0.5
        else:
            t = 2 / np.pi * np.arcsin(2 * q / (1 + 2 * q))
            t_dot = 4 / np.pi / np.sqrt(1 + 4 * q)
        q = SIGMA_W**2 * t + SIGMA_B**2
        theta = q + SIGMA_W**2 * theta * t_dot
    np.testing.assert_allclose(np.diag(out["nngp"]), q, rtol=1e-10)
    np.testing.assert_allclose(np.diag(out["ntk"]), theta, rtol=1e-10)


def test_no_hidden_layer_is_the_linear_kernel():
    x1, x2 = _inputs()
    out = _kernels(x1, x2, hidden_layers=0, activation="relu", sigma_b=SIGMA_B)["x1x2"]
    expected = SIGMA_W**2 * np.asarray(x1) @ np.asarray(x2).T / x1.shape[1] + SIGMA_B**2
    np.testing.assert_allclose(out["nngp"], expected, rtol=RTOL64)
    np.testing.assert_allclose(out["ntk"], expected, rtol=RTOL64)


@pytest.mark.slow  # about 6 s, mostly compiling the random initialisers
def test_nngp_is_the_output_covariance_of_wide_networks():
    """Monte Carlo: E[f(x) f(x')] over inits and output units -> NNGP (2048 samples)."""
    width, n_out, n_seeds, depth = 512, 128, 16, 2
    x1, _ = _inputs()
    activations = ("relu", "erf")
    mlps = {
        act: make_mlp(
            widths=(width,) * depth,
            n_out=n_out,
            activation=act,
            sigma_w=SIGMA_W,
            sigma_b=SIGMA_B,
        )
        for act in activations
    }

    @functools.partial(jax.jit, compiler_options=FAST_COMPILE)
    def covariances(keys):
        out = {}
        for act, (init_fn, apply_fn) in mlps.items():
            f = jax.vmap(lambda key, i=init_fn, a=apply_fn: a(i(key, x1), x1))(keys)
            out[act] = jnp.einsum("sik,sjk->ij", f, f) / (n_seeds * n_out)  # f: (seeds, N, out)
        return out

    covs = covariances(jax.random.split(jax.random.key(0), n_seeds))
    for act in activations:
        nngp = infinite_width_kernels(
            x1, hidden_layers=depth, activation=act, sigma_w=SIGMA_W, sigma_b=SIGMA_B
        )["nngp"]
        # Sampling error ~ sqrt(2 / 2048) ~ 3%, plus O(1/sqrt(width * seeds)) from the shared
        # hidden layers; 12% is a 3-4 sigma bound.
        error = np.linalg.norm(covs[act] - nngp) / np.linalg.norm(nngp)
        assert error < 0.12, (act, error)
