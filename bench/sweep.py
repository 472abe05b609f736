"""Double-descent width sweep: each ``sweep.mode`` against the per-width loop, compile included.

The case of issue 4/5: the full network learner (GD, full batch, MSE), 20 log-spaced widths
2..2000, 8 seeds, 2000 steps, float32, on the double_descent experiment's default data (N = 40
synthetic points, 8 inputs). Every mode runs through the real runner from a cold start: a fresh
:class:`~typicality_ntk.sweep.Runner`, ``jax.clear_caches()`` and the persistent compilation cache
off, so the wall time is what a user's first run of the sweep costs (programs compiled + run).
"""

from __future__ import annotations

import time

import jax
import numpy as np
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from experiments import double_descent as dd
from typicality_ntk.cli import CONFIG_DIR
from typicality_ntk.config import register_configs
from typicality_ntk.sweep import Runner, experiment_config, load_experiment

__all__ = ["MODES", "bench_sweep", "sweep_config"]

MODES = ("loop", "bucketed", "masked", "auto")


def sweep_config(mode: str, *, n_widths: int, max_width: int, samples: int, steps: int):
    """The double_descent config of the benchmark case (``sweep.mode=mode``)."""
    widths = sorted({int(w) for w in np.round(np.geomspace(2, max_width, n_widths))})
    overrides = [
        "experiment=double_descent",
        "learner=network",
        f"sweep.mode={mode}",
        f"model.widths=[{','.join(map(str, widths))}]",
        f"samples={samples}",
        f"optim.steps={steps}",
        "precision=float32",
    ]
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = experiment_config(compose("config", overrides=overrides))[0]
    GlobalHydra.instance().clear()
    return cfg


def bench_sweep(mode: str, **sizes) -> dict:
    """Cold wall time of one sweep in ``mode``: compile and run seconds, programs compiled."""
    cfg = sweep_config(mode, **sizes)
    jax.config.update("jax_enable_compilation_cache", False)
    jax.clear_caches()
    runner = Runner(progress=False)
    t0 = time.perf_counter()
    result = runner.run(load_experiment(cfg.module), cfg)
    wall = time.perf_counter() - t0
    jax.config.update("jax_enable_compilation_cache", True)
    return {
        "mode": mode,
        "resolved": dd.resolve_mode(cfg, n_in=int(cfg.data.dim), n_out=int(cfg.data.outputs)),
        "widths": len(cfg.model.widths),
        "wall_s": wall,
        "compile_s": result.compile_seconds,
        "run_s": result.run_seconds,
        "programs": result.n_compiles,
        "mean_train_loss": float(result.table["train_loss"].mean()),
    }


def bench_sweeps(repeats: int, on_partial=None, modes=MODES, **sizes) -> list[dict]:
    """Every mode ``repeats`` times, interleaved (loop, bucketed, masked, auto, loop, ...) so slow
    drifts of a shared machine hit every mode alike; the row of a mode holds median seconds.
    ``on_partial(rows)`` (optional) gets the rows measured so far after every run (a run stopped
    by a timeout keeps them); ``modes`` sets the order."""
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    for _ in range(repeats):
        for mode in modes:
            r = bench_sweep(mode, **sizes)
            runs[mode].append(r)
            wall, comp, n = r["wall_s"], r["compile_s"], r["programs"]
            print(f"[bench] sweep.mode={mode}: {wall:.1f} s, compile {comp:.1f} s, {n} programs")
            if on_partial is not None:
                on_partial(_summarize(runs))
    return _summarize(runs)


def _summarize(runs: dict[str, list[dict]]) -> list[dict]:
    """One row per mode run so far (median seconds); ratios against the loop once it ran."""
    rows = []
    for rs in runs.values():
        if not rs:
            continue
        row = dict(rs[0])
        for k in ("wall_s", "compile_s", "run_s"):
            row[k] = float(np.median([r[k] for r in rs]))
        row["repeats"] = len(rs)
        rows.append(row)
    loop = next((row for row in rows if row["mode"] == "loop"), None)
    for row in rows if loop else ():
        row["ratio_loop"] = loop["wall_s"] / row["wall_s"]
        row["compile_vs_loop"] = row["compile_s"] / loop["compile_s"]
    return rows
