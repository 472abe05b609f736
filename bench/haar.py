"""Haar reduced spectra + purity + S_vN per state: ours vs NumPy batched vs a QuTiP 5 loop.

Ours is the page_curve path (``haar_state -> schmidt_spectrum -> purity, S_vN``, jit + vmap); the
purity-only row is ``purity_from_state`` (Tr rho_A^2 = ||M M^dag||_F^2, no eigensolve), what an
experiment needing only purity / S_2 runs. NumPy batched: complex Gaussian -> normalise -> Gram
matmul -> eigvalsh on the whole batch. QuTiP: a loop of Qobj -> ptrace -> entropy_vn (its own
``rand_ket(distribution="haar")`` builds a full Haar unitary, ~20 s per 12-qubit state, so it is
not looped); the loop is timed on a subset of the states and scaled per state.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from bench._timing import cold_seconds, median_seconds
from typicality_ntk.quantum import (
    haar_state,
    purity,
    purity_from_state,
    schmidt_spectrum,
    von_neumann_entropy,
)

__all__ = ["bench_haar", "spectrum_flops"]


def spectrum_flops(d_a: int, d_b: int) -> float:
    """Real FLOPs of one state's spectrum, the Gram route's count (what the peak fraction uses):
    ``8 m^2 n`` for the complex Gram product and ``16/3 m^3`` for the Hermitian tridiagonal
    reduction (m = min, n = max; the O(m^2) tridiagonal eigenvalue solve is left out)."""
    m, n = min(d_a, d_b), max(d_a, d_b)
    return 8.0 * m * m * n + 16.0 / 3.0 * m**3


def bench_haar(
    d_a: int,
    d_b: int,
    n_states: int,
    repeats: int,
    peak_c64: float,
    *,
    chunk: int | None = None,
    baseline_states: int | None = None,
) -> dict:
    """States per second of each path at (dA, dB); ratios against NumPy batched and QuTiP.

    ``chunk``: states per call of the one compiled program (the last chunk padded), so 10^6
    states of 12 qubits need not be on the device at once; ``None``: all in one call.
    ``baseline_states``: time NumPy (and QuTiP) on this many states and scale per state.
    """

    def spectral(key):
        lam = schmidt_spectrum(haar_state(key, d_a * d_b), d_a, d_b)
        return purity(lam), von_neumann_entropy(lam)

    def purity_only(key):
        return purity_from_state(haar_state(key, d_a * d_b), d_a, d_b)

    keys = jax.random.split(jax.random.key(0), n_states)
    step = chunk or n_states
    n_chunks = -(-n_states // step)
    if n_chunks > 1:  # pad with repeated keys to whole chunks: one program for every call
        keys = jnp.concatenate([keys, jnp.repeat(keys[-1:], n_chunks * step - n_states)])
    blocks = [keys[i * step : (i + 1) * step] for i in range(n_chunks)]

    def over_chunks(fn):
        return lambda: [fn(b) for b in blocks]

    ours = jax.jit(jax.vmap(spectral))
    compile_s = cold_seconds(lambda: ours(blocks[0]))
    t_ours = median_seconds(over_chunks(ours), repeats)
    fast = jax.jit(jax.vmap(purity_only))
    t_purity = median_seconds(over_chunks(fast), repeats)

    rng = np.random.default_rng(0)
    n_base = min(n_states, baseline_states or n_states)

    def numpy_batched():
        shape = (n_base, d_a, d_b)
        z = rng.standard_normal(shape, np.float32) + 1j * rng.standard_normal(shape, np.float32)
        z /= np.linalg.norm(z, axis=(1, 2), keepdims=True)
        g = z @ np.conj(np.swapaxes(z, 1, 2)) if d_a <= d_b else np.conj(np.swapaxes(z, 1, 2)) @ z
        lam = np.clip(np.linalg.eigvalsh(g), 0, None)
        return (lam**2).sum(1), -(lam * np.log(np.where(lam > 0, lam, 1))).sum(1)

    t_np = median_seconds(numpy_batched, repeats) * n_states / n_base
    row = {
        "case": f"Haar spectra ({d_a},{d_b}), {n_states} states",
        "d_a": d_a,
        "d_b": d_b,
        "n_states": n_states,
        "chunk": step,
        "baseline_states": n_base if n_base < n_states else None,
        "ours_s": t_ours,
        "compile_s": compile_s,
        "numpy_s": t_np,
        "ratio_numpy": t_np / t_ours,
        "purity_s": t_purity,
        "ratio_purity": t_ours / t_purity,
        "states_per_s": n_states / t_ours,
        "peak_fraction": n_states * spectrum_flops(d_a, d_b) / t_ours / peak_c64,
        "ratio_qutip": float("nan"),
    }
    try:
        import qutip
    except ImportError:
        return row
    n_q = max(4, n_base // 64)  # the QuTiP loop is slow: time a subset, scale per state

    def qutip_loop():
        for _ in range(n_q):
            z = rng.standard_normal(d_a * d_b) + 1j * rng.standard_normal(d_a * d_b)
            ket = qutip.Qobj(z / np.linalg.norm(z), dims=[[d_a, d_b], [1, 1]])
            rho = ket.ptrace(0)
            (rho * rho).tr(), qutip.entropy_vn(rho)

    t_q = median_seconds(qutip_loop, max(1, repeats // 2)) * n_states / n_q
    row["ratio_qutip"] = t_q / t_ours
    return row
