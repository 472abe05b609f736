"""Page curve: entropies of rho_A for every cut dA = 2^k of n qubits (paper Sec. III, Eq. 2).

Columns (public contract): n_qubits, d_a, d_b, sample, purity, s_vn, s_renyi_2, trace_distance,
plus s_renyi_<alpha> for each extra ``quantum.alphas`` (nats).
"""

from __future__ import annotations

import jax.numpy as jnp

from typicality_ntk import quantum as q
from typicality_ntk.experiments._shell import shell_context
from typicality_ntk.plot.quantum import plot_page_curve
from typicality_ntk.sweep import Experiment, Point, complex_dtype

COLUMNS = ("n_qubits", "d_a", "d_b", "sample", "purity", "s_vn", "s_renyi_2", "trace_distance")


def points(cfg, key):
    qc, n = cfg.quantum, cfg.quantum.n_qubits
    basis = shell_context(qc, n, cfg.precision) if qc.sampler == "energy_shell" else None
    static = {
        "sampler": qc.sampler,
        "alphas": tuple(qc.alphas),
        "dtype": complex_dtype(cfg.precision).name,
    }
    return [
        Point(
            {"n_qubits": n, "d_a": 2**k, "d_b": 2 ** (n - k)},
            {**static, "d_a": 2**k, "d_b": 2 ** (n - k)},
            basis,
        )
        for k in (qc.cuts or range(1, n))
    ]


def sample(key, basis, *, d_a, d_b, sampler, alphas, dtype):
    psi = q.draw_state(key, sampler, d_a * d_b, jnp.dtype(dtype), basis)
    lam = q.schmidt_spectrum(psi, d_a, d_b)
    out = {
        "purity": q.purity(lam),
        "s_vn": q.von_neumann_entropy(lam),
        "s_renyi_2": q.renyi_entropy(lam, 2.0),
        "trace_distance": q.trace_distance_to_mixed(lam),
    }
    return out | {f"s_renyi_{q.alpha_tag(a)}": q.renyi_entropy(lam, a) for a in alphas}


EXPERIMENT = Experiment("page_curve", points, sample, plot_page_curve, COLUMNS)
