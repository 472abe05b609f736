"""On an accelerator (marker ``gpu``; skipped without one): bench/gpu.sh runs ``-m gpu``.

What only a GPU run shows: the runner's sample sharding over the GPUs it finds, ``chunk_size=auto``
read from the device allocator (``memory_stats``), a masked width sweep on the device, and the
structured NTK computed there (precision HIGHEST: no TF32). Each compares with the CPU backend of
the same process, which JAX always has. ``TNTK_GPU_TESTS_ANY_BACKEND=1`` runs them on any
backend (a check of the tests themselves on a CPU-only machine).
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from typicality_ntk.ntk import empirical_ntk, make_mlp
from typicality_ntk.sweep import Runner, load_experiment

_ANY = os.environ.get("TNTK_GPU_TESTS_ANY_BACKEND") == "1"
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        jax.default_backend() != "gpu" and not _ANY, reason="needs a GPU (jax backend 'gpu')"
    ),
]

PAGE = ("experiment=page_curve", "quantum.n_qubits=6", "samples=37")


def _cpu_runner() -> Runner:
    return Runner(progress=False, devices=jax.devices("cpu"))


def test_runner_shards_samples_over_the_gpus_and_matches_the_cpu(make_config):
    cfg = make_config(*PAGE, "chunk_size=8")
    runner = Runner(progress=False)
    assert runner.devices == jax.local_devices()
    got = runner.run(load_experiment(cfg.module), cfg)
    ref = _cpu_runner().run(load_experiment(cfg.module), cfg)
    assert jax.local_devices()[0].device_kind in got.device
    pd.testing.assert_frame_equal(got.table, ref.table, check_exact=False, rtol=1e-4, atol=1e-6)


def test_chunk_auto_reads_the_device_memory(make_config):
    from typicality_ntk.sweep._runner import _free_memory_bytes

    dev = jax.local_devices()[0]
    free = _free_memory_bytes(dev)
    stats = dev.memory_stats() or {}
    if "bytes_limit" in stats:  # the device allocator's own figure, not the host's memory
        assert 0 < free <= stats["bytes_limit"]
    auto = Runner(progress=False).run(load_experiment("experiments.page_curve"),
                                      make_config(*PAGE, "chunk_size=auto"))  # fmt: skip
    small = Runner(progress=False).run(load_experiment("experiments.page_curve"),
                                       make_config(*PAGE, "chunk_size=5"))  # fmt: skip
    assert auto.chunk_size >= 37  # 37 samples of 6 qubits fit any device in one chunk
    pd.testing.assert_frame_equal(auto.table, small.table, check_exact=False, rtol=1e-6)


def test_masked_sweep_on_the_device_matches_the_loop(make_config):
    tables, compiles = {}, {}
    for mode in ("loop", "masked"):
        cfg = make_config("experiment=double_descent", "learner=network", f"sweep.mode={mode}",
                          "model.widths=[2,5,9]", "samples=2", "data.n_train=10",
                          "data.n_test=16", "optim.steps=60", "precision=float64")  # fmt: skip
        runner = Runner(progress=False)
        tables[mode] = runner.run(load_experiment(cfg.module), cfg).table
        compiles[mode] = runner.n_compiles
    assert compiles == {"loop": 3, "masked": 1}
    for m in ("train_loss", "test_loss", "param_change"):
        ref = tables["loop"][m].to_numpy()
        np.testing.assert_allclose(tables["masked"][m], ref, rtol=1e-6, atol=1e-12, err_msg=m)


@pytest.mark.parametrize("n_out", [1, 3])
def test_structured_ntk_on_the_device(n_out):
    init, apply = make_mlp(widths=(256, 256), n_out=n_out, activation="relu", sigma_b=0.1)
    x = jax.random.normal(jax.random.key(1), (48, 12), jnp.float32)
    params = init(jax.random.key(0), x[:1])

    def kernel(impl):
        return jax.jit(lambda p, x: empirical_ntk(apply, p, x, implementation=impl))

    k = kernel("structured")(params, x)
    assert k.shape == (48 * n_out, 48 * n_out)
    assert next(iter(k.devices())).platform == jax.default_backend()
    ref = kernel("jacobian_contraction")(params, x)
    scale = float(jnp.abs(ref).max())
    np.testing.assert_allclose(np.asarray(k), np.asarray(ref), rtol=1e-4, atol=1e-5 * scale)
    cpu = jax.devices("cpu")[0]
    p_cpu, x_cpu = jax.device_put((params, x), cpu)
    k_cpu = kernel("structured")(p_cpu, x_cpu)
    np.testing.assert_allclose(np.asarray(k), np.asarray(k_cpu), rtol=1e-4, atol=1e-5 * scale)
