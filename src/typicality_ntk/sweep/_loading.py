"""Find an experiment (or study) by module name: the library knows no experiment by itself.

``tntk experiment=<name>`` runs the module named by the ``module`` key, ``experiments.<name>`` by
default: the repository's top-level ``experiments/`` package (shipped in the wheel too). Any
importable module holding ``EXPERIMENT`` (a :class:`~typicality_ntk.sweep.Experiment`) or
``STUDY`` (a :class:`~typicality_ntk.sweep.Study`) can be run with ``module=<dotted.path>``.
"""

from __future__ import annotations

import importlib

from typicality_ntk.sweep._experiment import Experiment
from typicality_ntk.sweep._study import Study

__all__ = ["LEGACY_PREFIX", "experiment_config", "load_experiment"]

#: Where the experiments lived before they moved to the top-level ``experiments`` package; store
#: entries written then record this module path in ``meta.json`` and still load.
LEGACY_PREFIX = "typicality_ntk.experiments."


def load_experiment(module: str) -> Experiment | Study:
    """Import ``module`` and return its ``EXPERIMENT`` (or its ``STUDY``, a set of experiments)."""
    if module.startswith(LEGACY_PREFIX):
        module = "experiments." + module.removeprefix(LEGACY_PREFIX)
    mod = importlib.import_module(module)
    exp = getattr(mod, "EXPERIMENT", None) or getattr(mod, "STUDY", None)
    if not isinstance(exp, (Experiment, Study)):
        raise TypeError(
            f"module {module} has no EXPERIMENT (typicality_ntk.sweep.Experiment) "
            "or STUDY (typicality_ntk.sweep.Study)"
        )
    return exp


def experiment_config(cfg):
    """``(typed config, experiment)`` of a composed config: the module its ``module`` key names is
    loaded and the config typed and checked by that experiment's ``schema``.

    Raises:
        ConfigError: the module cannot be loaded, or a value is bad (one line, naming the key).
    """
    from omegaconf import OmegaConf

    from typicality_ntk.config import to_config
    from typicality_ntk.errors import ConfigError

    if isinstance(cfg, dict):
        cfg = OmegaConf.create(cfg)
    module = OmegaConf.select(cfg, "module", throw_on_resolution_failure=False)
    module = module or f"experiments.{OmegaConf.select(cfg, 'name')}"
    try:
        experiment = load_experiment(str(module))
    except (ImportError, TypeError) as err:
        raise ConfigError("module", module, f"cannot load the experiment ({err})") from None
    return to_config(cfg, experiment.schema), experiment
