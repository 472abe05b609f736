"""Benchmarks against the baselines a user would otherwise use.

Run: ``uv run --group bench python -m bench`` (``--quick`` for a smoke run).

Every figure is a ratio against a baseline timed in the same run on the same machine (median of
``--repeats`` runs after one warm-up; compile time reported separately), so shared, noisy machines
still give meaningful numbers. Writes a markdown table to bench/RESULTS.md (``--out``) with the
device named; absolute times are only claims on the GPU machine.

1. Haar reduced spectra + purity + S_vN per state: ours (jit + vmap, the page_curve path) vs NumPy
   batched (Gaussian -> Gram matmul -> eigvalsh) vs a QuTiP 5 loop (Qobj -> ptrace -> entropy_vn).
2. Empirical NTK of a 3-layer MLP: each implementation vs naive ``jax.jacrev`` of the whole batch
   followed by J J^T.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from typicality_ntk.ntk import empirical_ntk, make_mlp
from typicality_ntk.quantum import haar_state, purity, schmidt_spectrum, von_neumann_entropy


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up (compiles)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _block(x):
    return jax.block_until_ready(x)


def bench_haar(d_a: int, d_b: int, n_states: int, repeats: int) -> dict:
    """States per second of each path at (dA, dB); ratios against the QuTiP loop and NumPy."""

    def one(key):
        lam = schmidt_spectrum(haar_state(key, d_a * d_b), d_a, d_b)
        return purity(lam), von_neumann_entropy(lam)

    ours = jax.jit(jax.vmap(one))
    keys = jax.random.split(jax.random.key(0), n_states)
    t0 = time.perf_counter()
    _block(ours(keys))
    compile_s = time.perf_counter() - t0
    t_ours = _median_time(lambda: _block(ours(keys)), repeats)

    rng = np.random.default_rng(0)

    def numpy_batched():
        z = rng.standard_normal((n_states, d_a, d_b), np.float32) + 1j * rng.standard_normal(
            (n_states, d_a, d_b), np.float32
        )
        z /= np.linalg.norm(z, axis=(1, 2), keepdims=True)
        g = z @ np.conj(np.swapaxes(z, 1, 2)) if d_a <= d_b else np.conj(np.swapaxes(z, 1, 2)) @ z
        lam = np.clip(np.linalg.eigvalsh(g), 0, None)
        return (lam**2).sum(1), -(lam * np.log(np.where(lam > 0, lam, 1))).sum(1)

    t_np = _median_time(numpy_batched, repeats)
    row = {
        "case": f"Haar spectra ({d_a},{d_b}), {n_states} states",
        "ours_s": t_ours,
        "compile_s": compile_s,
        "numpy_s": t_np,
        "ratio_numpy": t_np / t_ours,
        "states_per_s": n_states / t_ours,
    }
    try:
        import qutip
    except ImportError:
        row["ratio_qutip"] = float("nan")
        return row
    n_q = max(4, n_states // 64)  # the QuTiP loop is slow: time a subset, scale per state

    def qutip_loop():
        for _ in range(n_q):
            z = rng.standard_normal(d_a * d_b) + 1j * rng.standard_normal(d_a * d_b)
            ket = qutip.Qobj(z / np.linalg.norm(z), dims=[[d_a, d_b], [1, 1]])
            rho = ket.ptrace(0)
            (rho * rho).tr(), qutip.entropy_vn(rho)

    t_q = _median_time(qutip_loop, max(1, repeats // 2)) * n_states / n_q
    row["ratio_qutip"] = t_q / t_ours
    return row


def bench_ntk(width: int, n: int, repeats: int) -> list[dict]:
    """Our empirical NTK implementations vs naive jacrev of the batch + J J^T (float32)."""
    init, apply = make_mlp(widths=(width,) * 3, n_out=1, activation="relu")
    x = jax.random.normal(jax.random.key(1), (n, 16))
    params = init(jax.random.key(0), x[:1])

    def naive(p, x):
        jac = jax.jacrev(lambda q: apply(q, x).reshape(-1))(p)
        flat = jnp.concatenate([j.reshape(j.shape[0], -1) for j in jax.tree.leaves(jac)], 1)
        return flat @ flat.T

    naive_jit = jax.jit(naive)
    try:
        t_naive = _median_time(lambda: _block(naive_jit(params, x)), repeats)
    except Exception as err:  # noqa: BLE001 - an out-of-memory baseline is a result, not a crash
        print(f"naive jacrev failed at w={width}, N={n}: {type(err).__name__}")
        t_naive = float("nan")
    rows = []
    for impl in ("jacobian_contraction", "ntk_vector_products", "auto"):
        fn = jax.jit(lambda p, x, impl=impl: empirical_ntk(apply, p, x, implementation=impl))
        t0 = time.perf_counter()
        _block(fn(params, x))
        compile_s = time.perf_counter() - t0
        t = _median_time(lambda fn=fn: _block(fn(params, x)), repeats)
        rows.append(
            {
                "case": f"NTK 3-layer w={width} N={n} {impl}",
                "ours_s": t,
                "compile_s": compile_s,
                "naive_s": t_naive,
                "ratio_naive": t_naive / t,
            }
        )
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "RESULTS.md")
    args = parser.parse_args(argv)
    dev = jax.devices()[0]
    device = f"{len(jax.devices())}x {dev.device_kind} ({dev.platform}), {platform.processor()}"
    haar_cases = [(8, 8, 64)] if args.quick else [(64, 64, 2048), (16, 256, 2048), (256, 256, 256)]
    ntk_cases = [(32, 8)] if args.quick else [(512, 128), (512, 512)]
    rows = [bench_haar(a, b, s, args.repeats) for a, b, s in haar_cases]
    ntk_rows = [r for w, n in ntk_cases for r in bench_ntk(w, n, args.repeats)]
    lines = [
        f"## Benchmarks on {device}, jax {jax.__version__}",
        "",
        f"Median of {args.repeats} repeats after a warm-up; ratios > 1: faster than the baseline.",
        "",
        "| case | ours (s) | compile (s) | vs NumPy batched | vs QuTiP loop | states/s |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['ours_s']:.4g} | {r['compile_s']:.3g} | "
            f"{r['ratio_numpy']:.2f}x | {r['ratio_qutip']:.1f}x | {r['states_per_s']:.3g} |"
        )
    lines += ["", "| case | ours (s) | compile (s) | vs naive jacrev + J J^T |"]
    lines += ["|---|---|---|---|"]
    for r in ntk_rows:
        lines.append(
            f"| {r['case']} | {r['ours_s']:.4g} | {r['compile_s']:.3g} | {r['ratio_naive']:.2f}x |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
