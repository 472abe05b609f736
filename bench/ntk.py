"""Empirical NTK of a 3-layer MLP: each implementation vs naive ``jax.jacrev`` + ``J J^T``.

Float32, 16 inputs, one output. The naive baseline is what a user writes first: the Jacobian of
the whole batch's outputs with ``jax.jacrev``, flattened, times its transpose. The large case
(width 2048, N = 512: J alone is 17 GB) runs in a subprocess so its peak resident memory can be
read (``ru_maxrss``) and an out-of-memory kill is a result, not a crash of the benchmark.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp

from bench._timing import block, cold_seconds, median_seconds
from typicality_ntk.ntk import empirical_ntk, make_mlp, n_params

__all__ = ["IMPLEMENTATIONS", "bench_ntk", "bench_ntk_large", "ntk_flops"]

IMPLEMENTATIONS = ("jacobian_contraction", "ntk_vector_products", "auto")


def _problem(width: int, n: int):
    init, apply = make_mlp(widths=(width,) * 3, n_out=1, activation="relu")
    x = jax.random.normal(jax.random.key(1), (n, 16))
    return apply, init(jax.random.key(0), x[:1]), x


def ntk_flops(p: int, n: int) -> float:
    """FLOPs of K = J J^T by Jacobian contraction: ``2 N^2 P`` plus ``6 N P`` for J (one
    output; a VJP ~ 3 forward passes of ``2 P``)."""
    return 2.0 * n * n * p + 6.0 * n * p


def bench_ntk(width: int, n: int, repeats: int, peak_f32: float) -> list[dict]:
    """Our empirical NTK implementations vs naive jacrev of the batch + J J^T (float32)."""
    apply, params, x = _problem(width, n)

    def naive(p, x):
        jac = jax.jacrev(lambda q: apply(q, x).reshape(-1))(p)
        flat = jnp.concatenate([j.reshape(j.shape[0], -1) for j in jax.tree.leaves(jac)], 1)
        return flat @ flat.T

    naive_jit = jax.jit(naive)
    try:
        t_naive = median_seconds(lambda: naive_jit(params, x), repeats)
    except Exception as err:  # noqa: BLE001 - an out-of-memory baseline is a result, not a crash
        print(f"naive jacrev failed at w={width}, N={n}: {type(err).__name__}")
        t_naive = float("nan")
    flops = ntk_flops(n_params(params), n)
    rows = []
    for impl in IMPLEMENTATIONS:
        fn = jax.jit(lambda p, x, impl=impl: empirical_ntk(apply, p, x, implementation=impl))
        compile_s = cold_seconds(lambda fn=fn: fn(params, x))
        t = median_seconds(lambda fn=fn: fn(params, x), repeats)
        rows.append(
            {
                "case": f"NTK 3-layer w={width} N={n} {impl}",
                "width": width,
                "n": n,
                "impl": impl,
                "ours_s": t,
                "compile_s": compile_s,
                "naive_s": t_naive,
                "ratio_naive": t_naive / t,
                "peak_fraction": flops / t / peak_f32,
            }
        )
    return rows


def _large_child(width: int, n: int) -> None:
    """In the subprocess: one ``auto`` kernel, its wall time and the peak RSS, as JSON."""
    apply, params, x = _problem(width, n)
    fn = jax.jit(lambda p, x: empirical_ntk(apply, p, x, implementation="auto"))
    t0 = time.perf_counter()
    k = block(fn(params, x))
    wall = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    ok = bool(jnp.all(jnp.isfinite(k)))
    print(json.dumps({"wall_s": wall, "peak_rss_bytes": rss, "finite": ok, "p": n_params(params)}))


def bench_ntk_large(width: int = 2048, n: int = 512, timeout: float = 1800) -> dict:
    """``auto`` at (width, N) in a fresh process: wall time (compile included) and peak memory."""
    code = f"from bench.ntk import _large_child; _large_child({width}, {n})"
    row = {"case": f"NTK 3-layer w={width} N={n} auto", "width": width, "n": n}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=Path(__file__).resolve().parents[1],
        )
    except subprocess.TimeoutExpired:
        return {**row, "status": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        return {**row, "status": f"failed (exit {proc.returncode}): {proc.stderr[-300:]}"}
    return {**row, "status": "completed", **json.loads(proc.stdout.strip().splitlines()[-1])}
