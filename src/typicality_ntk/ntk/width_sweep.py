r"""Width sweeps of one MLP architecture: how many programs, and which widths each one serves.

A sweep over hidden widths can compile one program per width (``loop``), one program for every
width, a network of the largest width whose units beyond each width are masked (``masked``:
:class:`~typicality_ntk.ntk.masked.MaskedMLP`, same numbers as the unpadded nets), or one per
bucket of widths whose padded work is at most :data:`BUCKET_WORK_FACTOR` x the real work
(``bucketed``). :func:`choose_mode` picks one from the device and a cost model (FLOPs of a learner,
:func:`~typicality_ntk.ntk.learners.sample_flops`, at a measured rate, plus measured compile
seconds per program); :func:`padded_widths` maps each width to the width of its program. The
widths of one program become the row groups of one runner point
(:class:`~typicality_ntk.sweep.Point`), so a mode never changes a result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import numpy as np

from typicality_ntk.ntk.learners import LEARNER_COMPILE_SECONDS, sample_flops
from typicality_ntk.ntk.masked import n_params_mlp

__all__ = [
    "BUCKET_WORK_FACTOR",
    "CPU_FLOPS",
    "MASKED_MAX_WORK_RATIO",
    "SWEEP_MODES",
    "bucket_widths",
    "choose_mode",
    "padded_widths",
    "width_costs",
]

#: ``auto`` resolves to one of the other three.
SWEEP_MODES = ("auto", "loop", "masked", "bucketed")
#: ``bucketed``: the padded work of all buckets is at most this multiple of the real work.
BUCKET_WORK_FACTOR = 2.0
#: ``auto`` on an accelerator: ``masked`` while its padded work is at most this multiple.
MASKED_MAX_WORK_RATIO = 8.0
#: ``auto`` on a CPU: the sustained FLOP rate per item size (bytes), measured on 2 cores
#: (bench/sweep.py: 20 widths x 8 seeds x 2000 GD steps, float32: 25 GFLOP/s).
CPU_FLOPS = {4: 2.5e10, 8: 1.2e10}


def width_costs(widths: Sequence[int], n_in: int, depth: int, n_out: int) -> np.ndarray:
    """Work of one width, proportional to the network's P (forward, Jacobian, features)."""
    return np.array([n_params_mlp(int(w), n_in=n_in, depth=depth, n_out=n_out) for w in widths])


def bucket_widths(costs: Sequence[float], factor: float = BUCKET_WORK_FACTOR) -> list[list[int]]:
    """Fewest contiguous buckets of the sorted widths whose padded work <= factor x real work.

    Args:
        costs: work of each width, ascending (each width padded to the last one of its bucket
            costs that one's work).
        factor: allowed ratio of padded to real work (>= 1).

    Returns:
        Buckets as lists of indices into ``costs``, in order; among partitions with the fewest
        buckets, the one with the least padded work (dynamic programming over split points).
    """
    c = np.asarray(costs, float)
    n = len(c)
    if n == 0:
        return []
    budget = factor * c.sum() * (1 + 1e-12)
    # best[g][i]: least padded work covering widths [0, i) with g buckets; cut[g][i]: last start
    best = np.full((n + 1, n + 1), np.inf)
    cut = np.zeros((n + 1, n + 1), int)
    best[0][0] = 0.0
    for g in range(1, n + 1):
        for i in range(1, n + 1):
            for j in range(g - 1, i):
                v = best[g - 1][j] + (i - j) * c[i - 1]
                if v < best[g][i]:
                    best[g][i], cut[g][i] = v, j
        if best[g][n] <= budget:
            out, i = [], n
            for gg in range(g, 0, -1):
                j = cut[gg][i]
                out.append(list(range(j, i)))
                i = j
            return out[::-1]
    return [[i] for i in range(n)]  # pragma: no cover - g = n always fits (factor >= 1)


def choose_mode(
    learner: str,
    widths: Sequence[int],
    *,
    sizes: Mapping[str, int],
    samples: int,
    backend: str | None = None,
    itemsize: int = 4,
) -> str:
    """What ``sweep.mode=auto`` runs.

    On an accelerator, ``masked`` (one program, widths batched) unless its padded work exceeds
    :data:`MASKED_MAX_WORK_RATIO` x the real work, then ``bucketed``. On a CPU, the mode with the
    least estimated time ``programs x LEARNER_COMPILE_SECONDS[learner] + padded FLOPs /
    CPU_FLOPS[itemsize]`` (``masked`` for the closed-form learners, ``linearized`` included: its
    time axis is closed form, ``bucketed`` for network trainings of a few thousand steps, the
    per-width ``loop`` for much longer ones: measured, 1e5 GD steps of the 26 default widths x 8
    seeds in 8.5 min on 2 cores).

    Args:
        learner: one of :data:`~typicality_ntk.ntk.learners.LEARNERS`.
        widths: the widths swept.
        sizes: ``n_in, depth, n_out, n_train, n_test, steps`` and optionally ``log_points``
            (see :func:`sample_flops`).
        samples: samples per width.
        backend: ``jax.default_backend()`` unless given.
        itemsize: bytes per real number (4: float32, 8: float64).
    """
    backend = jax.default_backend() if backend is None else backend
    uniq = sorted({int(w) for w in widths})
    costs = width_costs(uniq, sizes["n_in"], sizes["depth"], sizes["n_out"])
    if backend != "cpu":
        ratio = len(costs) * costs.max() / costs.sum()
        return "masked" if ratio <= MASKED_MAX_WORK_RATIO else "bucketed"

    def seconds(mode: str) -> float:
        pads = padded_widths(uniq, mode, costs)
        flops = sum(sample_flops(learner, pads[w], **sizes) for w in uniq) * samples
        rate = CPU_FLOPS[8 if itemsize >= 8 else 4]
        return len(set(pads.values())) * LEARNER_COMPILE_SECONDS[learner] + flops / rate

    return min(("loop", "bucketed", "masked"), key=seconds)


def padded_widths(widths: Sequence[int], mode: str, costs: Sequence[float]) -> dict[int, int]:
    """width -> the width its program is compiled for (``mode`` resolved, not ``auto``)."""
    uniq = sorted({int(w) for w in widths})
    if mode == "loop":
        return {w: w for w in uniq}
    if mode == "masked":
        return {w: uniq[-1] for w in uniq}
    if mode == "bucketed":
        cost = dict(zip((int(w) for w in widths), costs, strict=True))
        buckets = bucket_widths([cost[w] for w in uniq])
        return {uniq[i]: uniq[b[-1]] for b in buckets for i in b}
    raise ValueError(f"sweep mode must be loop, masked or bucketed, got {mode!r}")
