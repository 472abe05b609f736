"""What an experiment declares to the runner: its points and its one-sample function."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Experiment", "Point", "RowAxis"]


@dataclass(frozen=True)
class Point:
    """One point of an experiment's sweep: every sample at it shares shapes and context.

    Attributes:
        coords: values recorded as columns on every row of this point (e.g. ``d_a``, ``d_b``).
        static: shape-setting keyword arguments of the sample function; one compile per distinct
            value. Lists are converted to tuples so they can be hashed.
        context: a pytree of arrays shared by every sample (e.g. an observable); traced, not
            vmapped, so changing its values never recompiles.
        rows: optional: R row groups sharing this point's program (one compile, one call per
            chunk, vmapped over rows and samples), e.g. the widths of a masked double-descent
            sweep. Row group ``r`` records ``{**coords, **rows[r]}`` on its rows and its samples
            see the context ``{**context, **{k: v[r] for k, v in row_context.items()}}``; its
            samples' keys are those it would get as a point of its own (the runner numbers row
            groups like points), so grouping never changes a result.
        row_context: with ``rows``: a mapping of arrays with leading axis R (e.g. the widths);
            ``context`` must then be a mapping too.
    """

    coords: Mapping[str, Any]
    static: Mapping[str, Hashable] = field(default_factory=dict)
    context: Any = None
    rows: tuple[Mapping[str, Any], ...] = ()
    row_context: Mapping[str, Any] | None = None

    def __post_init__(self):
        if self.rows:
            n = len(self.rows)
            if not isinstance(self.context or {}, Mapping) or not self.row_context:
                raise ValueError("a Point with rows needs a mapping context and a row_context")
            for k, v in self.row_context.items():
                if len(v) != n:
                    raise ValueError(f"row_context[{k!r}] has {len(v)} entries for {n} rows")


@dataclass(frozen=True)
class RowAxis:
    """A leading axis of some per-sample metrics that the runner turns into rows (a long table).

    The sample function returns the coordinate itself as the metric ``name``, of shape ``(T,)``
    (e.g. the recorded training steps; the same ``T`` for every sample of a point, possibly
    another ``T`` at another point), and each metric in ``metrics`` with shape ``(T, ...)``. A
    sample then gives ``T`` rows, in the order of the axis: row ``t`` records ``name[t]`` as the
    column ``name`` and ``metric[t]`` for each of ``metrics`` (scalars per row become columns,
    the rest named arrays ``"{metric}/{p}"`` of shape ``(samples, T, ...)``); the sample's other
    scalar metrics repeat on each of its ``T`` rows, its other higher-rank metrics stay named
    arrays of shape ``(samples, ...)``.

    Attributes:
        name: the coordinate's metric and column, e.g. ``"step"``.
        metrics: the metrics laid out along the axis, e.g. ``("train_loss", "test_loss")``.
    """

    name: str
    metrics: tuple[str, ...] = ()


@dataclass(frozen=True)
class Experiment:
    """An experiment as the runner sees it.

    Attributes:
        name: the name used by ``experiment=<name>`` and in the store.
        points: ``points(cfg, key) -> [Point, ...]``; ``key`` is for randomness shared across
            samples (a random observable); it never depends on ``samples`` or ``chunk_size``.
        sample: ``sample(key, context, **static) -> {metric: array}`` for ONE sample. Scalar
            metrics become table columns; higher-rank metrics are stored as named arrays of shape
            ``(samples, ...)`` per point. It must be pure: no loops over samples, no files.
        plot: ``plot(table, arrays, cfg, outdir) -> [paths]`` draws figures from stored results.
        columns: the public result columns, in order (documentation and a contract test).
        uses: the config groups this experiment reads; only these (and the common keys) enter its
            store hash and result columns, so changing ``model.*`` never invalidates a quantum run.
        check: ``check(cfg)`` raises ConfigError for settings this experiment cannot run; called
            before any compute (with every job of a multirun).
        schema: the typed config this experiment runs on: :class:`typicality_ntk.config.Config`
            (the shared groups) or a dataclass subclassing it that adds the experiment's own keys
            with their checks (``None``: the shared ``Config``). Its values come from
            ``conf/experiment/<name>.yaml``; keys of the composed config that the schema does not
            hold are dropped (and never enter the store hash).
        row_axis: optional :class:`RowAxis`: a leading axis of some metrics that becomes rows
            (``None``: one row per point and sample). Every sample must then return the axis'
            coordinate ``row_axis.name``.
        unused: optional ``unused(cfg) -> {key: why}``: the dotted keys (or a group's name, for
            a group chosen on the command line) that this config of the experiment never reads
            although its groups hold them (e.g. ``optim.lr`` for a closed-form learner); set on
            the command line, each is a one-line error instead of a silently ignored value that
            still changes the store hash.
    """

    name: str
    points: Callable[..., Sequence[Point]]
    sample: Callable[..., Mapping[str, Any]]
    plot: Callable[..., list[Path]] | None = None
    columns: tuple[str, ...] = ()
    check: Callable[..., None] | None = None
    uses: tuple[str, ...] = ("quantum",)
    schema: type | None = None
    row_axis: RowAxis | None = None
    unused: Callable[..., Mapping[str, str]] | None = None
