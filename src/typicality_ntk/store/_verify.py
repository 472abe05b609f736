"""Checking a store entry before it is trusted: files present, counts and checksums as recorded.

``meta.json`` records, at write time, the size and sha256 of every other file of the entry
(``files``), the row count of ``results.parquet`` (``n_rows``) and the names in ``arrays.npz``
(``array_names``). An entry verifies when all of these still hold. Entries written before checksums
were recorded are checked for what they have: files present and readable, row count and array names
(and the CRC32 of every array, which the zip format carries).

``meta.json`` itself is checked against the schema :func:`~typicality_ntk.store.write_entry`
writes (:func:`meta_problem`): every key it always writes, with its type (``config`` a record
naming its ``name`` and ``module``, ``files`` one ``{"bytes", "sha256"}`` record per data file,
``n_rows`` an int, ...). A ``meta.json`` that parses but breaks the schema is damage like a bad
checksum: the entry is repaired, or skipped by a load.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import zipfile
from pathlib import Path
from typing import Any

__all__ = ["check_entry", "describe_files", "meta_problem"]

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


_HASH = re.compile(r"[0-9a-f]{16}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _kind(value: object) -> str:
    names = {dict: "a record", list: "a list", str: "a string", bool: "a bool", type(None): "null"}
    return names.get(type(value), f"a {type(value).__name__}")


def _is_int(value: object, minimum: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_seconds(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def _is_str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# key -> (test, what it must be); every key write_entry always writes.
_REQUIRED: dict[str, tuple[Any, str]] = {
    "experiment": (lambda v: isinstance(v, str) and bool(v), "a non-empty string"),
    "hash": (lambda v: isinstance(v, str) and bool(_HASH.fullmatch(v)), "16 hex digits"),
    "created": (lambda v: isinstance(v, str) and bool(v), "a timestamp string"),
    "config": (lambda v: isinstance(v, dict), "a record (the resolved config)"),
    "versions": (
        lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
        "a record of version strings",
    ),
    "git_commit": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "host": (lambda v: isinstance(v, str), "a string"),
    "n_rows": (_is_int, "an int >= 0"),
    "array_names": (
        lambda v: _is_str_list(v) and len(set(v)) == len(v),
        "a list of distinct array names",
    ),
}
# Keys written only by some writers (older entries lack ``files``; ``points``
# and the timings come from the ``meta`` a caller passes): checked when present.
_OPTIONAL: dict[str, tuple[Any, str]] = {
    "files": (lambda v: isinstance(v, dict), "a record of {bytes, sha256} per file"),
    "points": (
        lambda v: isinstance(v, list) and all(isinstance(p, dict) for p in v),
        "a list of point records",
    ),
    "compile_seconds": (_is_seconds, "seconds >= 0"),
    "run_seconds": (_is_seconds, "seconds >= 0"),
    "setup_seconds": (_is_seconds, "seconds >= 0"),
    "n_compiles": (_is_int, "an int >= 0"),
    "chunk_size": (_is_int, "an int >= 0"),
    "device": (lambda v: isinstance(v, str), "a string"),
}
#: Keys of the resolved config every entry records (``draw_entry`` and studies need them).
CONFIG_KEYS = ("name", "module")


def _files_problem(files: dict, array_names: list[str]) -> str | None:
    expected = {"results.parquet", *(["arrays.npz"] if array_names else [])}
    if set(files) != expected:
        return f"'files' names {sorted(files)}, not {sorted(expected)}"
    for name, record in files.items():
        if not isinstance(record, dict) or set(record) != {"bytes", "sha256"}:
            keys = sorted(record) if isinstance(record, dict) else _kind(record)
            return f"'files' record of {name} is {keys}, not ['bytes', 'sha256']"
        if not _is_int(record["bytes"]):
            return f"'files' record of {name}: bytes {record['bytes']!r} is not an int >= 0"
        sha = record["sha256"]
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            return f"'files' record of {name}: sha256 {sha!r} is not 64 hex digits"
    return None


def meta_problem(meta: object) -> str | None:
    """What in a parsed ``meta.json`` breaks the schema :func:`write_entry` writes, as
    ``"meta.json: <problem>"``; None if it is well formed (the files are checked elsewhere)."""
    if not isinstance(meta, dict):
        return f"meta.json: {_kind(meta)}, not a record"
    if meta.get("status") != "complete":
        return f"meta.json: status {meta.get('status')!r}, not 'complete'"
    for key, (ok, what) in _REQUIRED.items():
        if key not in meta:
            return f"meta.json: no {key!r}"
        if not ok(meta[key]):
            return f"meta.json: {key!r} is {_kind(meta[key])}, not {what}"
    for key, (ok, what) in _OPTIONAL.items():
        if key in meta and not ok(meta[key]):
            return f"meta.json: {key!r} is {_kind(meta[key])}, not {what}"
    config = meta["config"]
    for key in CONFIG_KEYS:
        if not isinstance(config.get(key), str) or not config[key]:
            return f"meta.json: config has no {key!r} string"
    if "files" in meta:
        problem = _files_problem(meta["files"], meta["array_names"])
        if problem:
            return f"meta.json: {problem}"
    return None


def _check_file(entry: Path, name: str, record: dict | None) -> str | None:
    path = entry / name
    if not path.is_file():
        return f"{name}: missing"
    if record is None:
        return None  # written before checksums: checked by reading it
    try:
        size = path.stat().st_size
        if size != record["bytes"]:
            return f"{name}: size mismatch ({size} bytes, meta.json says {record['bytes']})"
        if _sha256(path) != record["sha256"]:
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
    problem = meta_problem(meta)
    if problem:
        return problem
    files = meta.get("files", {})
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
    if n_rows != meta["n_rows"]:
        return f"results.parquet: {n_rows} rows, meta.json says {meta['n_rows']}"
    if array_names or (entry / "arrays.npz").exists():
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
