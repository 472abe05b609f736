"""Reduced states and their entropies, from the Schmidt spectrum of a bipartite pure state.

For psi in C^{dA} (x) C^{dB}, reshape to the coefficient matrix M (dA x dB), first factor = the
leading qubits. Then rho_A = M M^dag, a normalised Wishart matrix for Haar psi (paper Sec. II).
We never form the dA^2 x dA^2 superoperator.

Spectrum (m = min(dA, dB), n = max): either eigvalsh of the smaller Gram matrix (M M^dag if
dA <= dB, else M^dag M; one m x m x n product plus an m x m Hermitian eigensolve) or the squared
singular values of M itself. Which is cheaper depends on the backend's LAPACK calls: on CPU, JAX's
Hermitian eigensolver always computes eigenvectors too (heevd, mode 'V'), while its SVD skips the
singular vectors when asked (gesdd, jobz 'N'); so for a near-square M (n <= SVD_MAX_ASPECT m) the
values-only SVD wins (measured on 2 cores, 2048 states at 64|64: 1.4x; 256 states at 256|256:
1.2x) and for an elongated M the small Gram matrix does (16|256: 1.4x the other way). On
accelerators the batched Hermitian eigensolver is the fast kernel, so the Gram path is used there.
Squaring singular values (or forming the Gram matrix) costs relative accuracy only for eigenvalues
below ~eps * lambda_max, whose contribution -lambda log lambda to any entropy is below eps;
negative round-off is clipped to 0.

Several CPU devices on one host (``--xla_force_host_platform_device_count=N``, the runner shards
the sample axis over them): the spectrum is taken one matrix per LAPACK call (issue 14, see
:mod:`typicality_ntk._lapack`); one CPU device keeps the batched call.

All functions take spectra of shape (..., n) and return (...): they are batch-polymorphic and
NaN-safe at zero eigenvalues (0 log 0 = 0).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import Array

from typicality_ntk._lapack import per_matrix

__all__ = [
    "schmidt_spectrum",
    "purity_from_state",
    "purity",
    "von_neumann_entropy",
    "renyi_entropy",
    "trace_distance_to_mixed",
    "alpha_tag",
    "SVD_MAX_ASPECT",
]

#: CPU only: the spectrum comes from the values-only SVD of M when max(dA, dB) <= this x min.
SVD_MAX_ASPECT = 3


def schmidt_spectrum(psi: Array, d_a: int, d_b: int) -> Array:
    """Eigenvalues of rho_A = Tr_B |psi><psi|, ascending, padded with dA - dB zeros if dA > dB.

    Args:
        psi (array of shape (dA*dB,)): the state (normalised).
        d_a, d_b: subsystem dimensions (static).

    Returns:
        lambda (array of shape (dA,)), real, >= 0, summing to ||psi||^2.
    """
    # several CPU devices on one host: one LAPACK call per state (a batched call can deadlock
    # there: typicality_ntk._lapack, issue 14); one device keeps the batched call
    return per_matrix(_spectrum)(psi, d_a=d_a, d_b=d_b)


def _spectrum(psi: Array, d_a: int, d_b: int) -> Array:
    m = psi.reshape(d_a, d_b)
    small, large = min(d_a, d_b), max(d_a, d_b)
    if jax.default_backend() == "cpu" and large <= SVD_MAX_ASPECT * small:
        s = jnp.linalg.svd(m, compute_uv=False)  # descending
        lam = (s * s)[::-1]
    else:
        gram = m @ m.conj().T if d_a <= d_b else m.conj().T @ m
        lam = jnp.clip(jnp.linalg.eigvalsh(gram), 0.0, None)
    if d_a > d_b:
        lam = jnp.concatenate([jnp.zeros((d_a - d_b,), lam.dtype), lam])
    return lam


def purity_from_state(psi: Array, d_a: int, d_b: int) -> Array:
    """Tr rho_A^2 = ||M M^dag||_F^2 without an eigendecomposition (one Gram product)."""
    m = psi.reshape(d_a, d_b)
    gram = m @ m.conj().T if d_a <= d_b else m.conj().T @ m
    return jnp.sum(jnp.abs(gram) ** 2)


def purity(lam: Array) -> Array:
    """Tr rho^2 = sum_i lambda_i^2. (..., n) -> (...)."""
    return jnp.sum(lam**2, axis=-1)


def _xlogx(lam: Array) -> Array:
    safe = jnp.where(lam > 0, lam, 1.0)
    return jnp.where(lam > 0, lam * jnp.log(safe), 0.0)


def von_neumann_entropy(lam: Array) -> Array:
    """S = -sum_i lambda_i log lambda_i (nats), with 0 log 0 = 0. (..., n) -> (...)."""
    return -jnp.sum(_xlogx(lam), axis=-1)


def renyi_entropy(lam: Array, alpha: float) -> Array:
    """Rényi entropy S_alpha = log(sum_i lambda_i^alpha) / (1 - alpha) (nats). (..., n) -> (...).

    alpha is static: 1 -> von Neumann; 0 -> log rank (eigenvalues above n * eps * lambda_max);
    inf -> min-entropy -log lambda_max.
    """
    alpha = float(alpha)
    if alpha == 1.0:
        return von_neumann_entropy(lam)
    if math.isinf(alpha):
        return -jnp.log(jnp.max(lam, axis=-1))
    if alpha == 0.0:
        tol = lam.shape[-1] * jnp.finfo(lam.dtype).eps * jnp.max(lam, axis=-1, keepdims=True)
        return jnp.log(jnp.sum(lam > tol, axis=-1).astype(lam.dtype))
    powered = jnp.where(lam > 0, jnp.where(lam > 0, lam, 1.0) ** alpha, 0.0)
    return jnp.log(jnp.sum(powered, axis=-1)) / (1.0 - alpha)


def trace_distance_to_mixed(lam: Array) -> Array:
    """T = 1/2 ||rho - I/d||_1 = 1/2 sum_i |lambda_i - 1/d| (they commute). (..., d) -> (...)."""
    d = lam.shape[-1]
    return 0.5 * jnp.sum(jnp.abs(lam - 1.0 / d), axis=-1)


def alpha_tag(alpha: float) -> str:
    """Column-name tag of a Rényi order: 2 -> '2', 0.5 -> '0p5', inf -> 'inf'."""
    alpha = float(alpha)
    if math.isinf(alpha):
        return "inf"
    if alpha.is_integer():
        return str(int(alpha))
    return str(alpha).replace(".", "p")
