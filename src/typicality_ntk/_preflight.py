"""Reject bad input before any compute: compose every job of a (multi)run and validate it.

Hydra reports composition errors as multi-line messages with exit code 1 and a runtime error as a
traceback; users get neither here. Every job's config is composed with Hydra's compose API (the
same config loader ``tntk`` uses), turned into the typed schema (running every check) and handed
to its experiment's ``check``; the first failure becomes one line, exit code 2. Then every job's
``store.root`` is created (if missing) and probed with a temporary file, so a store that cannot be
written fails here and not after the computation.
"""

from __future__ import annotations

import itertools
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, MissingConfigException
from omegaconf.errors import OmegaConfBaseException

from typicality_ntk._jax_setup import compile_cache_dir
from typicality_ntk._overrides import apply_command_line, check_applicable
from typicality_ntk.config import register_configs
from typicality_ntk.errors import ConfigError

__all__ = ["check_store_root", "expand_sweep", "preflight", "validate_config"]

#: Above this many jobs only the first ones are composed (each compose takes ~10 ms).
MAX_PREFLIGHT_JOBS = 2000


def expand_sweep(overrides: Sequence[str]) -> list[list[str]]:
    """The jobs of a multirun as lists of plain overrides (the basic sweeper's product)."""
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    axes = []
    for o in parsed:
        if o.is_sweep_override():
            key = o.get_key_element()
            axes.append([f"{key}={v}" for v in o.sweep_string_iterator()])
        else:
            axes.append([o.input_line])
    return [list(job) for job in itertools.islice(itertools.product(*axes), MAX_PREFLIGHT_JOBS)]


def validate_config(cfg, config_name: str = "config", overrides: Sequence[str] | None = None):
    """Typed config (all checks run) plus the experiment's own check; raises ConfigError.

    ``overrides`` (the job's command line, when known) must all apply to the job
    (:func:`~typicality_ntk._overrides.check_applicable`). For a study, every job's config is
    composed (Hydra must be initialised: inside ``tntk`` or a preflight) and validated the same
    way.
    """
    from typicality_ntk.sweep import Study, experiment_config, job_overrides

    obj, experiment = experiment_config(cfg)
    if overrides is not None:
        check_applicable(obj, experiment, overrides)
    if isinstance(experiment, Study):
        for label, job in job_overrides(experiment, obj):
            try:
                validate_config(compose_job(config_name, job), config_name, job)
            except ConfigError as err:
                raise ConfigError(err.key, err.value, f"{err.allowed} (in job {label})") from None
    elif experiment.check is not None:
        experiment.check(obj)
    return obj, experiment


def _group_error(err: MissingConfigException, job: Sequence[str]) -> ConfigError:
    text = str(err)
    m = re.search(r"Could not find '([^']+)/([^'/]+)'", text)
    if m:
        group, value = m.group(1), m.group(2)
        options = re.findall(r"^\t(\S+)$", text.split("Config search path")[0], flags=re.M)
        known = ", ".join(options) or "none"
        return ConfigError(group, value, f"unknown option; known: {known}")
    return ConfigError("config", " ".join(job), text.splitlines()[0])


def _compose_error(err: Exception, job: Sequence[str]) -> ConfigError:
    first = str(err).splitlines()[0] if str(err) else type(err).__name__
    cause = err.__cause__
    m = re.search(r"override '([^']+)'", first) or re.search(r"override (\S+)", first)
    key_value = m.group(1) if m else " ".join(job)
    if "=" in key_value:
        key, value = key_value.split("=", 1)
    else:
        key = key_value
        value = next(
            (j.split("=", 1)[1] for j in job if j.split("=", 1)[0].lstrip("+~") == key), ""
        )
    detail = str(cause).splitlines()[0] if cause is not None else first
    if "not in struct" in str(cause) or "not in '" in str(cause):
        detail = "unknown key (use +key=value to add one, or check the spelling)"
    detail = re.sub(
        r"Value '[^']*' of type '(\w+)' could not be converted to (\w+)",
        lambda mm: f"must be {mm.group(2).lower()} (got a {mm.group(1)})",
        detail,
    )
    return ConfigError(key, value, detail)


def compose_job(config_name: str, job: Sequence[str]):
    """Compose one job's config (Hydra initialised) with the command line's precedence
    (:func:`~typicality_ntk._overrides.apply_command_line`); composition errors become one
    ConfigError."""
    try:
        return apply_command_line(compose(config_name, overrides=list(job)), job)
    except MissingConfigException as err:
        raise _group_error(err, job) from None
    except (HydraException, OmegaConfBaseException) as err:
        raise _compose_error(err, job) from None


def preflight(config_dir: str, config_name: str, overrides: Sequence[str], multirun: bool) -> int:
    """Validate every job; returns the number of jobs, raises ConfigError on the first bad one."""
    register_configs()
    try:
        jobs = expand_sweep(overrides) if multirun else [list(overrides)]
    except HydraException as err:
        raise ConfigError("overrides", " ".join(overrides), str(err).splitlines()[0]) from None
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
        configs = [validate_config(compose_job(config_name, j), config_name, j)[0] for j in jobs]
    GlobalHydra.instance().clear()
    # only once every job is valid: nothing is created for a bad one
    for root in dict.fromkeys(c.store.root for c in configs):
        check_store_root(root)
    for setting in dict.fromkeys(c.compile_cache for c in configs):
        path = compile_cache_dir(setting) if setting != "auto" else None  # auto falls back to off
        if path is not None:
            check_store_root(str(path), key="compile_cache", value=setting)
    return len(jobs)


def check_store_root(root: str, key: str = "store.root", value: str | None = None) -> None:
    """Create ``store.root`` (or another directory a run writes: ``key``) if missing, and a probe
    file in it; ConfigError if either fails.

    A probe, not permission bits: root ignores those, while /proc or a file in the way stop anyone.
    """
    path, value = Path(root), root if value is None else value
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(
            key, value, f"cannot create a directory there ({err.strerror or err})"
        ) from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ConfigError(key, value, f"cannot write there ({err.strerror or err})") from None
