"""Multiruns through a real distributed launcher (submitit, local executor) land in the store."""

from __future__ import annotations

from conftest import run_tntk

from typicality_ntk import store


def test_submitit_local_two_job_multirun_writes_both_entries(tmp_path):
    root = tmp_path / "store"
    proc = run_tntk(
        "-m",
        "hydra/launcher=submitit_local",
        "experiment=page_curve",
        "quantum.n_qubits=4,5",
        "samples=2",
        f"store.root={root}",
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    df = store.load(root, experiment="page_curve")
    assert sorted(df["n_qubits"].unique()) == [4, 5]
    assert len(store.find_entries(root)) == 2
    sweep = next((tmp_path / "outputs" / "multirun").glob("*/*"))
    assert len(store.find_entries(sweep)) == 2  # each job's dir links its entry
