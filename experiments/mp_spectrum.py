"""Reduced spectra x = dA * lambda(rho_A) against the Marchenko-Pastur law, c = dA/dB.

Columns: d_a, d_b, c, sample, ks_distance (Kolmogorov-Smirnov distance of one state's spectrum to
the MP law). Named array ``spectrum``: x for every sample, shape (samples, dA).

Own keys: ``quantum.mp_d_a`` (subsystem dimensions dA) and ``quantum.mp_ratios`` (ratios
c = dA/dB; dA/c must be an integer for every dA).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax.numpy as jnp
import numpy as np

from typicality_ntk import quantum as q
from typicality_ntk.config import Config, QuantumCfg, check_int_list, require
from typicality_ntk.errors import ConfigError
from typicality_ntk.plot.quantum import plot_mp_spectrum
from typicality_ntk.quantum import theory
from typicality_ntk.sweep import Experiment, Point, complex_dtype, real_dtype

COLUMNS = ("d_a", "d_b", "c", "sample", "ks_distance")
_GRID = 4097


# -- config: the keys this experiment owns ----------------------------------------------------
@dataclass
class MpQuantum(QuantumCfg):
    mp_d_a: list[int] = field(default_factory=lambda: [16, 64, 256])
    mp_ratios: list[float] = field(default_factory=lambda: [0.25, 0.5, 1.0])

    def __post_init__(self) -> None:
        super().__post_init__()
        k = "quantum."
        check_int_list(k + "mp_d_a", self.mp_d_a, 2)
        require(len(self.mp_ratios) > 0, k + "mp_ratios", [], "must be a non-empty list")
        for c in self.mp_ratios:
            require(c > 0, k + "mp_ratios", list(self.mp_ratios), "must be ratios dA/dB > 0")
            for d_a in self.mp_d_a:
                d_b = d_a / c
                require(
                    abs(d_b - round(d_b)) < 1e-9 and round(d_b) >= 1,
                    k + "mp_ratios",
                    list(self.mp_ratios),
                    f"dA/c must be an integer for every dA (dA={d_a})",
                )


@dataclass
class MpSpectrumConfig(Config):
    quantum: MpQuantum = field(default_factory=MpQuantum)


# -- points and the one-sample function -------------------------------------------------------


def points(cfg, key):
    qc, out = cfg.quantum, []
    for c in qc.mp_ratios:
        lo, hi = theory.mp_edges(c)
        grid = np.linspace(0.0 if c > 1 else lo, hi, _GRID)
        ctx = {
            "x": jnp.asarray(grid, real_dtype(cfg.precision)),
            "cdf": jnp.asarray(theory.mp_cdf(grid, c), real_dtype(cfg.precision)),
        }
        for d_a in qc.mp_d_a:
            d_b = round(d_a / c)
            static = {
                "d_a": d_a,
                "d_b": d_b,
                "sampler": qc.sampler,
                "dtype": complex_dtype(cfg.precision).name,
            }
            out.append(Point({"d_a": d_a, "d_b": d_b, "c": c}, static, ctx))
    return out


def sample(key, ctx, *, d_a, d_b, sampler, dtype):
    x = d_a * q.schmidt_spectrum(q.draw_state(key, sampler, d_a * d_b, jnp.dtype(dtype)), d_a, d_b)
    cdf = jnp.interp(x, ctx["x"], ctx["cdf"])
    left = jnp.where(x > 0, cdf, 0.0)  # the only atom of the MP law (c > 1) sits at x = 0
    i = jnp.arange(1, d_a + 1, dtype=x.dtype)
    ks = jnp.maximum(jnp.max(i / d_a - cdf), jnp.max(left - (i - 1) / d_a))
    return {"ks_distance": ks, "spectrum": x}


def check(cfg):
    if cfg.quantum.sampler == "energy_shell":
        raise ConfigError(
            "quantum.sampler",
            "energy_shell",
            "mp_spectrum needs a product space dA*dB: use haar or gue_eigvec",
        )


EXPERIMENT = Experiment(
    "mp_spectrum", points, sample, plot_mp_spectrum, COLUMNS, check, schema=MpSpectrumConfig
)
