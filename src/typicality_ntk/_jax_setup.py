"""Process-wide JAX settings a run needs: the persistent compilation cache.

JAX's persistent cache (``jax_compilation_cache_dir``) stores compiled XLA programs on disk, keyed
by the program and the backend, so a re-run of a sweep with new seeds, a restarted multirun or the
next test process loads its programs instead of recompiling them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import jax

__all__ = ["CACHE_ENV", "compile_cache_dir", "default_cache_dir", "enable_compilation_cache"]

#: Environment variable that overrides the default cache dir (``off`` disables the cache).
CACHE_ENV = "TNTK_COMPILE_CACHE"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "typicality_ntk" / "jax"


def compile_cache_dir(setting: str | None = "auto") -> Path | None:
    """The directory ``compile_cache=<setting>`` names (None: off); nothing is created."""
    if setting == "auto":
        setting = os.environ.get(CACHE_ENV) or str(default_cache_dir())
    if setting in (None, "", "off", "none", "false"):
        return None
    return Path(setting).expanduser()


def enable_compilation_cache(setting: str | None = "auto") -> str | None:
    """Turn JAX's persistent compilation cache on (or off) and return the directory used.

    Args:
        setting: ``auto`` ($TNTK_COMPILE_CACHE, else ~/.cache/typicality_ntk/jax), a directory, or
            ``off``/None to leave it disabled.
    """
    path = compile_cache_dir(setting)
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # auto's default is not writable here (an explicit dir: preflight)
        logging.getLogger(__name__).warning(
            "compile cache off: cannot create %s (%s)", path, err.strerror or err
        )
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    # our programs compile in ~0.3-3 s on CPU: cache all of them, however quick
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return str(path)
