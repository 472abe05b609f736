"""Writing one store entry atomically, and naming it by its experiment and config hash.

Layout: ``<root>/<experiment>/<hash>/`` holding ``results.parquet`` (tidy table: one row per point
and sample, config values as dotted-name columns), ``arrays.npz`` (named arrays, no pickle) and
``meta.json`` (resolved config, versions, git commit, device, timings, status; its schema is
checked by :func:`~typicality_ntk.store.check_entry`).

Atomicity: an entry is written into a hidden sibling ``.tmp-<hash>-<uuid>/`` and renamed into
place. ``rename(2)`` of a directory is atomic and fails if the target exists and is non-empty, so a
run killed at any moment leaves a complete entry or none, and two writers of the same entry leave
one complete winner, never a mix.

Replacing an entry (``store.recompute=true``, or a damaged entry being repaired) swaps the new
directory with the old one in one ``renameat2(RENAME_EXCHANGE)`` call (Linux >= 3.15), so the path
holds the old or the new complete entry at every moment; the old one is then renamed to
``.trash-*`` and deleted. Where the exchange is not available the old entry is renamed aside to
``.old-<hash>-*`` and the new one renamed in: a kill between the two renames leaves both complete
copies on disk, and the next lookup of the entry (:func:`find_entry`, :func:`write_entry`) moves one
back. ``meta.json`` records the size and sha256 of the other files, checked by
:func:`~typicality_ntk.store.check_entry` before an entry is reused.
"""

from __future__ import annotations

import ctypes
import datetime as _dt
import errno
import hashlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from typicality_ntk.store._verify import check_entry, describe_files, meta_problem

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
#: Shared keys that do not change results (chunk_size never changes a sample), left out of the
#: hash; an experiment names its own such keys (``config.non_semantic_keys``).
NON_SEMANTIC_KEYS = ("store", "chunk_size", "figures", "compile_cache")
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


def config_hash(config: Mapping[str, Any], ignore: tuple[str, ...] = ()) -> str:
    """16 hex digits of sha256 over the resolved config minus :data:`NON_SEMANTIC_KEYS` and the
    root keys ``ignore`` (an experiment's own keys that never change a result)."""
    skip = (*NON_SEMANTIC_KEYS, *ignore)
    semantic = {k: v for k, v in config.items() if k not in skip}
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
    """The complete entry for (experiment, hash) if it verifies (:func:`check_entry`), else None.

    A replacement a kill interrupted is finished first (see the module docstring).
    """
    path = entry_dir(root, experiment, digest)
    if path.parent.is_dir():
        _recover(path)
    return path if check_entry(path) is None else None


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


def _step(name: str) -> None:
    """Called between the steps of installing an entry; tests replace it to kill a writer there."""


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories atomically (Linux ``renameat2``); False where that is unsupported."""
    if sys.platform != "linux":
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fd, name = ctypes.c_int, ctypes.c_char_p
    renameat2.argtypes = [fd, name, fd, name, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
        return False  # a file system (or kernel) without RENAME_EXCHANGE
    raise OSError(err, os.strerror(err), str(b))


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # removed meanwhile by a concurrent recovery
        return 0.0


def _recover(final: Path) -> None:
    """Finish what a killed replacement left next to ``final``: a missing entry is moved back
    from its complete leftovers (the new copy first), and ``.trash-*`` / ``.old-*`` are deleted."""
    parent = final.parent
    for trash in parent.glob(".trash-*"):
        shutil.rmtree(trash, ignore_errors=True)
    olds = sorted(parent.glob(f".old-{final.name}-*"), key=_mtime)
    if not olds:
        return
    if not final.exists():
        news = [p for p in parent.glob(f".tmp-{final.name}-*") if check_entry(p) is None]
        for candidate in [*news, *reversed(olds)]:
            try:
                os.rename(candidate, final)
                break
            except OSError:
                continue
    if final.exists():
        for old in parent.glob(f".old-{final.name}-*"):
            shutil.rmtree(old, ignore_errors=True)


def _install(tmp: Path, final: Path, replace: bool) -> None:
    """Move the complete entry ``tmp`` to ``final``; ``final`` never lacks a complete entry that
    was there before (see the module docstring). Without ``replace`` a verified entry at ``final``
    wins and ``tmp`` is deleted; a damaged one is replaced."""
    _step("written")
    try:
        os.rename(tmp, final)  # atomic; fails when a non-empty final exists
        _step("done")
        return
    except OSError as err:
        if err.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
    if not replace and check_entry(final) is None:
        shutil.rmtree(tmp, ignore_errors=True)  # another writer's complete entry wins
        return
    if _exchange(tmp, final):
        _step("exchanged")  # final: the new entry; tmp: the old one
        trash = final.parent / f".trash-{final.name}-{uuid.uuid4().hex}"
        os.rename(tmp, trash)
    else:
        trash = final.parent / f".old-{final.name}-{uuid.uuid4().hex}"
        os.rename(final, trash)
        _step("aside")  # final: missing; both complete copies hidden, _recover restores one
        try:
            os.rename(tmp, final)
        except OSError:
            if check_entry(final) is not None:  # unless a concurrent _recover put one back
                raise
            shutil.rmtree(tmp, ignore_errors=True)
        _step("renamed")
    _step("trashed")
    shutil.rmtree(trash, ignore_errors=True)
    _step("done")


def write_entry(
    root: str | os.PathLike,
    experiment: str,
    config: Mapping[str, Any],
    table: pd.DataFrame,
    arrays: Mapping[str, np.ndarray],
    meta: Mapping[str, Any],
    *,
    replace: bool = False,
    ignore: tuple[str, ...] = (),
) -> Path:
    """Write one complete entry atomically and return its path.

    Args:
        root: the store root.
        experiment: experiment name (first path level).
        config: the resolved config (nested dict, with ``name`` and ``module`` strings); hashed
            for the entry name and flattened into dotted-name columns of ``table``.
        table: the tidy result table (one row per point and sample).
        arrays: named arrays saved to ``arrays.npz``.
        meta: extra metadata (timings, device, points) merged into ``meta.json``.
        replace: replace an existing entry (``store.recompute=true``); otherwise an existing
            entry that verifies wins and is returned untouched (a damaged one is replaced).
        ignore: root keys left out of the hash (as for :func:`config_hash`).

    Raises:
        ValueError: if the ``meta.json`` this would write breaks the schema
            :func:`check_entry` checks (e.g. ``config`` without ``module``); nothing is written.
    """
    digest = config_hash(config, ignore)
    final = entry_dir(root, experiment, digest)
    final.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_tmp(final.parent)
    _recover(final)
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
            "files": describe_files(tmp, [p.name for p in sorted(tmp.iterdir())]),
        }
        text = json.dumps(full_meta, indent=2, sort_keys=True)
        problem = meta_problem(json.loads(text))  # never write an entry check_entry rejects
        if problem:
            raise ValueError(f"cannot store {experiment} entry {digest}: {problem}")
        (tmp / "meta.json").write_text(text)
        _install(tmp, final, replace)
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
