"""Floating-point precision of a run: float32 (complex64) by default, float64 on request."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import jax
import jax.numpy as jnp

__all__ = ["precision_scope", "real_dtype", "complex_dtype"]


@contextlib.contextmanager
def precision_scope(precision: str) -> Iterator[None]:
    """Enable x64 for ``precision='float64'`` inside the block and restore the old flag after.

    JAX's x64 switch is process-global; scoping it keeps a float64 run from leaking into the next
    job of an in-process multirun (or the next test).
    """
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", precision == "float64")
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", old)


def real_dtype(precision: str) -> jnp.dtype:
    return jnp.dtype(jnp.float64 if precision == "float64" else jnp.float32)


def complex_dtype(precision: str) -> jnp.dtype:
    return jnp.dtype(jnp.complex128 if precision == "float64" else jnp.complex64)
