"""Checking a store entry before it is trusted: files present, counts and checksums as recorded.

``meta.json`` records, at write time, the size and sha256 of every other file of the entry
(``files``), the row count of ``results.parquet`` (``n_rows``) and the names in ``arrays.npz``
(``array_names``). An entry verifies when all of these still hold. Entries written before checksums
were recorded are checked for what they have: files present and readable, row count and array names
(and the CRC32 of every array, which the zip format carries).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

__all__ = ["check_entry", "describe_files"]

_CHUNK = 1 << 20


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def describe_files(entry: str | os.PathLike, names: list[str]) -> dict[str, dict[str, object]]:
    """``{name: {"bytes": size, "sha256": hex digest}}`` of the named files of ``entry``."""
    entry = Path(entry)
    return {n: {"bytes": (entry / n).stat().st_size, "sha256": _sha256(entry / n)} for n in names}


def _why(err: Exception) -> str:
    text = str(err).splitlines()[0] if str(err) else ""
    return f"unreadable ({type(err).__name__}{': ' + text if text else ''})"


def _check_file(entry: Path, name: str, record: object) -> str | None:
    path = entry / name
    if not path.is_file():
        return f"{name}: missing"
    if not isinstance(record, dict):
        return None  # written before checksums: checked by reading it
    try:
        size = path.stat().st_size
        if size != record.get("bytes", size):
            return f"{name}: size mismatch ({size} bytes, meta.json says {record['bytes']})"
        if "sha256" in record and _sha256(path) != record["sha256"]:
            return f"{name}: checksum mismatch"
    except OSError as err:
        return f"{name}: {_why(err)}"
    return None


def check_entry(entry: str | os.PathLike) -> str | None:
    """What is wrong with the entry at ``entry``, as ``"<file>: <problem>"``; None if it verifies.

    Cost: one sha256 pass over the entry's files plus the Parquet footer and the zip directory.
    """
    import pyarrow.parquet as pq

    entry = Path(entry)
    if not entry.is_dir():
        return "missing"
    try:
        meta = json.loads((entry / "meta.json").read_text())
    except FileNotFoundError:
        return "meta.json: missing"
    except (OSError, ValueError) as err:
        return f"meta.json: {_why(err)}"
    if not isinstance(meta, dict) or meta.get("status") != "complete":
        status = meta.get("status") if isinstance(meta, dict) else None
        return f"meta.json: status {status!r}, not 'complete'"
    files = meta.get("files") if isinstance(meta.get("files"), dict) else {}
    names = list(dict.fromkeys(["results.parquet", *files]))
    array_names = meta.get("array_names")
    if array_names and "arrays.npz" not in names:
        names.append("arrays.npz")
    for name in names:
        problem = _check_file(entry, name, files.get(name))
        if problem:
            return problem
    try:
        n_rows = pq.ParquetFile(entry / "results.parquet").metadata.num_rows
    except Exception as err:  # noqa: BLE001 - any failure to read the footer is damage
        return f"results.parquet: {_why(err)}"
    if "n_rows" in meta and n_rows != meta["n_rows"]:
        return f"results.parquet: {n_rows} rows, meta.json says {meta['n_rows']}"
    if array_names is not None and (array_names or (entry / "arrays.npz").exists()):
        try:
            with zipfile.ZipFile(entry / "arrays.npz") as npz:
                stored = sorted(n.removesuffix(".npy") for n in npz.namelist())
                bad = None if "arrays.npz" in files else npz.testzip()
        except Exception as err:  # noqa: BLE001 - a truncated or foreign file is damage
            return f"arrays.npz: {_why(err)}"
        if bad is not None:
            return f"arrays.npz: {bad} fails its CRC check"
        missing = sorted(set(array_names) - set(stored))
        extra = sorted(set(stored) - set(array_names))
        if missing or extra:
            return f"arrays.npz: arrays not as in meta.json (missing {missing}, extra {extra})"
    return None
