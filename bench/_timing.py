"""Timing helpers shared by the benchmarks: medians after a warm-up, the machine's matmul peak."""

from __future__ import annotations

import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["block", "cold_seconds", "matmul_peak_flops", "median_seconds"]


def block(x):
    return jax.block_until_ready(x)


def cold_seconds(fn) -> float:
    """Wall seconds of the first call (compile included)."""
    t0 = time.perf_counter()
    block(fn())
    return time.perf_counter() - t0


def median_seconds(fn, repeats: int) -> float:
    """Median wall seconds of ``repeats`` calls after one warm-up call."""
    block(fn())
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        block(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def matmul_peak_flops(dtype, n: int = 1024, repeats: int = 5, precision=None) -> float:
    """Measured matmul FLOP/s of this machine for ``dtype``: the best of NumPy and jitted JAX.

    Real FLOPs: ``2 n^3`` for a real ``n x n`` product, ``8 n^3`` for a complex one (4 real
    multiplies and 4 adds per complex multiply-add). ``precision`` is JAX's (``"highest"``: no
    TF32 / bf16 passes on GPUs, what the NTK code asks for; the same as the default on CPU).
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    if np.iscomplexobj(a):
        a = a + 1j * rng.standard_normal((n, n)).astype(dtype)
    flops = (8 if np.iscomplexobj(a) else 2) * n**3
    t_np = median_seconds(lambda: a @ a, repeats)
    aj = jnp.asarray(a)
    mm = jax.jit(lambda x: jnp.matmul(x, x, precision=precision))
    t_jax = median_seconds(lambda: mm(aj), repeats)
    if jax.default_backend() != "cpu":  # NumPy is the host's, not the accelerator's
        return flops / t_jax
    return flops / min(t_np, t_jax)
