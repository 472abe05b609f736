"""The command line as a user runs it: one-line errors, runs that land in the store, figures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO, run_tntk

from typicality_ntk import store
from typicality_ntk.cli import main

EXPERIMENTS = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))
BAD_INPUTS = [
    (["quantum.n_qubits=0"], "quantum.n_qubits=0: must be an integer >= 2"),
    (["experiment=foo"], "experiment=foo: unknown option; known: " + ", ".join(EXPERIMENTS)),
    (["quantum=nope"], "quantum=nope: unknown option; known: energy_shell"),
    (["foo=1"], "foo=1: unknown key"),
    (["seed=abc"], "seed=abc: must be integer"),
    (["seed=-1"], "seed=-1: must be an integer >= 0"),
    (["precision=float16"], "precision=float16: must be one of float32, float64"),
    (["chunk_size=0"], "chunk_size=0: must be an integer >= 1 or auto"),
    (["chunk_size=big"], "chunk_size=big: must be an integer >= 1 or auto"),
    (["samples=0"], "samples=0: must be an integer >= 1"),
    (["quantum.sampler=bogus"], "quantum.sampler=bogus: must be one of haar"),
    (["quantum.cuts=[0,3]"], "quantum.cuts=[0,3]: must be a non-empty list of integers in [1, 9]"),
    (["quantum.alphas=[-1]"], "quantum.alphas=[-1.0]: must be a list of Rényi orders >= 0"),
    (["experiment=mp_spectrum", "quantum.mp_ratios=[0.3]"], "quantum.mp_ratios=[0.3]: dA/c"),
    (["experiment=mp_spectrum", "quantum=energy_shell"], "quantum.sampler=energy_shell:"),
    (["experiment=typicality", "quantum.observable=z1"], "quantum.observable=z1: z1 and x1 need"),
    (["quantum.observable=z1"], "quantum.observable=z1: unknown key"),  # not a page_curve key
    (["quantum.window=0"], "quantum.window=0.0: must be > 0"),
    (["seed=[1"], "seed=[1: no viable alternative"),
    (["experiment=ntk_spectrum", "model.widths=[0,4]"], "model.widths=[0,4]: must be"),
    (["experiment=ntk_spectrum", "model.depth=0"], "model.depth=0: must be an integer >= 1"),
    (["experiment=ntk_spectrum", "model.activation=gelu"], "model.activation=gelu: must be one"),
    (["experiment=ntk_spectrum", "model.sigma_w=0"], "model.sigma_w=0.0: must be > 0"),
    (["experiment=ntk_spectrum", "data=digits", "data.n_train=1797"], "data.n_train=1797: N"),
    (["experiment=ntk_spectrum", "data.label_noise=-1"], "data.label_noise=-1.0: must be >= 0"),
    (["experiment=ntk_spectrum", "optim.lr=-1"], "optim.lr=-1.0: must be > 0"),
    (["experiment=ntk_spectrum", "optim.name=bfgs"], "optim.name=bfgs: must be one of"),
    (["experiment=ntk_spectrum", "ntk.implementation=x"], "ntk.implementation=x: must be one of"),
    (["experiment=double_descent", "learner=svm"], "learner=svm: must be one of network, random"),
    (["experiment=double_descent", "ridge=-1"], "ridge=-1.0: must be a number >= 0"),
    (["experiment=double_descent", "sweep.mode=fast"], "sweep.mode=fast: must be one of auto"),
    (["experiment=paper", "scale=huge"], "scale=huge: must be one of small, large, tiny"),
    (["-m", "seed=0,1", "samples=5,0"], "samples=0: must be an integer >= 1"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2_before_any_compute(
    argv, message, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"error: {message}"), err
    assert not (tmp_path / "outputs").exists()  # nothing computed, nothing written


def test_run_lands_in_store_reuses_and_replots(tmp_path):
    args = ("experiment=page_curve", "quantum.n_qubits=4", "samples=16", "hydra.run.dir=run1")
    first = run_tntk(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    link = json.loads((tmp_path / "run1" / store.STORE_LINK).read_text())
    assert link["status"] == "computed"
    figure = tmp_path / "run1" / "figures" / "page_curve.png"
    assert figure.stat().st_size > 0 and figure.with_suffix(".pdf").stat().st_size > 0
    df = store.load(tmp_path / "run1")
    assert len(df) == 3 * 16 and df["quantum.n_qubits"].eq(4).all()
    assert list(df.columns[:8]) == [
        "n_qubits",
        "d_a",
        "d_b",
        "sample",
        "purity",
        "s_vn",
        "s_renyi_2",
        "trace_distance",
    ]

    second = run_tntk(*args[:-1], "hydra.run.dir=run2", "chunk_size=5", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert json.loads((tmp_path / "run2" / store.STORE_LINK).read_text())["status"] == "reused"
    assert len(store.find_entries(tmp_path / "outputs" / "store")) == 1

    figure.unlink()
    replot = run_tntk(str(tmp_path / "run1"), cwd=tmp_path, tool="typicality_ntk.plot_cli")
    assert replot.returncode == 0, replot.stderr
    assert figure.stat().st_size > 0


def _entries(root):
    return (
        sorted(p for p in (root / "page_curve").glob("*") if not p.name.startswith("."))
        if (root / "page_curve").exists()
        else []
    )


def test_killed_multirun_restarts_without_losing_or_recomputing(tmp_path):
    """SIGKILL a 3-job multirun after its first job landed; the restart reuses, then finishes."""
    root = tmp_path / "outputs" / "store"
    args = [
        "-m",
        "experiment=page_curve",
        "quantum.n_qubits=8",
        "samples=8000",
        "seed=0,1,2",
        "figures=false",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "typicality_ntk", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 240
    while len(_entries(root)) < 1 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = _entries(root)
    assert 1 <= len(done) < 3, "the kill must land mid-sweep"
    stamps = {p.name: (p / "meta.json").read_text() for p in done}
    for p in done:  # every visible entry is complete
        assert {f.name for f in p.iterdir()} >= {"meta.json", "results.parquet"}

    again = run_tntk(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    final = _entries(root)
    assert len(final) == 3
    for name, meta in stamps.items():  # finished jobs were reused, not recomputed
        assert (root / "page_curve" / name / "meta.json").read_text() == meta
    assert (again.stdout + again.stderr).count("reusing stored entry") == len(done)
    assert len(store.load(root, experiment="page_curve")) == 3 * 7 * 8000


_FAILING_MODULE = """
from experiments.page_curve import EXPERIMENT as PAGE
from dataclasses import replace

def points(cfg, key):
    if cfg.quantum.n_qubits == 5:
        raise RuntimeError("boom at 5 qubits")
    return PAGE.points(cfg, key)

EXPERIMENT = replace(PAGE, points=points)
"""


def test_a_failed_job_does_not_kill_the_sweep_and_is_summarised(tmp_path):
    (tmp_path / "failing_exp.py").write_text(_FAILING_MODULE)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "typicality_ntk", "-m", "experiment=page_curve",
         "module=failing_exp", "quantum.n_qubits=4,5,6", "samples=2",
         f"store.root={tmp_path / 'store'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "3 jobs: 2 computed, 1 failed" in proc.stderr
    assert "RuntimeError: boom at 5 qubits" in proc.stderr and ".log)" in proc.stderr
    assert sorted(store.load(tmp_path / "store")["n_qubits"].unique()) == [4, 6]
    statuses = [
        json.loads(p.read_text())["status"]
        for p in sorted((tmp_path / "outputs" / "multirun").glob("*/*/*/job_status.json"))
    ]
    assert statuses == ["computed", "failed", "computed"]
