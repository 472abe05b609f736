"""Command-line entry points: ``tntk`` (the Hydra application) and ``tntk-plot`` (redraw figures).

tntk experiment=page_curve quantum.n_qubits=12
tntk -m experiment=page_curve quantum.n_qubits=8,10,12 seed=0,1
tntk-plot outputs/multirun/2026-11-23/10-00-00
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from typicality_ntk import store
from typicality_ntk._overrides import apply_command_line
from typicality_ntk.config import GROUPS, non_semantic_keys, register_configs
from typicality_ntk.errors import ConfigError

__all__ = ["CONFIG_DIR", "main", "plot_main", "run_job"]

log = logging.getLogger("typicality_ntk")

_HERE = Path(__file__).resolve().parent
#: conf/ ships inside the wheel; an editable install (uv run) reads the repository's conf/.
CONFIG_DIR = str(_HERE / "conf" if (_HERE / "conf").is_dir() else _HERE.parents[1] / "conf")
CONFIG_NAME = "config"
#: A study's run dir records its jobs' entries here (``tntk-plot`` reads it).
STUDY_RECORD = "study.json"
#: Every job dir records how its job ended here (``computed``, ``reused``, ``repaired`` (a damaged
#: entry recomputed), ``study``, ``failed``).
JOB_STATUS = "job_status.json"

# Flags after which Hydra prints instead of running: nothing to validate.
_INFO_FLAGS = {
    "--help",
    "-h",
    "--hydra-help",
    "--info",
    "-i",
    "--cfg",
    "-c",
    "--shell-completion",
    "-sc",
    "--version",
    "--resolve",
    "--package",
    "-p",
}
_VALUE_FLAGS = {
    "--config-name",
    "-cn",
    "--config-path",
    "-cp",
    "--config-dir",
    "-cd",
    "--experimental-rerun",
}

#: The resolver ``conf/config.yaml`` wraps its run and sweep dirs in (:func:`claim_dir`).
UNIQUE_DIR_RESOLVER = "tntk_unique_dir"


def claim_dir(path: str) -> str:
    """``path``, or ``path-2``, ``path-3``, ... : the first that this call creates (``mkdir``
    is atomic, also on NFS), so two runs started in the same second never share a run dir
    (Hydra's ``${now:%H-%M-%S}`` alone gives them one). Registered with ``use_cache=True``: a
    config resolves it once, and Hydra copies that cache into a multirun's job configs, so every
    job of one sweep sees the same sweep dir."""
    base, n = Path(path), 1
    base.parent.mkdir(parents=True, exist_ok=True)
    while True:
        candidate = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            candidate.mkdir()
            return str(candidate)
        except FileExistsError:
            n += 1


def register_resolvers() -> None:
    """The resolvers ``conf/config.yaml`` uses (before Hydra resolves its run dir)."""
    if not OmegaConf.has_resolver(UNIQUE_DIR_RESOLVER):
        OmegaConf.register_new_resolver(UNIQUE_DIR_RESOLVER, claim_dir, use_cache=True)


_RUNNER = None  # one per process: jobs of an in-process multirun reuse compiled programs


def _runner():
    global _RUNNER
    if _RUNNER is None:
        from typicality_ntk.sweep import Runner

        _RUNNER = Runner()
    return _RUNNER


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def run_job(
    cfg: DictConfig, run_dir: str | Path | None = None, overrides: Sequence[str] | None = None
) -> dict:
    """Run (or reuse) one job: validate, compute if missing, store, draw figures from the store.

    ``cfg`` is the job's config as composed (with the command line's precedence already applied:
    :func:`~typicality_ntk._overrides.apply_command_line`); ``overrides``, its command line when
    known, must all apply to the job (else ConfigError).

    Returns:
        ``{"status": "computed"|"reused"|"repaired", "entry": Path, "figures": [Path, ...]}``;
        ``repaired``: the stored entry did not verify (:func:`store.check_entry`) and was
        recomputed and replaced atomically.
    """
    from typicality_ntk._jax_setup import enable_compilation_cache
    from typicality_ntk._preflight import validate_config
    from typicality_ntk.sweep import Study

    logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)  # "no TPU" noise
    config, experiment = validate_config(cfg, CONFIG_NAME, overrides)
    enable_compilation_cache(config.compile_cache)
    if isinstance(experiment, Study):
        return run_study(experiment, config, run_dir)
    resolved = recorded_config(config, experiment)
    root = Path(config.store.root)
    ignore = non_semantic_keys(type(config))
    digest = store.config_hash(resolved, ignore)
    entry = store.find_entry(root, experiment.name, digest)  # None: missing or damaged
    path = store.entry_dir(root, experiment.name, digest)
    damage = store.check_entry(path) if entry is None and path.exists() else None
    t0 = time.perf_counter()
    if entry is not None and not config.store.recompute:
        status = "reused"
        log.info("%s: reusing stored entry %s", experiment.name, entry)
    else:
        status = "computed"
        if damage is not None and not config.store.recompute:
            status = "repaired"
            log.warning("store entry %s is damaged (%s); recomputing", path, damage)
        result = _runner().run(experiment, config)
        meta = {
            "compile_seconds": result.compile_seconds,
            "run_seconds": result.run_seconds,
            "setup_seconds": result.setup_seconds,
            "n_compiles": result.n_compiles,
            "chunk_size": result.chunk_size,
            "device": result.device,
            "points": result.points,
        }
        entry = store.write_entry(
            root,
            experiment.name,
            resolved,
            result.table,
            result.arrays,
            meta,
            replace=config.store.recompute or damage is not None,
            ignore=ignore,
        )
        log.info(
            "%s: %d rows in %.2f s (compile %.2f s, %d programs) on %s -> %s",
            experiment.name,
            len(result.table),
            result.run_seconds,
            result.compile_seconds,
            result.n_compiles,
            result.device,
            entry,
        )
    _warn_diverged(experiment.name, Path(entry) / "results.parquet")
    figures: list[Path] = []
    if run_dir is not None:
        store.link_run_dir(run_dir, entry, status)
        if config.figures and experiment.plot is not None:
            figures = draw_entry(entry, Path(run_dir) / "figures")
            log.info("figures: %s", ", ".join(str(p) for p in figures if p.suffix == ".png"))
    log.info("%s done in %.1f s (%s)", experiment.name, time.perf_counter() - t0, status)
    return {"status": status, "entry": entry, "figures": figures}


def _warn_diverged(name: str, results: Path) -> None:
    """One warning line when a table's ``diverged`` column flags samples (their count and, where
    rows have a ``width``, the widths): figures leave them out, the user must know."""
    import pandas as pd
    import pyarrow.parquet as pq

    names = pq.read_schema(results).names
    if "diverged" not in names:
        return
    cols = [c for c in ("width", "sample", "diverged") if c in names]
    table = pd.read_parquet(results, columns=cols)
    keys = [c for c in cols if c != "diverged"]
    every = table.drop_duplicates(keys)
    bad = table[table["diverged"] != 0].drop_duplicates(keys)
    if bad.empty:
        return
    where = ""
    if "width" in bad:
        where = " at width " + ", ".join(str(w) for w in sorted(bad["width"].unique()))
    log.warning(
        "%s: %d of %d samples diverged%s (their rows are kept, flagged diverged=1; figures "
        "leave them out)",
        name,
        len(bad),
        len(every),
        where,
    )


def recorded_config(config, experiment) -> dict:
    """What an entry hashes and records: the keys of the experiment's schema, less the shared
    groups it does not use (so a ``model.*`` change never invalidates a Page-curve entry)."""
    values = OmegaConf.to_container(OmegaConf.structured(config), resolve=True)
    return {k: v for k, v in values.items() if k not in GROUPS or k in experiment.uses}


def run_study(study, config, run_dir: str | Path | None) -> dict:
    """Run every job of a study (reusing stored entries), then draw the study's own figures.

    Each job gets ``<run dir>/<label>/`` (its store link and figures, like a multirun job), the
    study's figures go to ``<run dir>/figures`` and ``<run dir>/study.json`` records the entries,
    so ``tntk-plot <run dir>`` redraws everything.
    """
    from typicality_ntk._preflight import compose_job
    from typicality_ntk.sweep import job_overrides

    t0 = time.perf_counter()
    jobs = job_overrides(study, config)
    entries, statuses, figures = {}, {}, []
    for i, (label, overrides) in enumerate(jobs, 1):
        log.info("%s: job %d/%d %s (%s)", study.name, i, len(jobs), label, " ".join(overrides))
        sub_dir = None if run_dir is None else Path(run_dir) / label
        out = run_job(compose_job(CONFIG_NAME, overrides), sub_dir, overrides)
        entries[label], statuses[label] = out["entry"], out["status"]
        figures += out["figures"]
    if run_dir is not None:
        record = {
            "study": study.name,
            "module": config.module,
            "config": OmegaConf.to_container(OmegaConf.structured(config), resolve=True),
            "entries": {k: str(Path(v).resolve()) for k, v in entries.items()},
            "status": statuses,
        }
        (Path(run_dir) / STUDY_RECORD).write_text(json.dumps(record, indent=2, default=str))
        if config.figures and study.plot is not None:
            own = study.plot(entries, record["config"], Path(run_dir) / "figures")
            log.info("figures: %s", ", ".join(str(p) for p in own if p.suffix == ".png"))
            figures += own
    counts = {s: sum(v == s for v in statuses.values()) for s in ("computed", "repaired")}
    log.info(
        "%s done in %.1f s: %d jobs (%d computed, %d reused%s); figures under %s",
        study.name,
        time.perf_counter() - t0,
        len(jobs),
        counts["computed"],
        len(jobs) - counts["computed"] - counts["repaired"],
        f", {counts['repaired']} repaired" if counts["repaired"] else "",
        run_dir,
    )
    return {"status": "study", "entries": entries, "figures": figures}


def draw_study(run_dir: Path) -> list[Path]:
    """Redraw a study's own figures from the entries its ``study.json`` records."""
    record = json.loads((run_dir / STUDY_RECORD).read_text())
    study = _load_plotter(record["module"], run_dir)
    entries = {k: Path(v) for k, v in record["entries"].items()}
    return study.plot(entries, record["config"], run_dir / "figures") if study.plot else []


def _load_plotter(module: str, where: Path):
    """The experiment (or study) that draws ``where``'s figures; ConfigError if its module cannot
    be imported (an out-of-tree experiment needs its directory on PYTHONPATH)."""
    from typicality_ntk.sweep import load_experiment

    try:
        return load_experiment(module)
    except ImportError as err:
        raise ConfigError(
            "module",
            module,
            f"cannot import the experiment that drew {where} ({err}); an experiment outside "
            "this package needs its directory on PYTHONPATH",
        ) from None


def draw_entry(entry: Path, outdir: Path) -> list[Path]:
    """Draw an entry's figures from what the store holds (no recomputation)."""
    meta = store.read_meta(entry)
    experiment = _load_plotter(meta["config"]["module"], entry)
    table = store.load(entry)
    arrays = store.load_arrays(entry)
    return experiment.plot(table, arrays, meta["config"], outdir)


#: (job dir, status, error line) of every job this process ran: the end-of-sweep summary.
_JOBS: list[tuple[str, str, str, str]] = []


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name=CONFIG_NAME)
def _hydra_app(cfg: DictConfig) -> None:
    """One job. A runtime failure is logged (with its traceback, in the job's log) and recorded,
    and the sweep goes on; ``main`` prints the summary and exits 1 if any job failed."""
    hc = HydraConfig.get()
    out = hc.runtime.output_dir
    overrides = list(hc.overrides.task)
    try:
        cfg = apply_command_line(cfg, overrides)
        _record_composed(cfg, out)
        status, error = run_job(cfg, out, overrides)["status"], ""
    except ConfigError as err:
        _fail(str(err))
    except Exception as err:  # noqa: BLE001 - one failed job must not kill the sweep
        log.exception("job failed")
        status, error = (
            "failed",
            f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}",
        )
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / JOB_STATUS).write_text(json.dumps({"status": status, "error": error}))
    _JOBS.append((out, status, error, f"{out}/{hc.job.name}.log"))


def _record_composed(cfg: DictConfig, out: str) -> None:
    """Hydra saved the config it composed in ``<run dir>/.hydra/config.yaml``; the run dir
    records what runs, with the command line's precedence (same format: unresolved)."""
    saved = Path(out) / ".hydra" / "config.yaml"
    if saved.is_file():
        saved.write_text(OmegaConf.to_yaml(cfg))


def _summary() -> int:
    """Print what the jobs of this process did; the number of failed jobs."""
    failed = [j for j in _JOBS if j[1] == "failed"]
    if len(_JOBS) > 1 or failed:
        statuses = ("computed", "reused", "repaired", "study")
        counts = {s: sum(j[1] == s for j in _JOBS) for s in statuses}
        done = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        print(f"tntk: {len(_JOBS)} jobs: {done or '0 done'}, {len(failed)} failed", file=sys.stderr)
        for job_dir, _, error, log_path in failed:
            print(f"  failed: {job_dir}: {error} (log: {log_path})", file=sys.stderr)
    return len(failed)


def _split_argv(argv: list[str]) -> tuple[list[str], bool, bool]:
    """(overrides, multirun?, validate?) from Hydra's command line."""
    overrides, multirun, validate = [], False, True
    it = iter(argv)
    for arg in it:
        if arg in ("-m", "--multirun"):
            multirun = True
        elif arg in _INFO_FLAGS:
            validate = False
        elif arg in _VALUE_FLAGS:
            next(it, None)
            validate = False  # another config dir/name: Hydra validates it itself
        elif arg.startswith("-"):
            validate = False
        else:
            overrides.append(arg)
    return overrides, multirun, validate


def main(argv: list[str] | None = None) -> None:
    """``tntk``: validate every job up front (one-line errors, exit 2), then hand over to Hydra."""
    from typicality_ntk._preflight import preflight

    argv = sys.argv[1:] if argv is None else argv
    register_configs()
    register_resolvers()
    overrides, multirun, validate = _split_argv(argv)
    if validate:
        try:
            preflight(CONFIG_DIR, CONFIG_NAME, overrides, multirun)
        except ConfigError as err:
            _fail(str(err))
    sys.argv = [sys.argv[0], *argv]
    _JOBS.clear()
    _hydra_app()
    if _summary():
        sys.exit(1)


def plot_main(argv: list[str] | None = None) -> None:
    """``tntk-plot PATH``: redraw the figures of a run dir, a multirun dir, an entry or a store."""
    parser = argparse.ArgumentParser(prog="tntk-plot", description=plot_main.__doc__)
    parser.add_argument("path", type=Path, help="run dir, multirun dir, store entry or store root")
    args = parser.parse_args(argv)
    try:
        _plot(args.path)
    except ConfigError as err:
        _fail(str(err))


def _plot(path: Path) -> None:
    """Redraw what ``path`` holds (see :func:`plot_main`)."""
    if not path.exists():
        _fail(f"{path}: no such run directory or store")
    jobs = sorted(p.parent for p in path.glob(f"*/{store.STORE_LINK}"))
    if (path / store.STORE_LINK).exists():
        jobs = [path]
    targets = [(store.find_entries(j), j / "figures") for j in jobs]
    n = 0
    studies = sorted(p.parent for p in path.glob(f"*/{STUDY_RECORD}"))
    for study_dir in [path] if (path / STUDY_RECORD).exists() else studies:
        for fig in draw_study(study_dir):
            print(fig)
            n += 1
    if not jobs and not n:
        targets = [
            ([e], path / "figures" / f"{e.parent.name}-{e.name}") for e in store.find_entries(path)
        ]
    for entries, outdir in targets:
        for entry in entries:
            damage = store.check_entry(entry)
            if damage is not None:
                print(
                    f"warning: store entry {entry} is damaged ({damage}); skipped",
                    file=sys.stderr,
                )
                continue
            for fig in draw_entry(entry, outdir):
                print(fig)
                n += 1
    if n == 0:
        _fail(f"{path}: no store entries with figures found")
