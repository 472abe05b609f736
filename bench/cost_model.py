"""Re-measure and refit the JC-vs-VP cost model: ``uv run python -m bench.cost_model [--out F]``.

Times :data:`~typicality_ntk.ntk.NtkImplementation.JACOBIAN_CONTRACTION` and
``NTK_VECTOR_PRODUCTS`` (forced, ``jit(make_ntk_fn(...))``, the full ``(N n_out)^2`` kernel,
float32) on 3-layer ReLU MLPs from ``make_mlp`` (16 inputs) over a grid of widths, N and n_out,
``x2 = None`` and, at one N, ``x2 != x1``; after compiling both, ``--repeats`` interleaved rounds
(JC, VP, JC, VP, ...) and the median of each. Cases whose Jacobian (one of them) exceeds 2 GiB,
``auto``'s budget, or whose contraction exceeds ``--max-gflop`` are skipped. Then :func:`fit`
grid-searches the three ``COST_*`` constants of ``select_implementation`` (most cases picked
right, then the smallest rms log error of the predicted time ratio) and prints the table with
the current constants' and the fitted ones' picks. ``--refit F [F ...]`` refits the rows kept by
earlier ``--out F`` runs (together) without measuring: ``--refit bench/cost_model_rows.json``
gives the committed constants from the two runs they were fitted to. A run takes 4-5 minutes
on 2 shared CPU cores with the defaults.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from typicality_ntk.ntk import NtkImplementation, _empirical, make_mlp, make_ntk_fn, n_params

JC, VP = NtkImplementation.JACOBIAN_CONTRACTION, NtkImplementation.NTK_VECTOR_PRODUCTS
N_IN = 16
DEPTH = 3
WIDTHS = (64, 256, 1024)
NS = (16, 128, 512)
N_OUTS = (1, 8)
ASYMMETRIC_N = 128  # x2 != x1 (N2 = N1) at this N
JACOBIAN_LIMIT_BYTES = 2 << 30


def cases(max_gflop: float) -> list[dict]:
    """The grid, with ``P`` and the skip reason (``None``: measured)."""
    out = []
    for width, n, n_out in itertools.product(WIDTHS, NS, N_OUTS):
        for symmetric in (True, False) if n == ASYMMETRIC_N else (True,):
            p = (N_IN + 1) * width + (DEPTH - 1) * (width + 1) * width + (width + 1) * n_out
            jac = n * n_out * p * 4  # one Jacobian, as auto's budget counts it
            gflop = 2 * (n * n_out) ** 2 * p / 1e9
            skip = None
            if jac > JACOBIAN_LIMIT_BYTES:
                skip = f"J {jac / 2**30:.1f} GiB"
            elif gflop > max_gflop:
                skip = f"contraction {gflop:.0f} GFLOP"
            out.append(dict(width=width, n=n, n_out=n_out, symmetric=symmetric, p=p, skip=skip))
    return out


def measure(case: dict, repeats: int) -> dict:
    """Median seconds of JC and VP after compile, ``repeats`` interleaved rounds."""
    init, apply = make_mlp(widths=(case["width"],) * DEPTH, n_out=case["n_out"], activation="relu")
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    x1 = jax.random.normal(k1, (case["n"], N_IN), jnp.float32)
    x2 = None if case["symmetric"] else jax.random.normal(k2, (case["n"], N_IN), jnp.float32)
    params = init(k3, x1[:1])
    assert n_params(params) == case["p"], (n_params(params), case["p"])
    fns = {}
    for impl in (JC, VP):
        fn = jax.jit(make_ntk_fn(apply, implementation=impl))
        t0 = time.perf_counter()
        jax.block_until_ready(fn(params, x1, x2))
        case[f"compile_{impl.value}"] = time.perf_counter() - t0
        fns[impl] = fn
    times = {JC: [], VP: []}
    for _ in range(repeats):
        for impl in (JC, VP):
            t0 = time.perf_counter()
            jax.block_until_ready(fns[impl](params, x1, x2))
            times[impl].append(time.perf_counter() - t0)
    case["jc_s"] = statistics.median(times[JC])
    case["vp_s"] = statistics.median(times[VP])
    return case


def _terms(rows: list[dict]) -> dict[str, np.ndarray]:
    """Per row, the FLOP terms and the multipliers of the constants in both costs
    (``A = 2 sqrt(P)``, as ``auto`` calls ``select_implementation``)."""
    n = np.array([r["n"] for r in rows], float)
    o = np.array([r["n_out"] for r in rows], float)
    p = np.array([r["p"] for r in rows], float)
    n_jac = np.array([r["n"] * (1 if r["symmetric"] else 2) for r in rows], float)
    return dict(
        jc_flops=2 * n * n * o**2 * p,
        jc_jac=o * p * n_jac,
        vp_flops=4 * n * n * o * p,
        vp_tan=n * o * n * 2.0 * np.sqrt(p),
        vp_jac=o * p * n,
    )


def log_ratio(rows: list[dict], c_jac, c_vp_jac, c_tan) -> np.ndarray:
    """``log(cost_jc / cost_vp)`` per row with these constants (scalars, or arrays that
    broadcast against a trailing rows axis)."""
    t = _terms(rows)
    c_jac, c_vp_jac, c_tan = (np.asarray(c, float)[..., None] for c in (c_jac, c_vp_jac, c_tan))
    cost_jc = t["jc_flops"] + c_jac * t["jc_jac"]
    cost_vp = t["vp_flops"] + c_tan * t["vp_tan"] + c_vp_jac * t["vp_jac"]
    return np.log(cost_jc / cost_vp)


def _measured(rows: list[dict]) -> np.ndarray:
    return np.log([r["jc_s"] / r["vp_s"] for r in rows])


def score(rows: list[dict], consts) -> tuple[int, float]:
    """(cases picked right, rms of log(predicted ratio / measured ratio))."""
    predicted, measured = log_ratio(rows, *consts), _measured(rows)
    hits = int(np.sum((predicted <= 0) == (measured <= 0)))
    return hits, float(np.sqrt(np.mean((predicted - measured) ** 2)))


def fit(rows: list[dict]) -> tuple[tuple[float, float, float], tuple[int, float]]:
    """Constants on a log grid from 10 to 1e5 (2 significant digits): most cases picked right
    first, then the smallest rms log error of the predicted ratio."""
    grid = np.array(sorted({float(f"{v:.2g}") for v in np.geomspace(10, 1e5, 97)}))
    c_vp_jac, c_tan = (c.reshape(-1) for c in np.meshgrid(grid, grid, indexing="ij"))
    measured = _measured(rows)
    best = None
    for c_jac in grid:  # one plane of the grid at a time (the whole cube is ~1 GB)
        predicted = log_ratio(rows, c_jac, c_vp_jac, c_tan)
        hits = np.sum((predicted <= 0) == (measured <= 0), axis=1)
        rms = np.sqrt(np.mean((predicted - measured) ** 2, axis=1))
        i = np.lexsort((rms, -hits))[0]
        if best is None or (-hits[i], rms[i]) < best[0]:
            best = ((-hits[i], rms[i]), (float(c_jac), float(c_vp_jac[i]), float(c_tan[i])))
    consts = best[1]
    return consts, score(rows, consts)


def table(rows: list[dict], consts: tuple[float, float, float]) -> str:
    current = (
        _empirical.COST_JACOBIAN_ENTRY,
        _empirical.COST_VP_JACOBIAN_ENTRY,
        _empirical.COST_TANGENT_ACTIVATION,
    )
    lines = [
        "| run | width | N | n_out | x2 | P | JC s | VP s | JC/VP | faster "
        "| current pick | fitted pick | fitted predicted JC/VP |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    old_pred, new_pred = log_ratio(rows, *current), log_ratio(rows, *consts)
    for r, old_lr, new_lr in zip(rows, old_pred, new_pred, strict=True):
        ratio = r["jc_s"] / r["vp_s"]
        old = "JC" if old_lr <= 0 else "VP"
        new = "JC" if new_lr <= 0 else "VP"
        lines.append(
            f"| {r.get('run', '')} | {r['width']} | {r['n']} | {r['n_out']} "
            f"| {'None' if r['symmetric'] else 'x2'} "
            f"| {r['p']} | {r['jc_s']:.4f} | {r['vp_s']:.4f} | {ratio:.2f} "
            f"| {'JC' if ratio <= 1 else 'VP'} | {old} | {new} "
            f"| {math.exp(new_lr):.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-gflop", type=float, default=2000.0)
    parser.add_argument("--out", help="write the measured rows here (JSON)")
    parser.add_argument(
        "--refit", nargs="+", help="refit the rows of these JSON files together; measure nothing"
    )
    args = parser.parse_args()
    if args.refit:
        rows = []
        for path in args.refit:
            with open(path) as f:
                rows += json.load(f)["rows"]
    else:
        rows = []
        for case in cases(args.max_gflop):
            if case["skip"]:
                print(f"skip {case}", flush=True)
                continue
            rows.append(measure(case, args.repeats))
            r = rows[-1]
            print(
                f"w={r['width']} N={r['n']} n_out={r['n_out']} sym={r['symmetric']}: "
                f"JC {r['jc_s']:.4f} s, VP {r['vp_s']:.4f} s",
                flush=True,
            )
            if args.out:
                with open(args.out, "w") as f:
                    json.dump({"jax": jax.__version__, "rows": rows}, f, indent=1)
    current = (
        _empirical.COST_JACOBIAN_ENTRY,
        _empirical.COST_VP_JACOBIAN_ENTRY,
        _empirical.COST_TANGENT_ACTIVATION,
    )
    consts, (hits, rms) = fit(rows)
    old_hits, old_rms = score(rows, current)
    print(table(rows, consts))
    print(
        f"current constants (jac, vp_jac, tangent) {current}: {old_hits}/{len(rows)} right, "
        f"rms log error {old_rms:.2f}"
    )
    print(f"fitted constants {consts}: {hits}/{len(rows)} right, rms log error {rms:.2f}")


if __name__ == "__main__":
    main()
