"""Shared fixtures: compose the real config (conf/) and shrink it; a private store per test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Tests compare numbers, not speed, and most of their time is XLA compiling small CPU programs,
# dominated by LLVM's optimisation passes: level 0 compiles them faster (IEEE semantics are
# unchanged; measured -18% on the paper + double-descent tests). Set before JAX is imported;
# subprocesses inherit it; a user's own XLA_FLAGS win.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")

import pytest  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402

from typicality_ntk.cli import CONFIG_DIR  # noqa: E402
from typicality_ntk.config import register_configs  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _compilation_cache(tmp_path_factory):
    """One persistent JAX compilation cache for the whole session, subprocesses included."""
    from typicality_ntk._jax_setup import CACHE_ENV, enable_compilation_cache

    path = os.environ.get(CACHE_ENV) or str(tmp_path_factory.mktemp("jax-cache"))
    os.environ[CACHE_ENV] = path
    enable_compilation_cache(path)


@pytest.fixture
def strict_x64():
    """Float64 with strict rank/dtype promotion for one test; restores the previous setting."""
    import jax

    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    with jax.numpy_rank_promotion("raise"), jax.numpy_dtype_promotion("strict"):
        yield
    jax.config.update("jax_enable_x64", previous)


@pytest.fixture(scope="session")
def runner():
    """One runner per session: tests of the same shapes reuse its compiled programs."""
    from typicality_ntk.sweep import Runner

    return Runner(progress=False)


@pytest.fixture
def compose_cfg(tmp_path):
    """compose_cfg(*overrides) -> DictConfig of the real config, with the store under tmp_path."""
    register_configs()

    def _compose(*overrides: str):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            return compose("config", overrides=[f"store.root={tmp_path / 'store'}", *overrides])

    yield _compose
    GlobalHydra.instance().clear()


@pytest.fixture
def make_config(compose_cfg):
    """make_config(*overrides) -> the config typed and checked by its experiment's schema."""
    from typicality_ntk.sweep import experiment_config

    return lambda *overrides: experiment_config(compose_cfg(*overrides))[0]


def run_tntk(
    *args: str, cwd: Path, timeout: float = 300, tool: str = "typicality_ntk", **kw
) -> subprocess.CompletedProcess:
    """Run ``python -m typicality_ntk ARGS`` (= ``tntk``) in a fresh process."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", tool, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        **kw,
    )


def nt_fixture_mlp(ref, model: str, params_prefix: str | None = None):
    """``(init_fn, apply_fn, params)``: our ``make_mlp`` for a model of the neural-tangents fixture
    (``"ntk_relu_d2_w64_o1"``: parameterization, activation, depth, width, n_out) with the
    fixture's stored stax parameters (``params/<arch>`` unless ``params_prefix``) as float64."""
    import jax.numpy as jnp

    from typicality_ntk.ntk import make_mlp

    param, act, depth, width, n_out = model.split("_")
    depth, width, n_out = int(depth[1:]), int(width[1:]), int(n_out[1:])
    init_fn, apply_fn = make_mlp(
        widths=(width,) * depth,
        n_out=n_out,
        activation=act,
        parameterization=param,
        sigma_w=float(ref["meta/sigma_w"]),
        sigma_b=float(ref["meta/sigma_b"]),
    )
    prefix = params_prefix or f"params/{param}_d{depth}_w{width}_o{n_out}"
    params = {
        "params": {
            f"layer{l}": {
                "kernel": jnp.asarray(ref[f"{prefix}/layer{l}/W"], jnp.float64),
                "bias": jnp.asarray(ref[f"{prefix}/layer{l}/b"], jnp.float64),
            }
            for l in range(depth + 1)
        }
    }
    return init_fn, apply_fn, params
