"""Empirical NTK of ReLU MLPs: each implementation vs naive ``jax.jacrev`` and neural-tangents.

Every row runs in its own subprocess, so each has its peak resident memory (``ru_maxrss``, the
JAX runtime's ~0.3-0.5 GiB included) and an out-of-memory kill is a result, not a crash of the
benchmark. In a row: the first call (compile included) and the median of ``repeats`` calls after
it, float32, ``x2 = None`` (the kernel of a batch with itself), the full ``(N n_out)^2`` kernel.

* ``ours``: ``jit(empirical_ntk(apply, params, x, implementation=...))`` for each of
  :data:`IMPLEMENTATIONS` on :func:`~typicality_ntk.ntk.make_mlp` networks (NTK
  parameterisation, ``sigma_b = 0.1``).
* ``naive``: what a user writes first: ``jax.jacrev`` of the whole batch's flattened outputs,
  then ``J J^T`` summed leaf by leaf (no concatenated copy of J).
* ``nt``: neural-tangents 0.6.5 itself (``empirical_ntk_fn(..., vmap_axes=0)``, the same
  network built with ``stax``) in its own pinned environment, :mod:`bench.nt_peer` run by
  :data:`NT_PEER_COMMAND`; skipped with the reason where that environment cannot be made.

Rows whose Jacobian (``N n_out P`` float32 numbers, held by naive, Jacobian contraction and
NTK-vector products alike, ours and nt's) would exceed :data:`JACOBIAN_LIMIT_BYTES` are skipped
and say so. FLOPs: :func:`ntk_flops` for the Jacobian routes, :func:`structured_flops` for the
structured one (its Gram products are what the peak fraction of the large rows counts).
"""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

__all__ = [
    "IMPLEMENTATIONS",
    "JACOBIAN_LIMIT_BYTES",
    "NT_PEER_COMMAND",
    "NTK_CASES",
    "bench_ntk",
    "bench_ntk_large",
    "gram_peak_fraction",
    "jacobian_bytes",
    "measure",
    "mlp_params",
    "nt_peer_available",
    "ntk_flops",
    "structured_flops",
]

REPO = Path(__file__).resolve().parents[1]
IMPLEMENTATIONS = ("jacobian_contraction", "ntk_vector_products", "structured", "auto")
#: Jacobian-holding rows (naive, contraction, NTK-vector products) are skipped above this.
JACOBIAN_LIMIT_BYTES = 8 << 30
#: neural-tangents 0.6.5 in a throw-away environment (the pins of scripts/make_nt_reference.py).
NT_PEER_COMMAND = (
    "uv", "run", "--isolated", "--no-project", "--python", "3.11", "--with", "jax==0.4.30",
    "--with", "jaxlib==0.4.30", "--with", "neural-tangents==0.6.5", "python",
)  # fmt: skip
NT_MODES = ("jacobian_contraction", "ntk_vector_products")
SIGMA_B = 0.1

#: The cases of each size profile: (label, n_in, hidden widths, n_out, N).
NOTEBOOK = ("nt-notebook MLP 3072-2048x3-8", 3072, (2048,) * 3, 8, 16)
NTK_CASES = {
    "cpu": [NOTEBOOK]
    + [(f"3-layer w={w}", 16, (w,) * 3, 1, n) for w in (512, 2048) for n in (128, 512)],
    "gpu": [NOTEBOOK, ("3-layer w=2048", 16, (2048,) * 3, 1, 4096)],  # sized for gpu.sh's cap
    "toy": [("toy MLP 8-32x3-2", 8, (32,) * 3, 2, 8)],
}
#: Structured rows at large N (the ``ntk-large`` section): (width, N) per profile.
LARGE_CASES = {
    "cpu": [(512, 4096), (512, 16384)],
    "gpu": [(4096, 4096), (4096, 16384)],
    "toy": [(32, 64)],
}


def mlp_params(n_in: int, widths: tuple[int, ...], n_out: int) -> int:
    """Parameters of the MLP ``n_in -> widths -> n_out`` (weights and biases)."""
    dims = (n_in, *widths, n_out)
    return sum(a * b + b for a, b in zip(dims[:-1], dims[1:], strict=True))


def jacobian_bytes(n_in: int, widths: tuple[int, ...], n_out: int, n: int) -> int:
    """Bytes of the float32 Jacobian of ``n`` examples: ``N n_out P`` numbers."""
    return 4 * n * n_out * mlp_params(n_in, widths, n_out)


def ntk_flops(p: int, n: int, n_out: int = 1) -> float:
    """FLOPs of K = J J^T by Jacobian contraction: ``2 (N n_out)^2 P`` plus ``6 N n_out P`` for
    J (a VJP ~ 3 forward passes of ``2 P``)."""
    m = n * n_out
    return 2.0 * m * m * p + 6.0 * m * p


def structured_flops(n_in: int, widths: tuple[int, ...], n_out: int, n: int) -> dict:
    """FLOPs of the structured kernel: ``gram`` = sum over layers of ``2 N^2 fan_in`` (input
    Gram) + ``2 (N n_out)^2 fan_out`` (cotangent Gram); ``cotangents`` = the forward pass
    ``2 N fan_in fan_out`` per layer + ``n_out`` backward passes ``2 N fan_in fan_out`` per layer
    above the first (no input cotangent). The elementwise products and sums of the N^2 Grams
    are left out."""
    dims = (n_in, *widths, n_out)
    layers = list(zip(dims[:-1], dims[1:], strict=True))
    gram = sum(2.0 * n * n * fi + 2.0 * (n * n_out) ** 2 * fo for fi, fo in layers)
    fwd = sum(2.0 * n * fi * fo for fi, fo in layers)
    bwd = sum(2.0 * n * n_out * fi * fo for fi, fo in layers[1:])
    return {"gram": gram, "cotangents": fwd + bwd}


# -- the child: one row in a fresh process ---------------------------------------------------
def _child(spec_json: str) -> None:
    """In the subprocess: one kernel (ours or naive), timed; one JSON line on stdout."""
    print(json.dumps(measure(json.loads(spec_json))), flush=True)


def measure(spec: dict) -> dict:
    """One row: the kernel of ``spec`` (ours or naive) compiled, timed, its memory read."""
    import jax
    import jax.numpy as jnp

    from bench._timing import block
    from typicality_ntk.ntk import empirical_ntk, make_mlp, n_params

    init, apply = make_mlp(
        widths=tuple(spec["widths"]), n_out=spec["n_out"], activation="relu", sigma_b=SIGMA_B
    )
    x = jax.random.normal(jax.random.key(1), (spec["n"], spec["n_in"]), jnp.float32)
    params = init(jax.random.key(0), x[:1])
    impl = spec["impl"]
    if impl == "naive":

        def kernel(p, x):
            jac = jax.jacrev(lambda q: apply(q, x).reshape(-1))(p)
            leaves = [j.reshape(j.shape[0], -1) for j in jax.tree.leaves(jac)]
            return sum(a @ a.T for a in leaves)

    else:

        def kernel(p, x):
            return empirical_ntk(apply, p, x, implementation=impl)

    fn = jax.jit(kernel)
    t0 = time.perf_counter()
    k = block(fn(params, x))
    compile_s = time.perf_counter() - t0
    times: list[float] = []
    min_time = spec.get("min_time", 1.0)  # fast rows: repeat for at least this long
    while len(times) < spec["repeats"] or (sum(times) < min_time and len(times) < 50):
        t0 = time.perf_counter()
        block(fn(params, x))
        times.append(time.perf_counter() - t0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    stats = jax.devices()[0].memory_stats() or {}  # accelerators: the allocator's peak
    out = {
        "device_peak_bytes": stats.get("peak_bytes_in_use"),
        "status": "ok",
        "time_s": statistics.median(times),
        "compile_s": compile_s,
        "repeats": len(times),
        "peak_rss_bytes": rss,
        "finite": bool(jnp.all(jnp.isfinite(k))),
        "p": n_params(params),
        "device": jax.devices()[0].device_kind,
        "platform": jax.devices()[0].platform,
    }
    return out


def _run(cmd: list[str], timeout: float) -> dict:
    """Run a child; its last stdout line (JSON), or a row status saying why there is none."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env
        )
    except subprocess.TimeoutExpired:
        return {"status": f"timed out after {timeout:.0f} s"}
    except OSError as err:
        return {"status": f"failed: {err}"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = " ".join(proc.stderr.strip().splitlines()[-3:])[-300:]
        killed = " (killed: out of memory?)" if proc.returncode in (-9, 137) else ""
        return {"status": f"failed (exit {proc.returncode}){killed}: {tail}"}
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError:
        return {"status": f"failed: unreadable output {lines[-1][:200]!r}"}


def _ours(spec: dict, timeout: float, in_process: bool = False) -> dict:
    if in_process:  # toy sizes: the process start would dominate (RSS is then the bench's)
        return measure(spec)
    code = f"from bench.ntk import _child; _child({json.dumps(json.dumps(spec))})"
    return _run([sys.executable, "-c", code], timeout)


def nt_peer_available(timeout: float = 900, cuda: bool = False) -> str | None:
    """``None`` if the neural-tangents 0.6.5 environment runs here, else why not (one line)."""
    if shutil.which(NT_PEER_COMMAND[0]) is None:
        return f"`{NT_PEER_COMMAND[0]}` not found (neural-tangents 0.6.5 runs in a uv environment)"
    probe = "import json, neural_tangents; print(json.dumps({'status': 'ok'}))"
    got = _run([*_nt_command(cuda), "-c", probe], timeout)
    return None if got["status"] == "ok" else f"environment not created: {got['status']}"


def _nt_command(cuda: bool) -> list[str]:
    """:data:`NT_PEER_COMMAND`, with JAX 0.4.30's CUDA 12 wheels when ours runs on a GPU."""
    cmd = list(NT_PEER_COMMAND)
    if cuda:
        cmd[cmd.index("jax==0.4.30")] = "jax[cuda12]==0.4.30"
    return cmd


def _nt(spec: dict, timeout: float, cuda: bool = False) -> dict:
    args = {k: spec[k] for k in ("n_in", "widths", "n_out", "n", "repeats")}
    args.update(implementation=spec["impl"], sigma_b=SIGMA_B)
    cmd = [*_nt_command(cuda), str(REPO / "bench" / "nt_peer.py"), json.dumps(args)]
    got = _run(cmd, timeout)
    if cuda and got.get("status") == "ok" and got.get("platform") != "gpu":
        return {"status": f"skipped: neural-tangents ran on {got.get('platform')}, not the GPU"}
    return got


def bench_ntk(
    cases: list[tuple],
    repeats: int,
    *,
    nt: bool | str = True,
    timeout: float = 1800,
    nt_cuda: bool = False,
    rounds: int = 2,
    min_time: float = 1.0,
    in_process: bool = False,
    log=print,
) -> list[dict]:
    """Rows of every case: ours (each implementation), naive jacrev, nt 0.6.5 (two modes).

    Args:
        cases: ``(label, n_in, widths, n_out, N)`` tuples (:data:`NTK_CASES`).
        repeats: timed calls per row after the compiling one (more when a call is < 1 s).
        nt: run neural-tangents' rows; a string: skip them, with that reason.
        timeout: seconds per row (its subprocess).
        nt_cuda: run neural-tangents with JAX 0.4.30's CUDA 12 wheels (ours is on a GPU).
        rounds: the rows compared with nt's (both modes, ours and nt's) run this many times,
            interleaved; each keeps its fastest round (``rounds`` in the row).
        min_time: a row repeats its timed call until this many seconds have passed (at most 50
            calls), so millisecond rows are not a single noisy reading.
        in_process: run our rows in this process (toy sizes: no subprocess, no RSS per row).
        log: progress lines.

    Returns:
        One dict per row: ``case``, ``who`` (ours / naive / nt), ``impl``, ``status`` ("ok",
        "skipped: ...", "failed ..."), ``time_s``, ``compile_s``, ``peak_rss_bytes``, ``p``,
        ``flops`` (the Jacobian route's, :func:`ntk_flops`), ``gram_flops`` (structured).
    """
    nt_skip = nt if isinstance(nt, str) else (None if nt else "not asked for")
    if nt_skip is None:
        nt_skip = nt_peer_available(cuda=nt_cuda)
        if nt_skip:
            log(f"[bench] neural-tangents rows skipped: {nt_skip}")
    rows = []
    for label, n_in, widths, n_out, n in cases:
        widths = tuple(widths)
        p = mlp_params(n_in, widths, n_out)
        jac = jacobian_bytes(n_in, widths, n_out, n)
        base = {"case": f"{label} N={n}", "n_in": n_in, "widths": list(widths),
                "width": widths[0], "n_out": n_out, "n": n, "p": p, "jacobian_bytes": jac,
                "flops": ntk_flops(p, n, n_out),
                "gram_flops": structured_flops(n_in, widths, n_out, n)["gram"]}  # fmt: skip
        spec = {"n_in": n_in, "widths": list(widths), "n_out": n_out, "n": n, "repeats": repeats,
                "min_time": min_time}  # fmt: skip
        plan = [("naive", "naive")] + [("ours", i) for i in IMPLEMENTATIONS]
        plan += [("nt", m) for m in NT_MODES]
        # later rounds: only the rows compared with nt's, interleaved again (load drifts)
        extra = 0 if nt_skip or jac > JACOBIAN_LIMIT_BYTES else rounds - 1
        plan += [(w, m) for _ in range(extra) for w in ("ours", "nt") for m in NT_MODES]
        done: dict[tuple[str, str], dict] = {}
        for who, impl in plan:
            row = {**base, "who": who, "impl": impl}
            holds_j = who in ("naive", "nt") or impl in NT_MODES
            if holds_j and jac > JACOBIAN_LIMIT_BYTES:
                row["status"] = (
                    f"skipped: J would be {jac / 2**30:.1f} GiB "
                    f"(> {JACOBIAN_LIMIT_BYTES / 2**30:.0f} GiB)"
                )
            elif who == "nt" and nt_skip:
                row["status"] = f"skipped: {nt_skip}"
            else:
                t0 = time.perf_counter()
                if who == "nt":
                    got = _nt({**spec, "impl": impl}, timeout, nt_cuda)
                else:
                    got = _ours({**spec, "impl": impl}, timeout, in_process)
                row.update(got)
                row["wall_s"] = time.perf_counter() - t0
            log(f"[bench] ntk {row['case']} {who} {impl}: {_summary(row)}")
            prev = done.get((who, impl))
            if prev is None:
                row["rounds"] = 1
                done[(who, impl)] = row
                rows.append(row)
            elif row.get("status") == "ok":  # keep the faster round's row
                row["rounds"] = prev["rounds"] + 1
                if prev.get("status") != "ok" or row["time_s"] < prev["time_s"]:
                    rows[rows.index(prev)] = done[(who, impl)] = row
                else:
                    prev["rounds"] = row["rounds"]
    return rows


def _summary(row: dict) -> str:
    if row.get("status") != "ok":
        return row.get("status", "?")
    rss = row.get("peak_rss_bytes", float("nan")) / 2**30
    return f"{row['time_s']:.4g} s (compile {row['compile_s']:.3g} s), {rss:.2f} GiB"


def bench_ntk_large(
    cases: list[tuple[int, int]],
    repeats: int,
    *,
    timeout: float = 1800,
    min_time: float = 1.0,
    in_process: bool = False,
    log=print,
) -> list[dict]:
    """``structured`` at large N (3-layer ReLU MLP of 16 inputs, one output), each in a fresh
    process: time after compile, the first call, peak resident memory, Gram FLOPs."""
    rows = []
    for width, n in cases:
        widths = (width,) * 3
        flops = structured_flops(16, widths, 1, n)
        row = {"case": f"3-layer w={width} N={n} structured", "width": width, "n": n,
               "p": mlp_params(16, widths, 1), "gram_flops": flops["gram"], "who": "ours",
               "cotangent_flops": flops["cotangents"], "impl": "structured"}  # fmt: skip
        spec = {"n_in": 16, "widths": list(widths), "n_out": 1, "n": n, "impl": "structured",
                "min_time": min_time}  # fmt: skip
        t0 = time.perf_counter()
        row.update(_ours({**spec, "repeats": repeats if n <= 4096 else 1}, timeout, in_process))
        row["wall_s"] = time.perf_counter() - t0
        log(f"[bench] ntk-large {row['case']}: {_summary(row)}")
        rows.append(row)
    return rows


def gram_peak_fraction(row: dict, peak: float) -> float:
    """Fraction of the measured f32 matmul peak the structured row's Gram products ran at."""
    if row.get("status") != "ok":
        return math.nan
    return row["gram_flops"] / row["time_s"] / peak
