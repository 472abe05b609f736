"""What the command line asked for: its group choices above the experiment's file, and no key
that cannot apply.

Hydra merges the defaults list in order and an experiment's file (``conf/experiment/<name>.yaml``,
``@package _global_``) comes after the group options, so ``experiment=lazy_training optim=adam``
would keep the experiment's ``optim.name: gd`` and ``optim.lr: 1.0``. The precedence users
expect, and what :func:`apply_command_line` restores after Hydra composed a job::

    keys on the command line  >  a group chosen on the command line (its option file's values)
                              >  the experiment's file  >  the group defaults

A key the chosen option does not set keeps the experiment's value (``lazy_training optim=adam``
keeps the experiment's ``optim.log_points``). :func:`check_applicable` then refuses a command-line
key or group choice that the job cannot use (a group its experiment does not read, a key of a
study that its jobs do not receive, a key its group's other settings make meaningless such as
``data.dim`` with ``data=digits``): one ConfigError line instead of a silently ignored value or a
silently re-hashed store entry.
"""

from __future__ import annotations

from collections.abc import Sequence

from hydra import compose
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf, open_dict

from typicality_ntk.config import GROUPS, Config, own_keys
from typicality_ntk.errors import ConfigError

__all__ = ["apply_command_line", "check_applicable", "command_line"]


def command_line(overrides: Sequence[str]) -> tuple[dict[str, str], dict[str, str]]:
    """``(group choices, keys)`` of a job's overrides: ``{"optim": "adam"}`` and
    ``{"optim.lr": "0.01"}`` (dotted key -> the value as typed). ``hydra.*`` keys,
    ``experiment=`` and deletions are neither."""
    groups, keys = {}, {}
    for o in OverridesParser.create().parse_overrides(list(overrides)):
        key = o.key_or_group
        if o.is_delete() or key == "experiment" or key.split(".")[0] == "hydra":
            continue
        if key in GROUPS and o.package is None and not o.is_add():
            groups[key] = str(o.value())
        else:
            keys[key] = o.input_line.split("=", 1)[-1]
    return groups, keys


def apply_command_line(cfg: DictConfig, overrides: Sequence[str]) -> DictConfig:
    """``cfg`` (as Hydra composed it from ``overrides``) with the command line's precedence.

    Each group chosen on the command line has its option file's values merged over the group
    (they beat the experiment's file); then every key given on the command line gets back the
    value Hydra gave it. Needs an initialised Hydra (inside ``tntk`` or a preflight) to load the
    option files from the same search path. Returns a new config; ``cfg`` is not changed.
    """
    groups, keys = command_line(overrides)
    if not groups:
        return cfg
    out = cfg.copy()
    with open_dict(out):
        for group, option in groups.items():
            values = compose(f"{group}/{option}").get(group, {})
            out[group] = OmegaConf.merge(out[group], values)
        for key in keys:
            value = OmegaConf.select(cfg, key, throw_on_missing=False)
            if key.split(".")[0] in groups:
                OmegaConf.update(out, key, value, merge=False, force_add=True)
    return out


def check_applicable(config, experiment, overrides: Sequence[str]) -> None:
    """Refuse what the command line set but the job cannot use (ConfigError, naming the key).

    Args:
        config: the job's typed config (:func:`typicality_ntk.config.to_config`).
        experiment: its :class:`~typicality_ntk.sweep.Experiment` or ``Study``.
        overrides: the job's command-line overrides (a study's jobs get only
            :data:`~typicality_ntk.sweep._study.PASSTHROUGH_KEYS` and its own keys).
    """
    from typicality_ntk.sweep import Study
    from typicality_ntk.sweep._study import PASSTHROUGH_KEYS

    groups, keys = command_line(overrides)
    asked = {**groups, **keys}  # every key or group the command line set -> its value as typed
    name = experiment.name
    if isinstance(experiment, Study):
        own = own_keys(experiment.schema or Config)
        allowed = (*PASSTHROUGH_KEYS, *own, "module")
        for key, value in asked.items():
            if key not in allowed:
                raise ConfigError(
                    key,
                    value,
                    f"experiment={name} sizes its own jobs ({', '.join(own) or 'no keys'}); "
                    f"it passes on only {', '.join(PASSTHROUGH_KEYS)}",
                )
        return
    used = set(experiment.uses)
    unused = {}  # key -> why: what a group's other settings, or the experiment, never read
    for group in used:
        node = getattr(config, group, None)
        if hasattr(node, "unused_keys"):
            unused.update({f"{group}.{k}": why for k, why in node.unused_keys().items()})
    unused.update(experiment.unused(config) if experiment.unused is not None else {})
    for key, value in asked.items():
        group = key.split(".")[0]
        if group in GROUPS and group not in used:
            raise ConfigError(
                key,
                value,
                f"experiment={name} does not use the {group} group (it uses: "
                f"{', '.join(sorted(used)) or 'none'})",
            )
        if key in unused:
            raise ConfigError(key, value, unused[key])
    points = keys.get("optim.log_points", "")
    steps = config.optim.steps if "optim" in used else None
    if steps is not None and points.isdigit() and int(points) > steps + 1:
        raise ConfigError(
            "optim.log_points",
            points,
            f"must be <= optim.steps + 1 = {steps + 1} (steps 0..{steps} are all there is)",
        )
