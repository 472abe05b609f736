"""Writing one store entry atomically, and naming it by its experiment and config hash.

Layout: ``<root>/<experiment>/<hash>/`` holding ``results.parquet`` (tidy table: one row per point
and sample, config values as dotted-name columns), ``arrays.npz`` (named arrays, no pickle) and
``meta.json`` (resolved config, versions, git commit, device, timings, status).

Atomicity: an entry is written into a hidden sibling ``.tmp-<hash>-<uuid>/`` and renamed into
place. ``rename(2)`` of a directory is atomic and fails if the target exists and is non-empty, so a
run killed at any moment leaves a complete entry or none, and two writers of the same entry leave
one complete winner, never a mix.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import platform
import shutil
import subprocess
import time
import uuid
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ENTRY_FILES",
    "NON_SEMANTIC_KEYS",
    "STORE_LINK",
    "config_hash",
    "entry_dir",
    "find_entry",
    "flatten_config",
    "write_entry",
    "link_run_dir",
]

#: Bumped when the meaning of stored results changes, so old entries are not reused.
STORE_SCHEMA = 1
ENTRY_FILES = ("results.parquet", "arrays.npz", "meta.json")
#: Keys that do not change results (chunk_size never changes a sample), left out of the hash.
NON_SEMANTIC_KEYS = ("store", "chunk_size", "figures", "compile_cache", "scale", "sweep")
#: The file in a Hydra run directory that points to the run's store entry.
STORE_LINK = "store_entry.json"
_STALE_TMP_SECONDS = 3600


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return v


def config_hash(config: Mapping[str, Any]) -> str:
    """16 hex digits of sha256 over the resolved config minus :data:`NON_SEMANTIC_KEYS`."""
    semantic = {k: v for k, v in config.items() if k not in NON_SEMANTIC_KEYS}
    blob = json.dumps({"schema": STORE_SCHEMA, "config": _jsonable(semantic)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def flatten_config(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted-name scalars: {'quantum': {'n_qubits': 12}} -> {'quantum.n_qubits': 12}.

    Lists become JSON strings so every column is a Parquet scalar; ``store.*`` is left out.
    """
    out: dict[str, Any] = {}
    for k, v in config.items():
        name = f"{prefix}{k}"
        if name == "store":
            continue
        if isinstance(v, Mapping):
            out.update(flatten_config(v, name + "."))
        elif isinstance(v, (list, tuple)):
            out[name] = json.dumps(_jsonable(v))
        else:
            out[name] = v
    return out


def entry_dir(root: str | os.PathLike, experiment: str, digest: str) -> Path:
    return Path(root) / experiment / digest


def find_entry(root: str | os.PathLike, experiment: str, digest: str) -> Path | None:
    """The complete entry for (experiment, hash), or None."""
    path = entry_dir(root, experiment, digest)
    try:
        meta = json.loads((path / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    return path if meta.get("status") == "complete" else None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _versions() -> dict[str, str]:
    names = ("typicality-ntk", "jax", "jaxlib", "flax", "optax", "numpy", "hydra-core")
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def _clean_stale_tmp(parent: Path) -> None:
    now = time.time()
    for tmp in parent.glob(".tmp-*"):
        try:
            if now - tmp.stat().st_mtime > _STALE_TMP_SECONDS:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:
            pass


def write_entry(
    root: str | os.PathLike,
    experiment: str,
    config: Mapping[str, Any],
    table: pd.DataFrame,
    arrays: Mapping[str, np.ndarray],
    meta: Mapping[str, Any],
    *,
    replace: bool = False,
) -> Path:
    """Write one complete entry atomically and return its path.

    Args:
        root: the store root.
        experiment: experiment name (first path level).
        config: the resolved config (nested dict); hashed for the entry name and flattened into
            dotted-name columns of ``table``.
        table: the tidy result table (one row per point and sample).
        arrays: named arrays saved to ``arrays.npz``.
        meta: extra metadata (timings, device, points) merged into ``meta.json``.
        replace: replace an existing entry (``store.recompute=true``); otherwise an existing
            complete entry wins and is returned untouched.
    """
    digest = config_hash(config)
    final = entry_dir(root, experiment, digest)
    final.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_tmp(final.parent)
    tmp = final.parent / f".tmp-{digest}-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        table = table.copy()
        for k, v in flatten_config(config).items():
            if k not in table.columns:
                table[k] = v
        table.to_parquet(tmp / "results.parquet", index=False)
        if arrays:
            np.savez(tmp / "arrays.npz", **{k: np.asarray(v) for k, v in arrays.items()})
        full_meta = {
            "experiment": experiment,
            "hash": digest,
            "status": "complete",
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "config": _jsonable(config),
            "versions": _versions(),
            "git_commit": _git_commit(),
            "host": platform.node(),
            "n_rows": len(table),
            "array_names": sorted(arrays),
            **_jsonable(dict(meta)),
        }
        (tmp / "meta.json").write_text(json.dumps(full_meta, indent=2, sort_keys=True))
        if replace and final.exists():
            trash = final.parent / f".tmp-old-{digest}-{uuid.uuid4().hex}"
            os.rename(final, trash)
            shutil.rmtree(trash, ignore_errors=True)
        try:
            os.rename(tmp, final)
        except OSError:  # another writer finished first: its complete entry wins
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def link_run_dir(run_dir: str | os.PathLike, entry: Path, status: str) -> None:
    """Point a Hydra run dir at its store entry (``store_entry.json`` and a ``store`` link)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "entry": str(entry.resolve()),
        "experiment": entry.parent.name,
        "hash": entry.name,
        "status": status,
    }
    tmp = run_dir / f".{STORE_LINK}.tmp"
    tmp.write_text(json.dumps(record, indent=2))
    os.replace(tmp, run_dir / STORE_LINK)
    link = run_dir / "store"
    try:
        if link.is_symlink():
            link.unlink()
        link.symlink_to(entry.resolve(), target_is_directory=True)
    except OSError:
        pass  # symlinks are a convenience; store_entry.json is the contract
