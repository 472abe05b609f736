"""The main job end to end at tiny sizes: every job's entry and figure, the study's own figure;
every figure passes :func:`test_figures.figure_problems` (checked as the run saves it)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import run_tntk

from experiments.paper import NAMES
from typicality_ntk import store


def _nonempty(path):
    return path.is_file() and path.stat().st_size > 0


def test_paper_at_tiny_scale_writes_every_entry_and_figure_then_reuses_them(tmp_path, monkeypatch):
    root = tmp_path / "store"
    args = ["experiment=paper", "scale=tiny", f"store.root={root}", "hydra.run.dir=run"]
    checks = tmp_path / "figure_checks.jsonl"
    monkeypatch.setenv("TNTK_FIGURE_CHECK", str(checks))
    monkeypatch.setenv("TNTK_FIGURE_FORMATS", "png")  # PDFs: test_cli; here one draw less each
    tests = str(Path(__file__).parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")]))
    first = run_tntk(*args, cwd=tmp_path, timeout=900, tool="figure_check_main")
    assert first.returncode == 0, first.stderr[-3000:]
    run = tmp_path / "run"
    checked = [json.loads(line) for line in checks.read_text().splitlines()]
    pngs = sorted(p.stem for p in run.rglob("*.png"))
    assert sorted(c["stem"] for c in checked) == pngs  # every figure went through the check
    problems = [f"{c['stem']}: {p}" for c in checked for p in c["problems"]]
    assert problems == [], "\n".join(problems)
    record = json.loads((run / "study.json").read_text())
    assert sorted(record["entries"]) == sorted(NAMES)
    for label in NAMES:
        entry = store.find_entries(run / label)
        assert len(entry) == 1, label
        assert _nonempty(entry[0] / "results.parquet") and _nonempty(entry[0] / "meta.json")
        pngs = list((run / label / "figures").glob("*.png"))
        assert pngs and all(_nonempty(p) for p in pngs), label
    assert not list(run.rglob("*.pdf"))  # TNTK_FIGURE_FORMATS=png is what was drawn
    for name in ("correspondence.png", "correspondence.md"):
        assert _nonempty(run / "figures" / name), name
    assert len(store.load(run)) > 0

    # reuse (figures off: the replot below draws them all again)
    again = run_tntk(*args[:-1], "hydra.run.dir=run2", "figures=false", cwd=tmp_path, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    status = json.loads((tmp_path / "run2" / "study.json").read_text())["status"]
    assert set(status.values()) == {"reused"}

    (run / "figures" / "correspondence.png").unlink()
    replot = run_tntk(str(run), cwd=tmp_path, tool="typicality_ntk.plot_cli")
    assert replot.returncode == 0, replot.stderr[-3000:]
    assert _nonempty(run / "figures" / "correspondence.png")
