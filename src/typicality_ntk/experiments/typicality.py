"""Typicality (paper Eq. 1): Delta = <psi|O|psi> - Tr(O)/d for Haar-typical psi, against d.

Columns: d, mc_mean, mc_var, haar_var, sample, expectation, deviation (plus n_qubits for the
energy_shell sampler, where O = Z_1 or X_1 projected on the shell).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from typicality_ntk import quantum as q
from typicality_ntk.plot.quantum import plot_typicality
from typicality_ntk.quantum import theory
from typicality_ntk.sweep import Experiment, Point, complex_dtype

COLUMNS = ("d", "mc_mean", "mc_var", "haar_var", "sample", "expectation", "deviation")


def _point(obs: np.ndarray, coords: dict, sampler: str, dtype) -> Point:
    mean = theory.microcanonical_mean(obs)
    coords = coords | {
        "d": obs.shape[0],
        "mc_mean": mean,
        "mc_var": theory.microcanonical_variance(obs),
        "haar_var": theory.haar_expectation_variance(obs),
    }
    context = {"obs": jnp.asarray(obs, dtype), "mc_mean": jnp.asarray(mean, dtype).real}
    return Point(coords, {"d": obs.shape[0], "sampler": sampler, "dtype": dtype.name}, context)


def points(cfg, key):
    qc, dtype = cfg.quantum, complex_dtype(cfg.precision)
    if qc.sampler != "energy_shell":
        return [
            _point(
                np.asarray(q.gue_matrix(jax.random.fold_in(key, i), d, dtype)),
                {},
                qc.sampler,
                dtype,
            )
            for i, d in enumerate(qc.dims)
        ]
    out = []
    for n in qc.chain_sizes:
        _, basis = q.energy_shell(n, qc.energy, qc.window, qc.h_x, qc.h_z)
        op = q.pauli_on_site(n, 0, "Z" if qc.observable == "z1" else "X")
        out.append(_point(basis.T @ op @ basis, {"n_qubits": n}, "haar", dtype))
    return out


def sample(key, ctx, *, d, sampler, dtype):
    psi = q.draw_state(key, sampler, d, jnp.dtype(dtype))
    value = jnp.real(jnp.vdot(psi, ctx["obs"] @ psi))
    return {"expectation": value, "deviation": value - ctx["mc_mean"]}


EXPERIMENT = Experiment("typicality", points, sample, plot_typicality, COLUMNS)
