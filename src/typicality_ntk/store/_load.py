"""Reading the store back: one run dir, a multirun dir, one entry, or a whole store root.

Unreadable or damaged entries (a corrupt Parquet file, a missing or malformed meta.json, a file
whose checksum or row count is not the one ``meta.json`` recorded) are reported with their path as
one warning each and skipped: a load never crashes on one bad file.

Nothing is silently empty: a path that does not exist is a ``FileNotFoundError``, a path without
entries one warning (and an empty result), an ``experiment`` none of the entries there belongs to a
``ValueError`` listing the experiments there, and a filter key that is no column (no config key or
point coordinate, for arrays) a ``KeyError`` naming the closest ones.
"""

from __future__ import annotations

import difflib
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


def _experiment_of(entry: Path) -> str:
    try:
        name = read_meta(entry).get("experiment")
    except (OSError, ValueError, AttributeError):
        name = None
    return name if isinstance(name, str) and name else entry.parent.name


def _entries(path: str | os.PathLike, experiment: str | None, stacklevel: int) -> list[Path]:
    """:func:`find_entries`, with one warning if there are none and a ``ValueError`` if none of
    them belongs to ``experiment``."""
    entries = find_entries(path)
    if not entries:
        warnings.warn(f"no store entries under {path}", StoreWarning, stacklevel=stacklevel)
    elif experiment is not None:
        present = sorted({_experiment_of(e) for e in entries})
        if experiment not in present:
            close = difflib.get_close_matches(experiment, present, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"no entries of experiment {experiment!r} under {path}{hint}; "
                f"experiments there: {', '.join(present)}"
            )
    return entries


def _check_filter_keys(filters: dict[str, Any], known: set[str], path, noun: str) -> None:
    """A ``KeyError`` naming the first filter key not in ``known``, and the closest known ones."""
    for key in filters:
        if key in known:
            continue
        close = difflib.get_close_matches(key, sorted(known), n=3, cutoff=0.6)
        hint = (
            f"did you mean {' or '.join(map(repr, close))}?"
            if close
            else f"there are: {', '.join(sorted(known))}"
        )
        raise KeyError(f"filter key {key!r} is not a {noun} of the entries under {path}; {hint}")


def _iter_tables(entries: list[Path], experiment) -> Iterator[tuple[Path, dict, pd.DataFrame]]:
    for entry in entries:
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
        The concatenated tables with two more columns, ``experiment`` and ``entry`` (the hash);
        empty (after one ``StoreWarning``) when ``path_or_root`` holds no entries.

    Raises:
        FileNotFoundError: ``path_or_root`` does not exist.
        ValueError: no entry there belongs to ``experiment`` (the message lists those that do).
        KeyError: a filter key is a column of none of the tables (the message names the closest
            columns, e.g. ``quantum.n_qubits`` for ``quantum.n_qubit``).
    """
    tables = []
    for entry, meta, table in _iter_tables(_entries(path_or_root, experiment, 3), experiment):
        tables.append(
            table.assign(experiment=meta.get("experiment", entry.parent.name), entry=entry.name)
        )
    if not tables:
        return pd.DataFrame()
    _check_filter_keys(filters, {c for t in tables for c in t.columns}, path_or_root, "column")
    return pd.concat([_apply_filters(t, filters) for t in tables], ignore_index=True)


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

    Raises:
        FileNotFoundError, ValueError: as :func:`load`.
        KeyError: a filter key is neither a config key nor a point coordinate of any entry.
    """
    from typicality_ntk.store._entry import flatten_config

    out = []
    known: set[str] = set()
    for entry in _entries(path_or_root, experiment, 3):
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
        known |= set(config).union(*points)
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
    if known:
        _check_filter_keys(filters, known, path_or_root, "config key or point coordinate")
    return out
