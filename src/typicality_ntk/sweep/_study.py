"""A study: figures drawn across several experiments' stored results (computed when missing).

A study has no sample function of its own. It names jobs, each one ordinary experiment with its
overrides; ``tntk`` runs every job through the same runner and store as ``tntk experiment=<name>
<overrides>`` would (a stored entry is reused), draws each job's figures into
``<run dir>/<label>/figures`` and then the study's own figures from the entries of all jobs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Study", "PASSTHROUGH_KEYS"]

#: Keys of the study's own config handed on to every job (the rest comes from the job's overrides).
PASSTHROUGH_KEYS = ("seed", "store.root", "store.recompute", "figures", "compile_cache")


@dataclass(frozen=True)
class Study:
    """What ``experiment=<name>`` runs when the module holds ``STUDY`` instead of ``EXPERIMENT``.

    Attributes:
        name: the name used by ``experiment=<name>``.
        jobs: ``jobs(cfg) -> [(label, [override, ...]), ...]``; each job is
            ``experiment=<x> <overrides>`` composed from the same ``conf/`` as the command line.
        plot: ``plot(entries, cfg, outdir) -> [paths]`` with ``entries`` = {label: store entry}.
        schema: the study's typed config (a subclass of :class:`typicality_ntk.config.Config`
            holding its own keys, e.g. ``scale``), as for an experiment.
    """

    name: str
    jobs: Callable[[Any], Sequence[tuple[str, Sequence[str]]]]
    plot: Callable[[Mapping[str, Path], dict, Path], list[Path]] | None = None
    schema: type | None = None


def job_overrides(study: Study, cfg: Any) -> list[tuple[str, list[str]]]:
    """Each job's full override list: its own overrides after the passed-through common keys."""

    def lookup(obj: Any, dotted: str) -> Any:
        for part in dotted.split("."):
            obj = obj[part] if isinstance(obj, Mapping) else getattr(obj, part)
        return obj

    common = []
    for key in PASSTHROUGH_KEYS:
        value = lookup(cfg, key)
        common.append(f"{key}={str(value).lower() if isinstance(value, bool) else value}")
    return [(label, [*common, *overrides]) for label, overrides in study.jobs(cfg)]
