"""The chaotic spin chain whose energy shells carry the ``energy_shell`` sampler.

Mixed-field Ising chain (open boundary), qubit 0 = the leading tensor factor:

    H = sum_{i=0}^{n-2} Z_i Z_{i+1} + h_x sum_i X_i + h_z sum_i Z_i,

non-integrable at the default fields h_x = 0.9045, h_z = 0.8090 (Banuls, Cirac, Hastings 2011).
Dense NumPy float64, built once per run outside jit (n <= 14: a 16384^2 matrix is 2 GiB).
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg

__all__ = ["mixed_field_ising", "pauli_on_site", "energy_shell", "spectral_range"]


def _z_values(n: int) -> np.ndarray:
    """z[i, s] = +1/-1: eigenvalue of Z_i on computational basis state s. Shape (n, 2**n)."""
    s = np.arange(2**n)
    bits = (s[None, :] >> (n - 1 - np.arange(n))[:, None]) & 1
    return 1.0 - 2.0 * bits


def mixed_field_ising(n: int, h_x: float = 0.9045, h_z: float = 0.8090) -> np.ndarray:
    """Dense H = sum Z_i Z_{i+1} + h_x sum X_i + h_z sum Z_i on n qubits. Shape (2**n, 2**n)."""
    if n < 2:
        raise ValueError(f"chain length n={n}: must be >= 2")
    z = _z_values(n)
    diag = (z[:-1] * z[1:]).sum(axis=0) + h_z * z.sum(axis=0)
    h = np.diag(diag)
    s = np.arange(2**n)
    for i in range(n):
        h[s ^ (1 << (n - 1 - i)), s] += h_x
    return h


@functools.lru_cache(maxsize=64)
def spectral_range(n: int, h_x: float = 0.9045, h_z: float = 0.8090) -> tuple[float, float]:
    """(E_min, E_max) of H, by Lanczos on the sparse H (n + 1 nonzeros per row): milliseconds
    where the dense eigensolver takes minutes at n = 14, so a run can refuse an energy shell
    outside the spectrum before computing anything."""
    z = _z_values(n)
    diag = (z[:-1] * z[1:]).sum(axis=0) + h_z * z.sum(axis=0)
    s = np.arange(2**n)
    rows = np.concatenate([s] + [s ^ (1 << (n - 1 - i)) for i in range(n)])
    cols = np.concatenate([s] * (n + 1))
    vals = np.concatenate([diag, np.full(n * 2**n, h_x)])
    h = scipy.sparse.csr_matrix((vals, (rows, cols)), shape=(2**n, 2**n))
    if 2**n <= 64:
        ev = np.linalg.eigvalsh(h.toarray())
        return float(ev[0]), float(ev[-1])
    lo = scipy.sparse.linalg.eigsh(h, k=1, which="SA", return_eigenvectors=False, tol=1e-10)
    hi = scipy.sparse.linalg.eigsh(h, k=1, which="LA", return_eigenvectors=False, tol=1e-10)
    return float(lo[0]), float(hi[0])


def pauli_on_site(n: int, site: int, pauli: str) -> np.ndarray:
    """Dense Pauli ``X`` or ``Z`` acting on ``site`` of n qubits. Shape (2**n, 2**n)."""
    s = np.arange(2**n)
    if pauli == "Z":
        return np.diag(_z_values(n)[site])
    if pauli == "X":
        op = np.zeros((2**n, 2**n))
        op[s ^ (1 << (n - 1 - site)), s] = 1.0
        return op
    raise ValueError(f"pauli={pauli!r}: must be X or Z")


def energy_shell(
    n: int, energy: float, window: float, h_x: float = 0.9045, h_z: float = 0.8090
) -> tuple[np.ndarray, np.ndarray]:
    """Eigenpairs of H with energies in [energy - window/2, energy + window/2].

    Uses LAPACK's selected-eigenvalue driver (scipy.linalg.eigh with subset_by_value), which skips
    eigenvectors outside the window.

    Returns:
        energies (array of shape (d,)), basis (array of shape (2**n, d)) with orthonormal columns.

    Raises:
        ValueError: if the window holds no eigenvalue.
    """
    h = mixed_field_ising(n, h_x, h_z)
    lo, hi = energy - window / 2, energy + window / 2
    evals, evecs = scipy.linalg.eigh(h, subset_by_value=(lo, hi), driver="evr")
    if evals.size == 0:
        raise ValueError(
            f"the energy shell [{lo:g}, {hi:g}] of the {n}-site chain holds no eigenvalue; "
            "widen quantum.window or move quantum.energy"
        )
    return evals, evecs
