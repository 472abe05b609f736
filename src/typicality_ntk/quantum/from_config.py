"""Shared set-up for the energy_shell sampler: the shell basis, computed once per run on host."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from typicality_ntk import quantum as q
from typicality_ntk.sweep import complex_dtype

__all__ = ["shell_context"]


def shell_context(qc, n: int, precision: str) -> jnp.ndarray:
    """Orthonormal basis (2**n, d) of the chain's energy shell, as a complex array."""
    _, basis = q.energy_shell(n, qc.energy, qc.window, qc.h_x, qc.h_z)
    return jnp.asarray(np.asarray(basis), dtype=complex_dtype(precision))
