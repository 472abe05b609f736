"""Page curve: entropies of rho_A for every cut dA = 2^k of n qubits (paper Sec. III, Eq. 2).

Columns (public contract): n_qubits, d_a, d_b, sample, purity, s_vn, s_renyi_2, trace_distance,
plus s_renyi_<alpha> for each extra ``quantum.alphas`` (nats).

Own keys: ``quantum.cuts`` (qubits in A for each cut; null: every cut 1..n-1) and
``quantum.alphas`` (extra Rényi orders, recorded as ``s_renyi_<alpha>``; 0: log-rank, inf:
min-entropy; ``s_vn`` and ``s_renyi_2`` are always recorded).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import jax.numpy as jnp

from typicality_ntk import quantum as q
from typicality_ntk.config import Config, QuantumCfg, check_int_list, require
from typicality_ntk.plot.quantum import plot_page_curve
from typicality_ntk.quantum.fluctuations import cut_fluctuations
from typicality_ntk.quantum.from_config import shell_context
from typicality_ntk.sweep import Experiment, Point, complex_dtype

log = logging.getLogger("typicality_ntk")

COLUMNS = ("n_qubits", "d_a", "d_b", "sample", "purity", "s_vn", "s_renyi_2", "trace_distance")


# -- config: the keys this experiment owns ----------------------------------------------------
@dataclass
class PageQuantum(QuantumCfg):
    cuts: list[int] | None = None
    alphas: list[float] = field(default_factory=lambda: [0.0, math.inf])

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.cuts is not None:
            check_int_list("quantum.cuts", self.cuts, 1, self.n_qubits - 1)
        for a in self.alphas:
            require(
                a >= 0 and not math.isnan(a),
                "quantum.alphas",
                list(self.alphas),
                "must be a list of Rényi orders >= 0 (inf allowed)",
            )


@dataclass
class PageCurveConfig(Config):
    quantum: PageQuantum = field(default_factory=PageQuantum)


# -- points and the one-sample function -------------------------------------------------------


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


# -- figures and summary ----------------------------------------------------------------------
def plot(table, arrays, cfg, outdir):
    """The Page-curve figure, plus ``page_curve_fluctuations.csv``: per cut, the sampled variances
    of S_vN and of the purity (with their standard errors) next to the exact Haar values
    (:func:`~typicality_ntk.quantum.fluctuations.cut_fluctuations`)."""
    paths = plot_page_curve(table, arrays, cfg, outdir)
    fluct = cut_fluctuations(table)
    csv = Path(outdir) / "page_curve_fluctuations.csv"
    fluct.to_csv(csv, index=False)
    for r in fluct.itertuples():
        log.info(
            "page_curve %d|%d: Var S_vN %.4g +- %.2g (exact %.4g), Var purity %.4g +- %.2g "
            "(exact %.4g)",
            r.d_a, r.d_b, r.s_vn_var, r.s_vn_var_se, r.s_vn_var_exact,
            r.purity_var, r.purity_var_se, r.purity_var_exact,
        )  # fmt: skip
    return [*paths, csv]


def check(cfg):
    cfg.quantum.check_shell([cfg.quantum.n_qubits])


EXPERIMENT = Experiment("page_curve", points, sample, plot, COLUMNS, check, schema=PageCurveConfig)
