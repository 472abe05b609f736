"""One module per experiment, each exposing ``EXPERIMENT`` (a ``sweep.Experiment``).

An experiment is a pure function of (config, PRNG key) for ONE sample plus the list of points it
sweeps; the runner owns jit/vmap/chunking and the store owns files. To add one: a module here (or in
any importable package, named by the ``module`` key) and a YAML in ``conf/experiment/``.
"""

from __future__ import annotations

import importlib

from typicality_ntk.sweep import Experiment

__all__ = ["load_experiment"]


def load_experiment(module: str) -> Experiment:
    """Import ``module`` and return its ``EXPERIMENT``."""
    mod = importlib.import_module(module)
    exp = getattr(mod, "EXPERIMENT", None)
    if not isinstance(exp, Experiment):
        raise TypeError(
            f"module {module} has no EXPERIMENT of type typicality_ntk.sweep.Experiment"
        )
    return exp
