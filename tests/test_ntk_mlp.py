"""The flax MLP: parameter layout, initialisation statistics and the two parameterisations."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from typicality_ntk.ntk import ACTIVATIONS, MLPSpec, make_mlp, n_params

# Skip LLVM's optimisation passes: compile time, not arithmetic, dominates on a small CPU.
FAST_COMPILE = {"xla_backend_optimization_level": 0}


@pytest.fixture(autouse=True)
def _strict_jax():
    with jax.numpy_rank_promotion("raise"), jax.numpy_dtype_promotion("strict"):
        yield


@pytest.fixture
def x64():
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)


def test_unknown_activation_or_parameterization_names_the_allowed_values():
    with pytest.raises(ValueError, match="relu.*erf.*tanh"):
        make_mlp(widths=(4,), n_out=1, activation="gelu")
    with pytest.raises(ValueError, match="ntk.*standard"):
        make_mlp(widths=(4,), n_out=1, activation="relu", parameterization="mup")


def test_spec_is_hashable_and_normalises_widths():
    spec = MLPSpec(widths=[3, 4], n_out=2, activation="relu")  # OmegaConf hands lists
    assert spec.widths == (3, 4)
    assert hash(spec) == hash(MLPSpec(widths=(3, 4), n_out=2, activation="relu"))


@pytest.mark.parametrize("widths", [(), (5,), (5, 7, 3)])
def test_param_shapes_and_count(widths):
    n0, n_out = 4, 2
    init_fn, apply_fn = make_mlp(widths=widths, n_out=n_out, activation="relu")
    x = jnp.zeros((3, n0))
    params = jax.eval_shape(init_fn, jax.random.key(0), x)
    fans = (n0, *widths, n_out)
    expected = {
        f"layer{l}": {"kernel": (fans[l], fans[l + 1]), "bias": (fans[l + 1],)}
        for l in range(len(widths) + 1)
    }
    assert jax.tree.map(lambda s: s.shape, params) == {"params": expected}
    assert n_params(params) == sum(a * b + b for a, b in zip(fans[:-1], fans[1:], strict=True))
    assert jax.eval_shape(apply_fn, params, x).shape == (3, n_out)
    assert jax.eval_shape(apply_fn, params, x[0]).shape == (n_out,)


@pytest.mark.usefixtures("x64")
def test_params_take_the_dtype_of_the_example():
    init_fn, _ = make_mlp(widths=(4,), n_out=1, activation="erf")
    for dtype in (jnp.float32, jnp.float64):
        params = jax.eval_shape(init_fn, jax.random.key(0), jnp.zeros((2, 3), dtype))
        assert {leaf.dtype for leaf in jax.tree.leaves(params)} == {jnp.dtype(dtype)}


def test_init_statistics():
    """Weights N(0, 1) in NTK, N(0, sigma_w^2 / fan_in) in standard parameterisation."""
    sigma_w, sigma_b, fan_in, width = 1.7, 0.4, 64, 512
    stds = {}
    for parameterization in ("ntk", "standard"):
        init_fn, _ = make_mlp(
            widths=(width,),
            n_out=1,
            activation="relu",
            parameterization=parameterization,
            sigma_w=sigma_w,
            sigma_b=sigma_b,
        )
        params = jax.jit(init_fn, compiler_options=FAST_COMPILE)(
            jax.random.key(0), jnp.zeros((1, fan_in))
        )["params"]["layer0"]
        stds[parameterization] = (np.std(params["kernel"]), np.std(params["bias"]))
    # Standard errors: 1 / sqrt(2 * 32768) for the kernel, 1 / sqrt(2 * 512) for the bias.
    expected = {"ntk": (1.0, 1.0), "standard": (sigma_w / np.sqrt(fan_in), sigma_b)}
    for parameterization, (kernel_std, bias_std) in stds.items():
        kernel_expected, bias_expected = expected[parameterization]
        np.testing.assert_allclose(kernel_std, kernel_expected, rtol=0.02)
        np.testing.assert_allclose(bias_std, bias_expected, rtol=0.15)


def test_ntk_and_standard_parameterisations_compute_the_same_function():
    """``W_std = sigma_w / sqrt(fan_in) W_ntk``, ``b_std = sigma_b b_ntk`` give equal outputs."""
    sigma_w, sigma_b, widths, n0 = 1.3, 0.2, (6, 5), 3
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((4, n0)), jnp.float32)

    def outputs(x):
        out = {}
        for activation in ACTIVATIONS:
            mlp = functools.partial(
                make_mlp, widths=widths, n_out=2, activation=activation, sigma_w=sigma_w,
                sigma_b=sigma_b,
            )  # fmt: skip
            init_ntk, apply_ntk = mlp(parameterization="ntk")
            _, apply_std = mlp(parameterization="standard")
            params = init_ntk(jax.random.key(1), x)
            scaled = {
                name: {
                    "kernel": layer["kernel"] * (sigma_w / np.sqrt(layer["kernel"].shape[0])),
                    "bias": layer["bias"] * sigma_b,
                }
                for name, layer in params["params"].items()
            }
            out[activation] = (
                apply_ntk(params, x),
                apply_std({"params": scaled}, x),
                apply_ntk(params, x[0]),
            )
        return out

    for activation, (f_ntk, f_std, f_single) in jax.jit(outputs, compiler_options=FAST_COMPILE)(
        x
    ).items():
        np.testing.assert_allclose(f_ntk, f_std, rtol=1e-5, atol=1e-6, err_msg=activation)
        np.testing.assert_allclose(f_single, f_ntk[0], rtol=1e-5, atol=1e-6, err_msg=activation)
