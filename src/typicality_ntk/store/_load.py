"""Reading the store back: one run dir, a multirun dir, one entry, or a whole store root.

Unreadable or damaged entries (a corrupt Parquet file, a missing meta.json, a file whose checksum
or row count is not the one ``meta.json`` recorded) are reported with their path as one warning
each and skipped: a load never crashes on one bad file.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from typicality_ntk.store._entry import STORE_LINK
from typicality_ntk.store._verify import check_entry

__all__ = ["ArrayRecord", "StoreWarning", "find_entries", "load", "load_arrays", "read_meta"]


class StoreWarning(UserWarning):
    """An entry could not be read, or did not verify, and was skipped."""


@dataclass
class ArrayRecord:
    """One named array of one entry, with the coords of the point it belongs to."""

    experiment: str
    entry: str
    name: str
    point: dict[str, Any]
    array: np.ndarray
    config: dict[str, Any] = field(default_factory=dict, repr=False)


def _linked_entry(run_dir: Path) -> Path | None:
    try:
        return Path(json.loads((run_dir / STORE_LINK).read_text())["entry"])
    except (OSError, ValueError, KeyError) as err:
        warnings.warn(
            f"unreadable store link {run_dir / STORE_LINK}: {err}", StoreWarning, stacklevel=3
        )
        return None


def find_entries(path: str | os.PathLike) -> list[Path]:
    """Entry directories under ``path``: an entry, a run dir, a multirun dir or a store root."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such run directory or store")
    if (path / "meta.json").exists() or (path / "results.parquet").exists():
        return [path]
    if (path / STORE_LINK).exists():
        entry = _linked_entry(path)
        return [entry] if entry is not None else []
    linked = sorted(p.parent for p in path.glob(f"*/{STORE_LINK}"))
    if linked:  # a multirun dir: one job per numbered subdirectory
        return [e for e in map(_linked_entry, linked) if e is not None]
    found = {p.parent for p in path.glob("*/*/meta.json")}
    found |= {p.parent for p in path.glob("*/*/results.parquet")}
    return sorted(
        p for p in found if not p.name.startswith(".") and not p.parent.name.startswith(".")
    )


def read_meta(entry: str | os.PathLike) -> dict[str, Any]:
    """The entry's meta.json as a dict."""
    return json.loads((Path(entry) / "meta.json").read_text())


def _damaged(entry: Path, experiment: str | None, stacklevel: int) -> bool:
    """True (after one warning) if ``entry`` does not verify; entries of other experiments are
    not checked."""
    try:
        if experiment is not None and read_meta(entry).get("experiment") != experiment:
            return False
    except (OSError, ValueError, AttributeError):
        pass  # check_entry names what is wrong with meta.json
    problem = check_entry(entry)
    if problem is not None:
        warnings.warn(
            f"skipping damaged store entry {entry} ({problem})", StoreWarning, stacklevel=stacklevel
        )
    return problem is not None


def _iter_tables(path, experiment) -> Iterator[tuple[Path, dict, pd.DataFrame]]:
    for entry in find_entries(path):
        if _damaged(entry, experiment, stacklevel=4):
            continue
        try:
            meta = read_meta(entry)
            if experiment is not None and meta.get("experiment") != experiment:
                continue
            table = pd.read_parquet(entry / "results.parquet")
        except Exception as err:  # noqa: BLE001 - any unreadable file is reported and skipped
            warnings.warn(
                f"skipping unreadable store entry {entry}: {type(err).__name__}: {err}",
                StoreWarning,
                stacklevel=3,
            )
            continue
        yield entry, meta, table


def _apply_filters(df: pd.DataFrame, filters: dict[str, Any]) -> pd.DataFrame:
    for key, value in filters.items():
        if key not in df.columns:
            return df.iloc[0:0]
        if isinstance(value, (list, tuple, set)):
            df = df[df[key].isin(list(value))]
        else:
            df = df[df[key] == value]
    return df


def load(
    path_or_root: str | os.PathLike = "outputs/store", experiment: str | None = None, **filters: Any
) -> pd.DataFrame:
    """Load result tables as one DataFrame.

    Args:
        path_or_root: a Hydra run dir, a multirun dir, one entry dir or a store root.
        experiment: keep only this experiment's entries.
        **filters: column == value (or value in a list); dotted config names via
            ``**{"quantum.n_qubits": 12}``.

    Returns:
        The concatenated tables with two more columns, ``experiment`` and ``entry`` (the hash).
    """
    frames = []
    for entry, meta, table in _iter_tables(path_or_root, experiment):
        table = table.assign(experiment=meta.get("experiment", entry.parent.name), entry=entry.name)
        frames.append(_apply_filters(table, filters))
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def load_arrays(
    path_or_root: str | os.PathLike = "outputs/store",
    experiment: str | None = None,
    name: str | None = None,
    **filters: Any,
) -> list[ArrayRecord]:
    """Load the named arrays (e.g. reduced spectra) of the entries under ``path_or_root``.

    Args:
        name: keep only arrays of this metric name.
        **filters: matched against the array's point coords and the entry's flattened config.
    """
    from typicality_ntk.store._entry import flatten_config

    out = []
    for entry in find_entries(path_or_root):
        if _damaged(entry, experiment, stacklevel=3):
            continue
        try:
            meta = read_meta(entry)
            if experiment is not None and meta.get("experiment") != experiment:
                continue
            if not (entry / "arrays.npz").exists():
                continue
            with np.load(entry / "arrays.npz", allow_pickle=False) as npz:
                stored = {k: npz[k] for k in npz.files}
        except Exception as err:  # noqa: BLE001 - reported and skipped
            warnings.warn(
                f"skipping unreadable store entry {entry}: {type(err).__name__}: {err}",
                StoreWarning,
                stacklevel=2,
            )
            continue
        config = flatten_config(meta.get("config", {}))
        points = meta.get("points", [])
        for key, arr in stored.items():
            metric, _, idx = key.rpartition("/")
            if name is not None and metric != name:
                continue
            point = points[int(idx)] if idx.isdigit() and int(idx) < len(points) else {}
            values = {**config, **point}
            if all(values.get(k) == v for k, v in filters.items()):
                out.append(
                    ArrayRecord(meta.get("experiment", ""), entry.name, metric, point, arr, config)
                )
    return out
