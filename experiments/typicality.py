"""Typicality (paper Eq. 1): Delta = <psi|O|psi> - Tr(O)/d for Haar-typical psi, against d.

Columns: d, mc_mean, mc_var, haar_var, sample, expectation, deviation (plus n_qubits for the
energy_shell sampler, where O = Z_1 or X_1 projected on the shell).

Own keys: ``quantum.dims`` (shell dimensions d, haar and gue_eigvec samplers),
``quantum.chain_sizes`` (chain lengths, energy_shell sampler), ``quantum.eps`` (deviations at
which the figure tabulates P(|Delta| >= eps) against Eq. 1), ``quantum.observable`` (``gue``: a
random GUE matrix fixed by the seed; ``z1``/``x1``: Pauli Z or X on the first site, energy_shell
only; ``auto``: ``z1`` for the energy_shell sampler, ``gue`` otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from typicality_ntk import quantum as q
from typicality_ntk.config import Config, QuantumCfg, check_choice, check_int_list, require
from typicality_ntk.plot.quantum import plot_typicality
from typicality_ntk.quantum import theory
from typicality_ntk.sweep import Experiment, Point, complex_dtype

COLUMNS = ("d", "mc_mean", "mc_var", "haar_var", "sample", "expectation", "deviation")
OBSERVABLES = ("gue", "z1", "x1", "auto")


# -- config: the keys this experiment owns ----------------------------------------------------
@dataclass
class TypicalityQuantum(QuantumCfg):
    dims: list[int] = field(default_factory=lambda: [8, 32, 128, 512])
    chain_sizes: list[int] = field(default_factory=lambda: [6, 8, 10])
    eps: list[float] = field(default_factory=lambda: [0.01, 0.02, 0.05, 0.1])
    observable: str = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.observable == "auto":
            self.observable = "z1" if self.sampler == "energy_shell" else "gue"
        k = "quantum."
        check_int_list(k + "dims", self.dims, 2)
        check_int_list(k + "chain_sizes", self.chain_sizes, 2, 14)
        require(len(self.eps) > 0, k + "eps", list(self.eps), "must be a non-empty list")
        for e in self.eps:
            require(e > 0, k + "eps", list(self.eps), "must be a list of deviations > 0")
        check_choice(k + "observable", self.observable, OBSERVABLES)
        require(
            self.observable == "gue" or self.sampler == "energy_shell",
            k + "observable",
            self.observable,
            "z1 and x1 need quantum.sampler=energy_shell; use gue",
        )


@dataclass
class TypicalityConfig(Config):
    quantum: TypicalityQuantum = field(default_factory=TypicalityQuantum)


# -- points and the one-sample function -------------------------------------------------------


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


def check(cfg):
    cfg.quantum.check_shell(cfg.quantum.chain_sizes)


EXPERIMENT = Experiment(
    "typicality", points, sample, plot_typicality, COLUMNS, check, schema=TypicalityConfig
)
