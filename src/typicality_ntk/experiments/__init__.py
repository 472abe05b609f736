"""One module per experiment, each exposing ``EXPERIMENT`` (a ``sweep.Experiment``).

An experiment is a pure function of (config, PRNG key) for ONE sample plus the list of points it
sweeps; the runner owns jit/vmap/chunking and the store owns files. To add one: a module here (or in
any importable package, named by the ``module`` key) and a YAML in ``conf/experiment/``.
"""

from __future__ import annotations

import importlib

from typicality_ntk.sweep import Experiment, Study

__all__ = ["load_experiment"]


def load_experiment(module: str) -> Experiment | Study:
    """Import ``module`` and return its ``EXPERIMENT`` (or its ``STUDY``, a set of experiments)."""
    mod = importlib.import_module(module)
    exp = getattr(mod, "EXPERIMENT", None) or getattr(mod, "STUDY", None)
    if not isinstance(exp, (Experiment, Study)):
        raise TypeError(
            f"module {module} has no EXPERIMENT (typicality_ntk.sweep.Experiment) "
            "or STUDY (typicality_ntk.sweep.Study)"
        )
    return exp
