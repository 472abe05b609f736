"""Every experiments/*.py declares its schema, has its YAML, and checks each key it owns."""

from __future__ import annotations

import dataclasses
import importlib
import math
import typing

import pytest
from conftest import REPO
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from typicality_ntk._preflight import preflight
from typicality_ntk.cli import CONFIG_DIR
from typicality_ntk.config import Config, own_keys, register_configs
from typicality_ntk.errors import ConfigError
from typicality_ntk.sweep import Experiment, Study

NAMES = sorted(p.stem for p in (REPO / "experiments").glob("*.py") if not p.stem.startswith("_"))

#: Values of the right type that are out of range for any sensible key of that type; a key is
#: checked when at least one of them is rejected with a one-line error naming it.
BAD = {
    int: ["-1", "0", "1000000000"],
    float: ["-1", "nan", "inf"],
    str: ["no_such_choice"],
    list: ["[]", "[-1]", "[0]", "[nan]"],
}


def _leaf_type(schema: type, dotted: str) -> type:
    node = schema
    for part in dotted.split("."):
        field = {f.name: f for f in dataclasses.fields(node)}[part]
        tp = typing.get_type_hints(node)[part]
        if dataclasses.is_dataclass(tp):
            node = tp
            continue
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        origin = typing.get_origin(tp)
        if origin is list or (args and typing.get_origin(args[0]) is list):
            return list
        return args[0] if origin is not None and args else tp
    raise AssertionError(f"{dotted} is a node, not a key ({field})")


def test_every_experiment_module_is_found():
    assert {"page_curve", "typicality", "double_descent", "paper"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_each_experiment_declares_a_schema_and_a_yaml(name):
    mod = importlib.import_module(f"experiments.{name}")
    exp = getattr(mod, "EXPERIMENT", None) or getattr(mod, "STUDY", None)
    assert isinstance(exp, (Experiment, Study)) and exp.name == name
    assert exp.schema is not None and issubclass(exp.schema, Config), name
    assert (REPO / "conf" / "experiment" / f"{name}.yaml").is_file()


@pytest.mark.parametrize("name", NAMES)
def test_each_own_key_has_a_check(name):
    mod = importlib.import_module(f"experiments.{name}")
    schema = (getattr(mod, "EXPERIMENT", None) or mod.STUDY).schema
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        composed = compose("config", overrides=[f"experiment={name}"])
    GlobalHydra.instance().clear()
    for key in own_keys(schema):
        present = OmegaConf.select(composed, key, default="__absent__") != "__absent__"
        rejected = []
        for value in BAD[_leaf_type(schema, key)]:
            override = f"{key}={value}" if present else f"+{key}={value}"
            try:
                preflight(CONFIG_DIR, "config", [f"experiment={name}", override], False)
            except ConfigError as err:
                assert "\n" not in str(err)
                if err.key == key:
                    rejected.append(value)
        assert rejected, f"{name}: no out-of-range value of {key} is rejected"


def test_own_keys_lists_nested_and_root_keys():
    from experiments.double_descent import DoubleDescentConfig
    from experiments.page_curve import PageCurveConfig

    assert own_keys(PageCurveConfig) == ["quantum.cuts", "quantum.alphas"]
    assert own_keys(DoubleDescentConfig) == ["learner", "ridge", "sweep.mode"]
    assert own_keys(Config) == [] and not math.isnan(len(NAMES))


def test_the_library_imports_no_experiment():
    src = REPO / "src" / "typicality_ntk"
    offenders = [
        str(p.relative_to(REPO))
        for p in src.rglob("*.py")
        if "import experiments" in p.read_text() or "from experiments" in p.read_text()
    ]
    assert offenders == []


def test_an_entry_written_before_the_move_still_loads_and_redraws(tmp_path):
    """Entries written when experiments lived in ``typicality_ntk.experiments`` record that
    module in meta.json: ``store.load`` reads them and ``tntk-plot`` redraws them."""
    import json

    from conftest import run_tntk

    from typicality_ntk import store

    run = run_tntk("experiment=page_curve", "quantum.n_qubits=4", "samples=4", "figures=false",
                   f"store.root={tmp_path / 'store'}", cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr
    (entry,) = store.find_entries(tmp_path / "store")
    meta_path = entry / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["config"]["module"] = "typicality_ntk.experiments.page_curve"
    meta_path.write_text(json.dumps(meta))
    assert len(store.load(tmp_path / "store", experiment="page_curve")) == 3 * 4
    plot = run_tntk(str(entry), cwd=tmp_path, tool="typicality_ntk.plot_cli")
    assert plot.returncode == 0, plot.stderr
    assert any(line.endswith("page_curve.png") for line in plot.stdout.splitlines())
