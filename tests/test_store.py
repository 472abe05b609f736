"""The store: atomic entries, reuse, recompute, corrupt files skipped, concurrent writers."""

from __future__ import annotations

import json
import multiprocessing as mp
import re

import numpy as np
import pandas as pd
import pytest

from typicality_ntk import store

CONFIG = {
    "name": "toy",
    "module": "experiments.toy",
    "seed": 3,
    "samples": 4,
    "chunk_size": 2,
    "quantum": {"n_qubits": 5, "alphas": [0.0, float("inf")]},
    "store": {"root": "x", "recompute": False},
}


def _table(value=1.0):
    return pd.DataFrame({"d_a": [2, 2, 4, 4], "sample": [0, 1, 0, 1], "purity": np.full(4, value)})


def _write(root, value=1.0, replace=False, config=CONFIG):
    arrays = {"spectrum/0": np.full((2, 2), value), "spectrum/1": np.full((2, 4), value)}
    meta = {"points": [{"d_a": 2}, {"d_a": 4}], "run_seconds": 0.1}
    return store.write_entry(root, "toy", config, _table(value), arrays, meta, replace=replace)


def test_roundtrip_with_config_columns_filters_and_arrays(tmp_path):
    entry = _write(tmp_path)
    assert entry == store.find_entry(tmp_path, "toy", store.config_hash(CONFIG))
    df = store.load(tmp_path)
    assert {"quantum.n_qubits", "seed", "experiment", "entry"} <= set(df.columns)
    assert "store.root" not in df.columns
    assert json.loads(df["quantum.alphas"].iloc[0]) == [0.0, "inf"]
    assert len(store.load(tmp_path, d_a=4)) == 2 and len(store.load(tmp_path, d_a=[2, 4])) == 4
    assert store.load(tmp_path, d_a=99).empty  # a known column, no matching value: no error
    assert len(store.load(tmp_path, **{"quantum.n_qubits": 5})) == 4
    recs = store.load_arrays(tmp_path, name="spectrum", d_a=4)
    assert len(recs) == 1 and recs[0].array.shape == (2, 4) and recs[0].point == {"d_a": 4}
    meta = store.read_meta(entry)
    assert meta["status"] == "complete" and meta["versions"]["jax"]


def test_hash_ignores_non_semantic_keys_only():
    same = {**CONFIG, "chunk_size": 99, "store": {"root": "elsewhere", "recompute": True}}
    assert store.config_hash(same) == store.config_hash(CONFIG)
    assert store.config_hash({**CONFIG, "seed": 4}) != store.config_hash(CONFIG)


def test_existing_entry_wins_unless_replace(tmp_path):
    _write(tmp_path, 1.0)
    _write(tmp_path, 2.0)  # a second writer of the same entry: the first complete one stays
    assert store.load(tmp_path)["purity"].eq(1.0).all()
    _write(tmp_path, 3.0, replace=True)
    assert store.load(tmp_path)["purity"].eq(3.0).all()
    assert len(store.find_entries(tmp_path)) == 1
    assert not list((tmp_path / "toy").glob(".tmp-*"))


def test_corrupt_and_partial_entries_are_reported_and_skipped(tmp_path):
    good = _write(tmp_path)
    bad = _write(tmp_path, config={**CONFIG, "seed": 9})
    (bad / "results.parquet").write_bytes(b"not parquet")
    partial = tmp_path / "toy" / "0123456789abcdef"
    partial.mkdir()
    (partial / "results.parquet").write_bytes(b"")
    (tmp_path / "toy" / ".tmp-abandoned").mkdir()  # a killed writer's leftovers are invisible
    with pytest.warns(store.StoreWarning) as record:
        df = store.load(tmp_path)
    assert df["entry"].unique().tolist() == [good.name]
    messages = " ".join(str(w.message) for w in record)
    assert str(bad) in messages and str(partial) in messages


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such run directory"):
        store.load(tmp_path / "nope")


def test_load_is_never_silently_empty(tmp_path):
    """A path that does not exist, a path without entries, an experiment that is not there and a
    filter key that is no column (a typo) each say so, naming the path or the key."""
    missing = tmp_path / "nope"
    for fn in (store.load, store.load_arrays):
        with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
            fn(missing)
    empty = tmp_path / "empty"
    (empty / "toy" / ".tmp-abandoned").mkdir(parents=True)  # leftovers are no entries
    with pytest.warns(store.StoreWarning) as record:
        assert store.load(empty).empty
        assert store.load_arrays(empty) == []
    assert [str(w.message) for w in record] == [f"no store entries under {empty}"] * 2

    root = tmp_path / "store"
    _write(root)
    other = {**CONFIG, "name": "other", "module": "experiments.other"}
    store.write_entry(root, "other", other, pd.DataFrame({"sample": [0], "x": [1.0]}), {}, {})
    for fn in (store.load, store.load_arrays):
        with pytest.raises(ValueError, match=r"experiment 'page_curve' under .*: other, toy$"):
            fn(root, experiment="page_curve")
        with pytest.raises(ValueError, match=r"'toyy'.*did you mean 'toy'\?"):
            fn(root, experiment="toyy")

    with pytest.raises(KeyError, match=r"'quantum\.n_qubit' is not a column .*'quantum\.n_qubits'"):
        store.load(root, experiment="toy", **{"quantum.n_qubit": 5})
    with pytest.raises(KeyError, match=r"'zzz' is not a column .*there are: .*purity"):
        store.load(root, zzz=1)
    with pytest.raises(KeyError, match=r"'da' is not a config key or point .*'d_a'"):
        store.load_arrays(root, da=2)
    # a column of one experiment's tables only: the others are left out, as before
    assert store.load(root, d_a=4)["experiment"].unique().tolist() == ["toy"]
    assert len(store.load(root, x=1.0)) == 1


def _racer(root, value):
    _write(root, value)


def test_concurrent_writers_of_one_entry_leave_one_complete_winner(tmp_path):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_racer, args=(tmp_path, float(v))) for v in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    (entry,) = store.find_entries(tmp_path)
    df = store.load(entry)
    winner = df["purity"].iloc[0]
    assert df["purity"].eq(winner).all()  # never a mix of two writers
    (rec,) = store.load_arrays(entry, d_a=2)
    assert np.all(rec.array == winner)
    assert not list((tmp_path / "toy").glob(".tmp-*"))
