"""The one runner: keys, jit, vmap over samples in chunks, results to host.

Key derivation (results for sample i never depend on ``samples`` or ``chunk_size``)::

    root          = key(seed)
    setup key     = fold_in(root, 0)                 -> Experiment.points (shared randomness)
    point key p   = fold_in(fold_in(root, 1), p)
    sample key i  = fold_in(point key p, i)

Each point is compiled once per distinct (static kwargs, chunk shape, context shapes); the last
chunk is padded to the chunk size (padded rows are discarded) so a point never compiles twice.
A point with R row groups (``Point.rows``) is one program too, vmapped over its row groups and
the samples; its row groups are numbered ``p`` like points (keys, ``RunResult.points`` and the
``"{metric}/{p}"`` arrays), so grouping points never changes a number.

Rows: one per (point or row group, sample), holding the coords, ``sample`` and the scalar
metrics; an experiment that declares a row axis (:class:`~typicality_ntk.sweep.RowAxis`, e.g. the
recorded training steps) gets ``T`` rows per sample instead, one per entry of the axis, with the
coordinate as a column and the axis' metrics entry by entry (a long, tidy table).

With several local devices (GPUs, or CPU devices from
``XLA_FLAGS=--xla_force_host_platform_device_count=N``) the sample axis of every chunk is sharded
over all of them (a 1-D ``Mesh`` and ``NamedSharding``; the chunk is rounded up to a multiple of the
device count); the context is replicated. Samples are independent, so results do not depend on the
number of devices.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm.auto import tqdm

from typicality_ntk.sweep._experiment import Experiment, Point
from typicality_ntk.sweep._precision import precision_scope
from typicality_ntk.sweep._progress import Heartbeat

__all__ = ["RunResult", "Runner", "run", "freeze_static", "sample_keys"]

log = logging.getLogger(__name__)

#: Largest chunk tried when ``chunk_size=auto``; the probe compile uses min(samples, this).
AUTO_CHUNK_PROBE = 4096
#: Fraction of free memory an ``auto`` chunk may use.
AUTO_MEMORY_FRACTION = 0.5
#: Copies of a run's results the host holds at its peak (the chunks, the table, its Parquet form).
HOST_COPIES = 3


@dataclass
class RunResult:
    """What one run produced, on the host.

    Attributes:
        table: one row per (point, sample): the point's coords, ``sample``, scalar metrics; with
            an experiment's row axis (:class:`~typicality_ntk.sweep.RowAxis`), one row per
            (point, sample, coordinate).
        arrays: higher-rank metrics, ``"{metric}/{point_index}"`` -> array of shape (samples, ...).
        points: the coords of each point, in order.
        compile_seconds, run_seconds, setup_seconds: wall times of compiling, running the chunks
            (results on host included) and ``Experiment.points``.
        n_compiles: programs compiled by this run.
        chunk_size: the chunk size used (the largest one, when ``auto`` shrank it for a point).
        device: the devices the run used, in words.
    """

    table: pd.DataFrame
    arrays: dict[str, np.ndarray]
    points: list[dict[str, Any]]
    compile_seconds: float = 0.0
    run_seconds: float = 0.0
    setup_seconds: float = 0.0
    n_compiles: int = 0
    chunk_size: int = 0
    device: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def freeze_static(static: Mapping[str, Any]) -> tuple[tuple[str, Hashable], ...]:
    """Sorted, hashable form of a point's static kwargs (OmegaConf lists become tuples)."""

    def freeze(v: Any) -> Hashable:
        if isinstance(v, (list, tuple)):
            return tuple(freeze(x) for x in v)
        if isinstance(v, dict):
            return tuple(sorted((k, freeze(x)) for k, x in v.items()))
        return v

    return tuple(sorted((k, freeze(v)) for k, v in static.items()))


def _free_memory_bytes(device: jax.Device) -> int:
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):  # pragma: no cover - non-POSIX
        return 4 << 30


def _host_memory_bytes() -> int:
    """Available host memory (``MemAvailable``; free pages where /proc is missing)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):  # pragma: no cover - non-POSIX
        return 4 << 30


def _describe(point: Point, limit: int = 60) -> str:
    """``d_a=512, d_b=512``: a point's coords (its row groups' count), for progress lines."""
    text = ", ".join(f"{k}={v}" for k, v in point.coords.items())
    if point.rows:
        text += f"{', ' if text else ''}{len(point.rows)} row groups"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _fold_each(key, indices):
    """``fold_in(key, i)`` for each ``i`` of ``indices``: keys of shape ``indices.shape``."""
    return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, indices)


def _points_root(seed: int):
    """The root of every point key (the module docstring's derivation)."""
    return jax.random.fold_in(jax.random.key(int(seed)), 1)


def sample_keys(seed: int, index: int, samples: int) -> jax.Array:
    """The keys the runner gives samples ``0 .. samples - 1`` of its point (or row group) number
    ``index``, for an experiment that needs its samples' randomness before the run (e.g. a
    learning rate bounded over the samples' initialisations). Typed keys of shape ``(samples,)``.
    """
    point = jax.random.fold_in(_points_root(seed), int(index))
    return _fold_each(point, np.arange(samples, dtype=np.uint32))


class Runner:
    """Runs experiments; holds the compiled programs so repeated points never recompile.

    Args:
        progress: show a progress bar over chunks (only when stderr is a terminal).
    """

    def __init__(self, *, progress: bool = True, devices: list | None = None):
        self.progress = progress
        self._compiled: dict[Any, Any] = {}
        self.n_compiles = 0
        self.devices = list(devices) if devices is not None else jax.local_devices()
        mesh = Mesh(np.array(self.devices), ("samples",))
        self._sharded = NamedSharding(mesh, PartitionSpec("samples"))
        self._replicated = NamedSharding(mesh, PartitionSpec())

    def _round_chunk(self, chunk: int) -> int:
        """Chunks are a multiple of the device count (padding rows are discarded)."""
        n = len(self.devices)
        return -(-chunk // n) * n

    def _program(self, experiment: Experiment, static: tuple, chunk: int, point_key, context):
        """The compiled chunk program; ``point_key`` of shape (R,) means a point with R row
        groups (``context = (shared, row_context)``, outputs ``(chunk, R, ...)``)."""
        grouped = jnp.ndim(point_key) == 1
        ctx_shapes = jax.tree.map(lambda a: (jnp.shape(a), jnp.result_type(a)), context)
        cache_key = (
            experiment.name,
            experiment.sample,
            static,
            chunk,
            grouped,
            jax.tree.structure(context),
            str(ctx_shapes),
            jax.config.jax_enable_x64,
        )
        if cache_key in self._compiled:
            return self._compiled[cache_key], 0.0
        kwargs = dict(static)
        sample_fn = experiment.sample

        def samples_of(point_key, idx, context):
            keys = _fold_each(point_key, idx)
            return jax.vmap(lambda k: sample_fn(k, context, **kwargs))(keys)

        def batched(point_key, idx, context):
            if not grouped:
                return samples_of(point_key, idx, context)
            shared, row_context = context
            out = jax.vmap(lambda k, rc: samples_of(k, idx, {**shared, **rc}))(
                point_key, row_context
            )  # (R, chunk, ...)
            return jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1), out)  # sample axis first

        t0 = time.perf_counter()
        idx = jax.ShapeDtypeStruct((chunk,), jnp.uint32, sharding=self._sharded)
        jitted = jax.jit(
            batched,
            in_shardings=(self._replicated, self._sharded, self._replicated),
            out_shardings=self._sharded,
        )
        compiled = jitted.lower(point_key, idx, context).compile()
        dt = time.perf_counter() - t0
        self._compiled[cache_key] = compiled
        self.n_compiles += 1
        return compiled, dt

    def _choose_chunk(self, experiment, static, samples, chunk_size, point_key, context):
        """Chunk size and compiled program for one point (``auto``: from free memory)."""
        if chunk_size != "auto":
            chunk = self._round_chunk(min(int(chunk_size), samples))
            return chunk, *self._program(experiment, static, chunk, point_key, context)
        probe = self._round_chunk(min(samples, AUTO_CHUNK_PROBE))
        compiled, dt = self._program(experiment, static, probe, point_key, context)
        mem = compiled.memory_analysis()
        if mem is None:
            return probe, compiled, dt
        used = mem.temp_size_in_bytes + mem.output_size_in_bytes + mem.argument_size_in_bytes
        n_dev = len(self.devices)
        per_sample = max(used / (probe / n_dev), 1.0)  # the analysis is of one device's program
        fit = int(AUTO_MEMORY_FRACTION * _free_memory_bytes(self.devices[0]) / per_sample) * n_dev
        if fit >= probe:
            return probe, compiled, dt
        chunk = self._round_chunk(max(1, 1 << (max(fit, 1).bit_length() - 1)))
        log.info("chunk_size=auto: %d samples per chunk (%.1f MiB each)", chunk, per_sample / 2**20)
        compiled, dt2 = self._program(experiment, static, chunk, point_key, context)
        return chunk, compiled, dt + dt2

    @staticmethod
    def _row_metrics(experiment: Experiment, metrics, samples: int) -> tuple[dict, int]:
        """``metrics`` flattened to one entry per row, and the rows per sample ``T``.

        Without a row axis ``T = 1`` and the metrics are returned as they are. With one
        (:class:`~typicality_ntk.sweep.RowAxis`), the coordinate and the axis' metrics of shape
        ``(samples, T)`` become ``(samples * T,)`` (sample-major), the other per-sample scalars
        repeat ``T`` times, and higher-rank metrics are left as they are (named arrays).
        """
        axis = experiment.row_axis
        if axis is None:
            return metrics, 1
        if axis.name not in metrics or metrics[axis.name].ndim != 2:
            got = metrics[axis.name].shape[1:] if axis.name in metrics else "nothing"
            raise ValueError(
                f"{experiment.name}: the row axis {axis.name!r} must be a metric of shape (T,) "
                f"per sample, got {got}"
            )
        t = metrics[axis.name].shape[1]
        out = {}
        for k, v in metrics.items():
            if k == axis.name or (k in axis.metrics and v.ndim == 2):
                if v.shape != (samples, t):
                    raise ValueError(
                        f"{experiment.name}: metric {k!r} along the row axis {axis.name!r} must "
                        f"have shape ({t},) per sample, got {v.shape[1:]}"
                    )
                out[k] = v.reshape(samples * t)
            elif v.ndim == 1:
                out[k] = np.repeat(v, t)
            else:
                out[k] = v
        return out, t

    @staticmethod
    def _along_rows(experiment: Experiment, metrics) -> set[str]:
        """The metrics that a row axis lays out as rows (never named arrays)."""
        axis = experiment.row_axis
        if axis is None:
            return set()
        return {axis.name} | {k for k in axis.metrics if k in metrics and metrics[k].ndim == 2}

    @staticmethod
    def _table(experiment: Experiment, coords, metrics, samples: int) -> pd.DataFrame:
        """Rows of one point (or row group): its coords, ``sample``, its scalar metrics; with a
        row axis, ``T`` rows per sample (see :meth:`_row_metrics`)."""
        metrics, t = Runner._row_metrics(experiment, metrics, samples)
        table = {k: np.repeat(v, samples * t) for k, v in coords.items()}
        table["sample"] = np.repeat(np.arange(samples), t)
        order = [c for c in experiment.columns if c in metrics]
        for k in order + sorted(set(metrics) - set(order)):
            if metrics[k].ndim == 1:
                table[k] = metrics[k]
        return pd.DataFrame(table)

    @staticmethod
    def result_bytes(experiment: Experiment, points: list[Point], samples: int) -> int:
        """Bytes of what a run returns to the host (every metric of every sample, plus the
        coordinate columns), from the sample function's output shapes (``jax.eval_shape``: no
        compile, no compute)."""
        total, seen = 0, {}
        for point in points:
            context = point.context
            if point.rows:
                row0 = {k: np.asarray(v)[0] for k, v in point.row_context.items()}
                context = {**dict(point.context or {}), **row0}
            static = freeze_static(point.static)
            if static not in seen:
                kwargs = dict(static)
                out = jax.eval_shape(
                    lambda k, c, kw=kwargs: experiment.sample(k, c, **kw),
                    jax.random.key(0),
                    context,
                )
                leaves = jax.tree.leaves(out)
                rows = 1
                if experiment.row_axis is not None and experiment.row_axis.name in out:
                    rows = int(np.prod(out[experiment.row_axis.name].shape) or 1)
                per_sample = sum(int(np.prod(a.shape)) * a.dtype.itemsize for a in leaves)
                seen[static] = per_sample + 8 * rows * (len(point.coords) + len(leaves) + 1)
            total += seen[static] * samples * max(len(point.rows), 1)
        return total

    def _check_result_size(self, experiment: Experiment, cfg: Any, points, samples: int):
        """Refuse, before compute, a run whose results cannot fit in host memory or on the
        store's disk (ConfigError naming ``samples`` and the bytes needed)."""
        from typicality_ntk.errors import ConfigError

        need = self.result_bytes(experiment, points, samples)
        # on the host a result exists ~3 times at its peak (chunks, the table, its Parquet form)
        memory = _host_memory_bytes()
        if HOST_COPIES * need > memory:
            raise ConfigError(
                "samples",
                samples,
                f"the results would need {HOST_COPIES * need / 2**30:.3g} GiB of host memory "
                f"({memory / 2**30:.3g} GiB available): lower samples or the sizes swept",
            )
        root = getattr(getattr(cfg, "store", None), "root", None)
        if root is not None:
            try:
                free = shutil.disk_usage(_existing_parent(Path(root))).free
            except OSError:
                return
            if need > free:
                raise ConfigError(
                    "samples",
                    samples,
                    f"the results would need {need / 2**30:.3g} GiB on disk ({free / 2**30:.3g} "
                    f"GiB free under {root}): lower samples or the sizes swept",
                )

    def run(self, experiment: Experiment, cfg: Any) -> RunResult:
        """Run every point of ``experiment`` for ``cfg.samples`` samples from ``cfg.seed``."""
        samples, compiles_before = int(cfg.samples), self.n_compiles
        with precision_scope(cfg.precision):
            root = jax.random.key(int(cfg.seed))
            t0 = time.perf_counter()
            points: list[Point] = list(experiment.points(cfg, jax.random.fold_in(root, 0)))
            setup_s = time.perf_counter() - t0
            self._check_result_size(experiment, cfg, points, samples)
            points_root = _points_root(cfg.seed)
            rows, arrays, compile_s, run_s, chunks_used = [], {}, 0.0, 0.0, []
            bar = tqdm(
                total=sum(max(len(p.rows), 1) for p in points) * samples,
                desc=experiment.name,
                unit="sample",
                disable=not (self.progress and sys.stderr.isatty()),
                leave=False,
            )
            row0, row_coords = 0, []  # row groups are numbered like points
            with Heartbeat(experiment.name, bar) as beat:
                for i_point, point in enumerate(points, 1):
                    where = f"point {i_point}/{len(points)} ({_describe(point)})"
                    beat.status = f"compiling {where}"
                    static = freeze_static(point.static)
                    n_rows = len(point.rows)
                    if n_rows:
                        point_key = _fold_each(
                            points_root, jnp.arange(row0, row0 + n_rows, dtype=jnp.uint32)
                        )
                        row_context = {k: np.asarray(v) for k, v in point.row_context.items()}
                        context = (dict(point.context or {}), row_context)
                    else:
                        point_key = jax.random.fold_in(points_root, row0)
                        context = point.context
                    chunk, compiled, dt = self._choose_chunk(
                        experiment, static, samples, cfg.chunk_size, point_key, context
                    )
                    compile_s += dt
                    chunks_used.append(chunk)
                    t1 = time.perf_counter()
                    outs = []
                    for start in range(0, samples, chunk):
                        n = min(chunk, samples - start)
                        beat.status = f"{where}: samples {start}-{start + n - 1} of {samples}"
                        idx = np.arange(start, start + chunk, dtype=np.uint32)
                        idx[n:] = start  # pad the last chunk: same shape, rows dropped below
                        idx = jax.device_put(idx, self._sharded)
                        out = jax.device_get(compiled(point_key, idx, context))
                        outs.append(jax.tree.map(lambda a, n=n: np.asarray(a)[:n], out))
                        bar.update(n * max(n_rows, 1))
                    run_s += time.perf_counter() - t1
                    metrics = {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}
                    groups = [
                        (
                            {**point.coords, **point.rows[r]},
                            {k: v[:, r] for k, v in metrics.items()},
                        )
                        for r in range(n_rows)
                    ] or [(dict(point.coords), metrics)]
                    for coords, group_metrics in groups:
                        rows.append(self._table(experiment, coords, group_metrics, samples))
                        along = self._along_rows(experiment, group_metrics)
                        for k, v in group_metrics.items():
                            if v.ndim > 1 and k not in along:
                                arrays[f"{k}/{row0}"] = v
                        row_coords.append(coords)
                        row0 += 1
            bar.close()
        devices = self.devices
        return RunResult(
            table=pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(),
            arrays=arrays,
            points=row_coords,
            compile_seconds=compile_s,
            run_seconds=run_s,
            setup_seconds=setup_s,
            n_compiles=self.n_compiles - compiles_before,
            chunk_size=max(chunks_used, default=0),
            device=f"{len(devices)}x {devices[0].device_kind} ({devices[0].platform})",
        )


def run(experiment: Experiment, cfg: Any, *, progress: bool = True) -> RunResult:
    """Run ``experiment`` with a fresh :class:`Runner` (see :meth:`Runner.run`)."""
    return Runner(progress=progress).run(experiment, cfg)
