"""Samplers of typical pure states. Each acts on ONE state; the runner vmaps them.

All samplers are exactly Haar on their space: a normalised complex Gaussian vector is invariant
under every unitary, so its law is the Haar (uniform) measure on the unit sphere of C^d. Drawing
amplitudes uniformly in the complex disk and normalising is NOT Haar (Var<O> about 2.7x too small),
and taking a column of a full Haar unitary is Haar but costs O(d^3) instead of O(d).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

from typicality_ntk import _lapack as lapack

__all__ = ["haar_state", "gue_matrix", "gue_eigvec_state", "shell_state", "draw_state", "SAMPLERS"]

SAMPLERS = ("haar", "gue_eigvec", "energy_shell")


def haar_state(key: Array, d: int, dtype=jnp.complex64) -> Array:
    """Haar-random unit vector psi = z/||z||, z ~ CN(0, I_d).

    Args:
        key: PRNG key.
        d: dimension.
        dtype: complex64 or complex128.

    Returns:
        psi (array of shape (d,)), ||psi|| = 1.
    """
    z = jax.random.normal(key, (d,), dtype=dtype)
    return z / jnp.linalg.norm(z)


def gue_matrix(key: Array, d: int, dtype=jnp.complex64) -> Array:
    """GUE matrix H = (A + A^dag) / (2 sqrt(d)), A_ij ~ CN(0, 1).

    With this scaling the spectrum fills the semicircle of radius sqrt(2) and the microcanonical
    variance Tr H^2/d - (Tr H/d)^2 is 1/2 + O(1/d).

    Returns:
        H (array of shape (d, d)), Hermitian.
    """
    a = jax.random.normal(key, (d, d), dtype=dtype)
    return (a + a.conj().T) / (2.0 * jnp.sqrt(jnp.asarray(d, a.real.dtype)))


def gue_eigvec_state(key: Array, d: int, dtype=jnp.complex64) -> Array:
    """The middle eigenvector (index d//2) of a GUE matrix: Haar-distributed up to a phase.

    This is the paper's wording (Sec. II: "an eigenvector of the Gaussian Unitary Ensemble");
    it costs O(d^3) per state, so prefer :func:`haar_state` when only the law matters.
    """
    _, vecs = lapack.eigh(gue_matrix(key, d, dtype))  # safe on several CPU devices
    return vecs[:, d // 2]


def shell_state(key: Array, basis: Array) -> Array:
    """Haar state on the span of the columns of ``basis`` (an orthonormal (D, d) matrix).

    psi = basis @ phi with phi Haar on C^d: uniform on the energy shell span(basis).
    """
    phi = haar_state(key, basis.shape[1], dtype=basis.dtype)
    return basis @ phi


def draw_state(key: Array, sampler: str, d: int, dtype, basis: Array | None = None) -> Array:
    """Dispatch on the sampler name (static): ``haar``, ``gue_eigvec`` or ``energy_shell``."""
    if sampler == "haar":
        return haar_state(key, d, dtype)
    if sampler == "gue_eigvec":
        return gue_eigvec_state(key, d, dtype)
    if sampler == "energy_shell":
        if basis is None:
            raise ValueError("sampler='energy_shell' needs the shell basis")
        return shell_state(key, basis)
    raise ValueError(f"unknown sampler {sampler!r}; known: {', '.join(SAMPLERS)}")
