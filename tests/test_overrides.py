"""What the user asks for is what runs (issue 14): group choices on the command line beat the
experiment's file, keys that cannot apply are one-line errors, every run gets its own run dir,
and bad input that used to end in a traceback stops in the preflight."""

from __future__ import annotations

import json
from multiprocessing.pool import ThreadPool
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_tntk
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from typicality_ntk._preflight import compose_job, preflight, validate_config
from typicality_ntk.cli import CONFIG_DIR, claim_dir
from typicality_ntk.config import GROUPS, register_configs
from typicality_ntk.errors import ConfigError
from typicality_ntk.sweep import experiment_config

CONF = REPO / "conf"
#: A command-line key of each group that must beat the option file and the experiment's file.
KEY_OF = {
    "optim": ("optim.steps", 7),
    "data": ("data.n_train", 7),
    "model": ("model.depth", 2),
    "quantum": ("quantum.n_qubits", 6),
    "ntk": ("ntk.implementation", "jacobian_contraction"),
}


def _experiments_setting_groups() -> list[tuple[str, str, str]]:
    """(experiment, group, option) for every experiment file that sets keys of a group and
    every option of that group."""
    out = []
    for path in sorted((CONF / "experiment").glob("*.yaml")):
        values = yaml.safe_load(path.read_text()) or {}
        for group in GROUPS:
            if isinstance(values.get(group), dict):
                for option in sorted((CONF / group).glob("*.yaml")):
                    out.append((path.stem, group, option.stem))
    return out


CASES = _experiments_setting_groups()


@pytest.fixture
def hydra_ctx():
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        yield
    GlobalHydra.instance().clear()


def test_every_group_setting_experiment_is_covered():
    pairs = {(e, g) for e, g, _ in CASES}
    assert {
        ("lazy_training", "optim"),
        ("double_descent", "optim"),
        ("double_descent", "data"),
    } <= pairs
    assert {g for _, g, _ in CASES} >= {"optim", "model", "data"}


@pytest.mark.parametrize(("experiment", "group", "option"), CASES)
def test_a_group_chosen_on_the_command_line_beats_the_experiment_file(
    hydra_ctx, experiment, group, option
):
    """keys on the command line > the chosen group's file > the experiment's file."""
    chosen = yaml.safe_load((CONF / group / f"{option}.yaml").read_text()) or {}
    chosen.pop("defaults", None)
    job = [f"experiment={experiment}", f"{group}={option}"]
    config, _ = experiment_config(compose_job("config", job))
    node = getattr(config, group)
    for key, value in chosen.items():
        got = getattr(node, key)
        if key == "log_points":  # clamped to steps + 1 where the option asks for more
            value = min(value, config.optim.steps + 1)
        assert got == value, f"{experiment} {group}={option}: {group}.{key}={got!r}, not {value!r}"
    key, value = KEY_OF[group]
    config, _ = experiment_config(compose_job("config", [*job, f"{key}={value}"]))
    assert getattr(getattr(config, group), key.split(".")[1]) == value


@pytest.mark.parametrize(
    ("job", "key", "text"),
    [
        (["experiment=double_descent", "data.task=binary"], "data.task", "digits only"),
        (["experiment=double_descent", "data=digits", "data.dim=3"], "data.dim", "synthetic"),
        (["experiment=lazy_training", "optim.log_points=5000"], "optim.log_points", "<= optim"),
        (["experiment=page_curve", "model.depth=3"], "model.depth", "does not use the model"),
        (["experiment=page_curve", "optim=adam"], "optim", "does not use the optim"),
        (["experiment=typicality", "quantum.energy=3"], "quantum.energy", "energy_shell only"),
        (["experiment=double_descent", "optim=adam"], "optim", "closed-form"),
        (["experiment=double_descent", "optim.lr=0.1"], "optim.lr", "closed-form"),
        (["experiment=paper", "model.depth=3"], "model.depth", "sizes its own jobs"),
        (["experiment=paper", "samples=9"], "samples", "sizes its own jobs"),
        (["experiment=page_curve", "quantum.cuts=5"], "quantum.cuts", "must be a list, e.g. [5]"),
        (["experiment=ntk_spectrum", "model.widths=16"], "model.widths", "must be a list"),
        (
            ["experiment=typicality", "quantum=energy_shell", "quantum.energy=1000"],
            "quantum.energy",
            "misses the spectrum",
        ),
        (["experiment=page_curve", "compile_cache=/proc/x"], "compile_cache", "cannot create"),
    ],
)
def test_what_cannot_apply_is_refused_in_the_preflight(tmp_path, job, key, text):
    with pytest.raises(ConfigError) as err:
        preflight(CONFIG_DIR, "config", [*job, f"store.root={tmp_path / 'store'}"], False)
    assert err.value.key == key and text in str(err.value), str(err.value)
    assert "\n" not in str(err.value)


def test_what_applies_still_passes(hydra_ctx):
    for job in (
        ["experiment=typicality", "quantum=energy_shell", "quantum.energy=1.5"],
        ["experiment=double_descent", "data=digits", "data.task=binary"],
        ["experiment=paper", "scale=tiny", "seed=3"],
        ["experiment=double_descent", "learner=ntk_regression", "optim.steps=10"],
        ["experiment=lazy_training", "optim.steps=10"],  # log_points clamped to 11, not refused
    ):
        config, _ = validate_config(compose_job("config", job), "config", job)
    assert config.optim.log_points == 11


def test_the_cli_runs_the_chosen_optimiser_and_records_it(tmp_path):
    """README: `tntk experiment=lazy_training optim=adam optim.steps=4000` ran gd at lr 1."""
    small = ["samples=1", "model.widths=[8]", "data.n_train=4", "data.n_test=8", "figures=false"]
    run = run_tntk("experiment=lazy_training", "optim=adam", "optim.steps=30", *small, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    (meta,) = tmp_path.glob("outputs/store/lazy_training/*/meta.json")
    optim = json.loads(meta.read_text())["config"]["optim"]
    assert (optim["name"], optim["lr"], optim["steps"]) == ("adam", 0.001, 30)
    (saved,) = tmp_path.glob("outputs/runs/*/*/.hydra/config.yaml")
    assert yaml.safe_load(saved.read_text())["optim"]["name"] == "adam"

    bad = run_tntk("experiment=double_descent", "data.task=binary", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: data.task=binary: ") and bad.stderr.count("\n") == 1


def _claim(base: str) -> str:
    return claim_dir(base)


def test_runs_started_in_the_same_second_get_their_own_dirs(tmp_path):
    base = str(tmp_path / "runs" / "10-00-00-page_curve")
    with ThreadPool(8) as pool:  # mkdir's atomicity is the OS's, threads or processes alike
        dirs = pool.map(_claim, [base] * 8)
    assert len(set(dirs)) == 8 and all(Path(d).is_dir() for d in dirs)
    assert base in dirs and f"{base}-8" in dirs
    conf = yaml.safe_load((CONF / "config.yaml").read_text())["hydra"]
    assert conf["run"]["dir"].startswith("${tntk_unique_dir:")
    assert conf["sweep"]["dir"].startswith("${tntk_unique_dir:")


def test_a_run_too_large_for_memory_is_refused_before_compute(tmp_path):
    run = run_tntk("experiment=page_curve", "samples=3000000000", cwd=tmp_path, timeout=120)
    assert run.returncode == 2, run.stderr[-2000:]
    assert "error: samples=3000000000: the results would need" in run.stderr
    assert "GiB of host memory" in run.stderr
    assert not list(tmp_path.glob("outputs/store/page_curve/*"))
