"""Typed configuration schema, registered in Hydra's ConfigStore.

The YAML files under ``conf/`` hold values; this module holds the types and the checks. Every check
raises :class:`~typicality_ntk.errors.ConfigError`, whose message is the one line a user sees
(``quantum.n_qubits=0: must be an integer >= 2``). Checks run in ``__post_init__``, which
``OmegaConf.to_object`` calls, so a config is validated by turning it into these dataclasses
(:func:`to_config`). Dataclasses are not frozen: frozen dataclasses block command-line overrides.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from typicality_ntk.errors import ConfigError

__all__ = [
    "PRECISIONS",
    "SAMPLERS",
    "OBSERVABLES",
    "Config",
    "QuantumCfg",
    "StoreCfg",
    "register_configs",
    "to_config",
]

PRECISIONS = ("float32", "float64")
SAMPLERS = ("haar", "gue_eigvec", "energy_shell")
OBSERVABLES = ("gue", "z1", "x1")


def _require(ok: bool, key: str, value: object, allowed: str) -> None:
    if not ok:
        raise ConfigError(key, value, allowed)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_int_list(key: str, values: Iterable[Any], lo: int, hi: int | None = None) -> None:
    values = list(values)
    rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
    _require(len(values) > 0, key, values, f"must be a non-empty list of integers {rng}")
    for v in values:
        ok = _is_int(v) and v >= lo and (hi is None or v <= hi)
        _require(ok, key, values, f"must be a non-empty list of integers {rng}")


@dataclass
class StoreCfg:
    """Where results go. ``root`` is relative to the directory ``tntk`` is started from."""

    root: str = "outputs/store"
    recompute: bool = False

    def __post_init__(self) -> None:
        _require(bool(self.root), "store.root", self.root, "must be a non-empty path")


@dataclass
class QuantumCfg:
    """The quantum side: which states are sampled and on which Hilbert spaces.

    Attributes:
        sampler: ``haar`` (normalised complex Gaussian vector), ``gue_eigvec`` (an eigenvector of a
            GUE matrix) or ``energy_shell`` (Haar on the span of the eigenvectors of a mixed-field
            Ising chain with energies in ``[energy - window/2, energy + window/2]``).
        n_qubits: total qubits for ``page_curve`` (d = 2**n_qubits) and the chain length of
            ``energy_shell``.
        cuts: qubits in subsystem A for each cut of ``page_curve``; ``null`` means all 1..n-1.
        alphas: extra Rényi orders, recorded as ``s_renyi_<alpha>`` (0: log-rank, inf: min-entropy);
            ``s_vn`` and ``s_renyi_2`` are always recorded.
        dims: shell dimensions d swept by ``typicality`` (haar and gue_eigvec samplers).
        chain_sizes: chain lengths swept by ``typicality`` with the energy_shell sampler.
        eps: deviations ε at which ``typicality`` tabulates P(|Δ| >= ε) against Eq. 1.
        observable: ``gue`` (a random GUE matrix, fixed by the seed), ``z1`` or ``x1`` (Pauli Z or X
            on the first site, energy_shell only).
        mp_d_a: subsystem dimensions dA swept by ``mp_spectrum``.
        mp_ratios: ratios c = dA/dB swept by ``mp_spectrum`` (dA/c must be an integer).
        h_x, h_z: fields of H = sum Z_i Z_{i+1} + h_x sum X_i + h_z sum Z_i (open chain).
        energy, window: centre and width of the energy shell.
    """

    sampler: str = "haar"
    n_qubits: int = 10
    cuts: list[int] | None = None
    alphas: list[float] = field(default_factory=lambda: [0.0, math.inf])
    dims: list[int] = field(default_factory=lambda: [8, 32, 128, 512])
    chain_sizes: list[int] = field(default_factory=lambda: [6, 8, 10])
    eps: list[float] = field(default_factory=lambda: [0.01, 0.02, 0.05, 0.1])
    observable: str = "gue"
    mp_d_a: list[int] = field(default_factory=lambda: [16, 64, 256])
    mp_ratios: list[float] = field(default_factory=lambda: [0.25, 0.5, 1.0])
    h_x: float = 0.9045
    h_z: float = 0.8090
    energy: float = 0.0
    window: float = 2.0

    def __post_init__(self) -> None:
        k = "quantum."
        _require(
            self.sampler in SAMPLERS,
            k + "sampler",
            self.sampler,
            f"must be one of {', '.join(SAMPLERS)}",
        )
        _require(
            _is_int(self.n_qubits) and 2 <= self.n_qubits <= 30,
            k + "n_qubits",
            self.n_qubits,
            "must be an integer >= 2 (and <= 30)",
        )
        if self.cuts is not None:
            _check_int_list(k + "cuts", self.cuts, 1, self.n_qubits - 1)
        for a in self.alphas:
            _require(
                a >= 0 and not math.isnan(a),
                k + "alphas",
                list(self.alphas),
                "must be a list of Rényi orders >= 0 (inf allowed)",
            )
        _check_int_list(k + "dims", self.dims, 2)
        _check_int_list(k + "chain_sizes", self.chain_sizes, 2, 14)
        for e in self.eps:
            _require(e > 0, k + "eps", list(self.eps), "must be a list of deviations > 0")
        _require(
            self.observable in OBSERVABLES,
            k + "observable",
            self.observable,
            f"must be one of {', '.join(OBSERVABLES)}",
        )
        _require(
            self.observable == "gue" or self.sampler == "energy_shell",
            k + "observable",
            self.observable,
            "z1 and x1 need quantum.sampler=energy_shell; use gue",
        )
        _check_int_list(k + "mp_d_a", self.mp_d_a, 2)
        for c in self.mp_ratios:
            _require(c > 0, k + "mp_ratios", list(self.mp_ratios), "must be ratios dA/dB > 0")
            for d_a in self.mp_d_a:
                d_b = d_a / c
                _require(
                    abs(d_b - round(d_b)) < 1e-9 and round(d_b) >= 1,
                    k + "mp_ratios",
                    list(self.mp_ratios),
                    f"dA/c must be an integer for every dA (dA={d_a})",
                )
        _require(self.window > 0, k + "window", self.window, "must be > 0")


@dataclass
class Config:
    """The root of every run's configuration.

    Attributes:
        name: experiment name (set by ``experiment=<name>``).
        module: module holding the experiment's ``EXPERIMENT`` object.
        seed: root of every PRNG key of the run.
        samples: states (or initialisations) per point, vmapped.
        chunk_size: samples per vmapped call, or ``auto`` (chosen from free memory).
        precision: ``float32`` (complex64) or ``float64`` (complex128).
        figures: draw the experiment's figures into the run directory.
        compile_cache: JAX's persistent compilation cache: ``auto`` ($TNTK_COMPILE_CACHE, else
            ~/.cache/typicality_ntk/jax), a directory, or ``off``.
    """

    name: str = "page_curve"
    module: str = "typicality_ntk.experiments.${name}"
    seed: int = 0
    samples: int = 256
    chunk_size: Any = "auto"
    precision: str = "float32"
    figures: bool = True
    compile_cache: str = "auto"
    store: StoreCfg = field(default_factory=StoreCfg)
    quantum: QuantumCfg = field(default_factory=QuantumCfg)

    def __post_init__(self) -> None:
        _require(
            _is_int(self.seed) and self.seed >= 0, "seed", self.seed, "must be an integer >= 0"
        )
        _require(
            _is_int(self.samples) and self.samples >= 1,
            "samples",
            self.samples,
            "must be an integer >= 1",
        )
        ok = self.chunk_size == "auto" or (_is_int(self.chunk_size) and self.chunk_size >= 1)
        _require(ok, "chunk_size", self.chunk_size, "must be an integer >= 1 or auto")
        _require(
            self.precision in PRECISIONS,
            "precision",
            self.precision,
            f"must be one of {', '.join(PRECISIONS)}",
        )


def register_configs() -> None:
    """Store the schema as ``base_schema``; ``conf/config.yaml`` lists it first in its defaults."""
    cs = ConfigStore.instance()
    cs.store(name="base_schema", node=Config)


def to_config(cfg: DictConfig) -> Config:
    """Resolve interpolations and validate: raises ConfigError on the first bad value."""
    obj = OmegaConf.to_object(cfg)
    assert isinstance(obj, Config), type(obj)
    return obj
