"""Benchmarks against the baselines a user would otherwise use.

Run: ``uv run --group bench python -m bench`` (all sections, ~45 min on 2 CPU cores), or
``--only haar,ntk`` for some of them, ``--quick`` for a smoke run (tiny sizes, nothing written).
On a GPU machine ``bash bench/gpu.sh`` runs the GPU profile (``--gpu``: GPU sizes, rows kept
under ``"gpu"`` in results.json and rendered as the GPU part of RESULTS.md; see bench/README.md).

Every figure is a ratio against a baseline timed in the same run on the same machine (median of
``--repeats`` runs after one warm-up; compile time reported separately), so shared, noisy machines
still give meaningful numbers; absolute times are claims only on the GPU machine. Each section's
rows are kept in bench/results.json (a section run again replaces its rows), and bench/RESULTS.md
is rendered from all of them with the device named and every target marked met or not; the notes
below the ``NOTES_MARKER`` line of RESULTS.md are hand-written and kept.

Sections (see each module):

* ``haar`` (bench/haar.py): Haar reduced spectra + purity + S_vN per state vs NumPy batched and
  a QuTiP 5 loop; the purity-only path vs the spectral one; states/s, fraction of the measured
  complex64 matmul peak.
* ``ntk`` (bench/ntk.py): every empirical NTK implementation vs naive ``jacrev`` + J J^T and vs
  neural-tangents 0.6.5 itself (run in its own pinned environment), at the nt-notebook MLP
  (3072-2048x3-8, N = 16) and 3-layer MLPs of width 512 and 2048; each row in a subprocess with
  its peak resident memory.
* ``ntk-large``: ``structured`` at width 512, N = 4096 and 16384 (GPU: width 4096): time, peak
  memory, fraction of the f32 matmul peak on its Gram products.
* ``sweep`` (bench/sweep.py): double-descent sweep, 20 widths x 8 seeds x 2000 GD steps, each
  ``sweep.mode`` from a cold start vs the per-width loop, compile included.

``--gpu --only "" --steps FILE`` stores the steps of bench/gpu.sh (tests, the paper run, a
section that timed out: status and seconds) in the GPU part and re-renders RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
from pathlib import Path

import jax
import numpy as np

from bench._timing import matmul_peak_flops
from bench.ntk import (
    LARGE_CASES,
    NOTEBOOK,
    NTK_CASES,
    bench_ntk,
    bench_ntk_large,
    gram_peak_fraction,
)

HERE = Path(__file__).parent
SECTIONS = ("haar", "ntk", "ntk-large", "sweep")
PROFILES = ("cpu", "gpu", "toy")
STEPS = ("setup", "tests", *SECTIONS, "paper")  # bench/gpu.sh's steps
NOTES_MARKER = "<!-- notes: hand-written, kept by python -m bench -->"
GIB = 1 << 30
#: Haar cases per profile: (dA, dB, states); GPU: 10^6 states of 12 qubits, chunked.
HAAR_CASES = {
    "cpu": [(64, 64, 2048), (16, 256, 2048), (256, 256, 256)],
    "gpu": [(64, 64, 10**6), (16, 256, 10**6)],
    "toy": [(8, 8, 64)],
}
SWEEP_SIZES = {
    "cpu": {"n_widths": 20, "max_width": 2000, "samples": 8, "steps": 2000},
    "gpu": {"n_widths": 20, "max_width": 2000, "samples": 8, "steps": 2000},
    "toy": {"n_widths": 2, "max_width": 8, "samples": 2, "steps": 20},
}


def _device() -> str:
    dev = jax.devices()[0]
    cpu = platform.processor() or platform.machine()
    return f"{len(jax.devices())}x {dev.device_kind} ({dev.platform}), host {cpu}"


def run_section(name: str, args, save=None) -> dict:
    """Rows of one section, with the device and the machine's matmul peaks.

    ``save(partial_section)`` (optional) is called with partial results where a section has
    them (the sweep, after each mode), so a killed run keeps what it measured.
    """
    prof, r = args.sizes, args.repeats
    out: dict = {"device": _device(), "jax": jax.__version__, "backend": jax.default_backend()}
    out["date"] = datetime.date.today().isoformat()
    out["sizes"] = prof
    peak_n = {"toy": 256, "cpu": 2048, "gpu": 8192}[prof]
    if name == "haar":
        from bench.haar import bench_haar  # imported here: rendering alone stays light

        out["peak_c64"] = matmul_peak_flops(np.complex64, peak_n // 2)
        gpu = prof == "gpu"
        out["rows"] = [
            bench_haar(
                a,
                b,
                s,
                r,
                out["peak_c64"],
                chunk=250_000 if gpu else None,
                baseline_states=4096 if gpu else None,
            )  # fmt: skip
            for a, b, s in HAAR_CASES[prof]
        ]
    elif name == "ntk":
        out["peak_f32"] = matmul_peak_flops(np.float32, peak_n, precision="highest")
        nt = "not asked for (--no-nt)" if not args.nt else True if prof != "toy" else "toy sizes"
        timeout = 300 if prof == "gpu" else 1800
        cuda = jax.default_backend() == "gpu"  # nt on the same device: its CUDA wheels
        rounds, min_time = (3, 1.0) if prof == "cpu" else (1, 0.0 if prof == "toy" else 1.0)
        out["rows"] = bench_ntk(NTK_CASES[prof], r, nt=nt, timeout=timeout, nt_cuda=cuda,
                                rounds=rounds, min_time=min_time,
                                in_process=prof == "toy")  # fmt: skip
    elif name == "ntk-large":
        out["peak_f32"] = matmul_peak_flops(np.float32, peak_n, precision="highest")
        timeout, min_time = (300, 1.0) if prof == "gpu" else (1800, 0.0 if prof == "toy" else 1.0)
        out["rows"] = bench_ntk_large(LARGE_CASES[prof], r, timeout=timeout, min_time=min_time,
                                      in_process=prof == "toy")  # fmt: skip
    elif name == "sweep":
        from bench.sweep import MODES, bench_sweeps

        out["sizes_sweep"] = sizes = SWEEP_SIZES[prof]
        repeats = 1 if prof != "cpu" else args.sweep_repeats

        def partial(rows):
            if save is not None:
                save({**out, "rows": rows, "partial": True})

        # GPU: the one-program mode and the loop first, so a step timeout keeps the GPU target
        modes = ("masked", "loop", "auto", "bucketed") if prof == "gpu" else MODES
        out["rows"] = bench_sweeps(repeats, on_partial=partial, modes=modes, **sizes)
    else:
        raise ValueError(f"unknown section {name!r}; one of {SECTIONS}")
    return out


# -- rendering --------------------------------------------------------------------------------
def _f(x, spec: str = ".3g") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return format(x, spec)


def _target(rows: list, name: str, measured: str, met: bool | None) -> None:
    rows.append(f"| {name} | {measured} | {'-' if met is None else ('yes' if met else 'no')} |")


def _ok(row: dict | None) -> bool:
    return row is not None and row.get("status") == "ok"


def _haar(s: dict, targets: list, gpu: bool) -> list[str]:
    lines = [
        f"Measured complex64 matmul peak: {s['peak_c64'] / 1e9:.1f} GFLOP/s.",
        "",
        "| case | ours (s) | compile (s) | vs NumPy batched | vs QuTiP loop | states/s "
        "| of c64 peak | purity-only speed-up |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in s["rows"]:
        lines.append(
            f"| {r['case']} | {_f(r['ours_s'], '.4g')} | {_f(r['compile_s'])} | "
            f"{_f(r['ratio_numpy'], '.2f')}x | {_f(r['ratio_qutip'], '.1f')}x | "
            f"{_f(r['states_per_s'])} | {_f(100 * r['peak_fraction'], '.0f')}% | "
            f"{_f(r['ratio_purity'], '.1f')}x |"
        )
    if any(r.get("baseline_states") for r in s["rows"]):
        lines += ["", "Baselines timed on the first `baseline_states` states, scaled per state."]
    by = {(r["d_a"], r["d_b"]): r for r in s["rows"]}
    if gpu:
        r = by.get((64, 64))
        if r is not None:
            n = r.get("n_states", 0)
            _target(targets, "GPU: 12-qubit (64,64) spectra of 10^6 states in < 10 s",
                    f"{r['ours_s']:.2f} s ({n} states)",
                    r["ours_s"] < 10 and n >= 10**6)  # fmt: skip
        return lines
    if (64, 64) in by:
        q, n = by[(64, 64)]["ratio_qutip"], by[(64, 64)]["ratio_numpy"]
        _target(targets, "Haar (64,64): >= 30x QuTiP loop", f"{_f(q, '.1f')}x",
                None if math.isnan(q) else q >= 30)  # fmt: skip
        _target(targets, "Haar (64,64): >= 1.2x NumPy batched", f"{n:.2f}x", n >= 1.2)
    if (256, 256) in by:
        n = by[(256, 256)]["ratio_numpy"]
        _target(targets, "Haar (256,256): >= 1.0x NumPy batched", f"{n:.2f}x", n >= 1.0)
    worst = min(r["ratio_purity"] for r in s["rows"])
    _target(targets, "purity-only path >= 10x the spectral path (every case)",
            f"{worst:.1f}x (worst case)", worst >= 10)  # fmt: skip
    return lines


def _ntk_find(rows: list, case: str, who: str, impl: str) -> dict | None:
    for r in rows:
        if r["case"] == case and r["who"] == who and r["impl"] == impl:
            return r
    return None


def _ratio(a: dict | None, b: dict | None) -> float:
    """``time(a) / time(b)``: how many times faster ``b`` is; NaN unless both ran."""
    return a["time_s"] / b["time_s"] if _ok(a) and _ok(b) else math.nan


def _x(v: float, spec: str = ".3g") -> str:
    return "-" if math.isnan(v) else f"{format(v, spec)}x"


def _ntk(s: dict, targets: list, gpu: bool) -> list[str]:
    peak, rows = s["peak_f32"], s["rows"]
    lines = [
        f"Measured float32 matmul peak (precision HIGHEST): {peak / 1e9:.1f} GFLOP/s. Every row "
        "in its own process: time = median after the compiling call, first call = compile + one "
        "run, peak RSS of that process (the JAX runtime's ~0.3 GiB included; nt's process also "
        "imports TensorFlow, ~0.7 GiB at start). Of f32 peak: the Jacobian routes' "
        "2 (N n_out)^2 P FLOPs, structured's (and auto's) Gram FLOPs.",
        "",
        "| case | implementation | time (s) | first call (s) | peak RSS (GiB) | vs naive "
        "| vs nt, same mode | of f32 peak | status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ok = _ok(r)
        name = {"ours": r["impl"], "naive": "naive jacrev + J J^T"}.get(r["who"])
        name = name or f"neural-tangents 0.6.5 {r['impl']}"
        naive = _ntk_find(rows, r["case"], "naive", "naive")
        vs_nt = math.nan
        if r["who"] == "ours":
            vs_nt = _ratio(_ntk_find(rows, r["case"], "nt", r["impl"]), r)
        flops = r["gram_flops"] if r["impl"] in ("structured", "auto") else r["flops"]
        frac = flops / r["time_s"] / peak if ok else math.nan
        rss = r.get("peak_rss_bytes", math.nan) / GIB if ok else math.nan
        status = "ok" if ok else r.get("status", "?").replace("|", "/")
        lines.append(
            f"| {r['case']} | {name} | {_f(r.get('time_s') if ok else None, '.4g')} | "
            f"{_f(r.get('compile_s') if ok else None)} | {_f(rss, '.2f')} | "
            f"{_x(_ratio(naive, r) if r['who'] != 'naive' else math.nan)} | {_x(vs_nt)} | "
            f"{_f(100 * frac, '.0f')}% | {status} |"
        )
    cases = list(dict.fromkeys(r["case"] for r in rows))
    lines += ["", "Structured speed-ups (time of the other / time of structured):", ""]
    labels = (("ours", "jacobian_contraction", "our jacobian_contraction"),
              ("ours", "ntk_vector_products", "our ntk_vector_products"),
              ("naive", "naive", "naive"),
              ("nt", "jacobian_contraction", "nt's jacobian_contraction"),
              ("nt", "ntk_vector_products", "nt's ntk_vector_products"))  # fmt: skip
    for case in cases:
        st = _ntk_find(rows, case, "ours", "structured")
        parts = [f"{_x(v)} {label}" for who, impl, label in labels
                 if not math.isnan(v := _ratio(_ntk_find(rows, case, who, impl), st))]  # fmt: skip
        lines.append(f"- {case}: " + (", ".join(parts) or "nothing else ran (see the rows)"))
    pre = "GPU: " if gpu else ""
    nb = f"{NOTEBOOK[0]} N={NOTEBOOK[4]}"
    st = _ntk_find(rows, nb, "ours", "structured")
    if any(r["case"] == nb for r in rows):
        v = _ratio(_ntk_find(rows, nb, "ours", "jacobian_contraction"), st)
        _target(targets, f"{pre}NTK nt-notebook: structured >= 200x our jacobian_contraction",
                _x(v, ".0f"), None if math.isnan(v) else v >= 200)  # fmt: skip
        nts = [_ntk_find(rows, nb, "nt", m) for m in ("jacobian_contraction",
                                                        "ntk_vector_products")]  # fmt: skip
        best = min((r for r in nts if _ok(r)), key=lambda r: r["time_s"], default=None)
        v = _ratio(best, st)
        measured = f"{_x(v, '.0f')} (nt's best: {best['impl']})" if best else "nt not run"
        _target(targets, f"{pre}NTK nt-notebook: structured >= 50x neural-tangents' best mode",
                measured, None if math.isnan(v) else v >= 50)  # fmt: skip
        for mode in ("jacobian_contraction", "ntk_vector_products"):
            v = _ratio(_ntk_find(rows, nb, "nt", mode), _ntk_find(rows, nb, "ours", mode))
            _target(targets, f"{pre}NTK nt-notebook: our {mode} no slower than nt's",
                    _x(v, ".2f") + (" nt's speed" if not math.isnan(v) else " (nt not run)"),
                    None if math.isnan(v) else v >= 1.0)  # fmt: skip
    big = _ntk_find(rows, "3-layer w=2048 N=512", "ours", "auto")
    if big is not None:
        t = big.get("time_s") if _ok(big) else None
        _target(targets, f"{pre}NTK w=2048, N=512: `auto` < 1 s after compile (was 432 s)",
                f"{_f(t, '.3g')} s" if t else big.get("status", "?"),
                bool(t and t < 1))  # fmt: skip
    auto = [r for r in rows if r["who"] == "ours" and r["impl"] == "auto" and _ok(r)]
    pairs = [(r, _ratio(_ntk_find(rows, r["case"], "naive", "naive"), r)) for r in auto]
    pairs = [(r, v) for r, v in pairs if not math.isnan(v)]
    if pairs:
        measured = ", ".join(f"{v:.0f}x ({r['case']})" for r, v in pairs)
        _target(targets, f"{pre}NTK `auto` >= 1.5x naive jacrev where naive fits", measured,
                min(v for _, v in pairs) >= 1.5)  # fmt: skip
    return lines


def _ntk_large(s: dict, targets: list, gpu: bool) -> list[str]:
    peak, rows = s["peak_f32"], s["rows"]
    lines = [
        f"Measured float32 matmul peak (precision HIGHEST): {peak / 1e9:.1f} GFLOP/s. 3-layer "
        "ReLU MLP, 16 inputs, one output, float32; each row in a fresh process. Gram FLOPs: per "
        "layer 2 N^2 fan_in + 2 N^2 fan_out; the peak fraction is those over the time after "
        "compile (cotangents and elementwise products included in the time, not the FLOPs).",
        "",
        "| case | time (s) | first call (s) | peak RSS (GiB) | device peak (GiB) | Gram GFLOP "
        "| of f32 peak (Gram) | finite | status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ok = _ok(r)
        dev = r.get("device_peak_bytes")
        lines.append(
            f"| {r['case']} | {_f(r.get('time_s') if ok else None, '.4g')} | "
            f"{_f(r.get('compile_s') if ok else None)} | "
            f"{_f(r['peak_rss_bytes'] / GIB if ok else None, '.2f')} | "
            f"{_f(dev / GIB if ok and dev else None, '.2f')} | {r['gram_flops'] / 1e9:.4g} | "
            f"{_f(100 * gram_peak_fraction(r, peak), '.0f')}% | {r.get('finite', '-')} | "
            f"{'ok' if ok else r.get('status', '?')} |"
        )
    pre = "GPU: " if gpu else ""
    top = max(rows, key=lambda r: r["n"])
    mid = [r for r in rows if r["n"] == 4096] or rows[:1]
    on_device = top.get("device_peak_bytes") is not None  # an accelerator's allocator peak
    mem = top.get("device_peak_bytes") if on_device else top.get("peak_rss_bytes")
    if _ok(top) and mem:
        ok = bool(top.get("finite")) and mem <= 24 * GIB
        what = "device memory" if on_device else "peak RSS"
        _target(targets, f"{pre}NTK structured w={top['width']}, N={top['n']} completes within "
                "24 GiB", f"{mem / GIB:.1f} GiB {what}, {top['time_s']:.3g} s", ok)  # fmt: skip
    else:
        _target(targets, f"{pre}NTK structured w={top['width']}, N={top['n']} completes within "
                "24 GiB", top.get("status", "?"), False)  # fmt: skip
    frac = gram_peak_fraction(mid[0], peak)
    _target(targets, f"{pre}NTK structured >= 50% of the f32 matmul peak on its Gram products "
            f"at N={mid[0]['n']}", f"{_f(100 * frac, '.0f')}%",
            None if math.isnan(frac) else frac >= 0.5)  # fmt: skip
    return lines


def _sweep(s: dict, targets: list, gpu: bool) -> list[str]:
    z = s.get("sizes_sweep") or s["sizes"]
    rows = s["rows"]
    lines = [
        f"Network learner (full-batch GD, float32), {z['n_widths']} log-spaced widths 2.."
        f"{z['max_width']}, {z['samples']} seeds, {z['steps']} steps; each mode from a cold "
        "start (fresh runner, no persistent compile cache), median of "
        f"{rows[0]['repeats'] if rows else 0} interleaved runs"
        + (" (partial: the run was stopped)." if s.get("partial") else "."),
        "",
        "| mode (runs as) | programs | wall (s) | compile (s) | run (s) | vs loop "
        "| compile / loop's |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['mode']} ({r['resolved']}) | {r['programs']} | {r['wall_s']:.1f} | "
            f"{r['compile_s']:.1f} | {r['run_s']:.1f} | {_f(r.get('ratio_loop'), '.2f')}x | "
            f"{_f(r.get('compile_vs_loop'), '.2f')} |"
        )
    by = {r["mode"]: r for r in rows}
    full = z["n_widths"] == 20 and z["samples"] == 8
    if gpu:
        m = by.get("masked")
        v = m.get("ratio_loop") if m else None
        _target(targets, "GPU: sweep, one-program (masked) sweep >= 5x the loop",
                f"{_f(v, '.2f')}x", None if v is None else v >= 5)  # fmt: skip
        best = min((r["wall_s"] for r in rows if r["mode"] in ("masked", "auto")), default=None)
        _target(targets, "GPU: sweep, 20 widths x 8 seeds in < 30 s (masked or auto)",
                f"{_f(best, '.1f')} s", None if best is None else best < 30 and full)  # fmt: skip
    elif "auto" in by and "ratio_loop" in by["auto"]:
        a = by["auto"]
        _target(targets, "sweep, CPU: `auto` no slower than the loop",
                f"{a['ratio_loop']:.2f}x the loop", a["ratio_loop"] >= 1.0)  # fmt: skip
        _target(targets, "sweep, CPU: `auto` compile <= 1/3 of the loop's",
                f"{a['compile_vs_loop']:.2f}", a["compile_vs_loop"] <= 1 / 3)  # fmt: skip
    return lines


_RENDER = {
    "haar": ("Haar reduced spectra", _haar),
    "ntk": ("Empirical NTK", _ntk),
    "ntk-large": ("Empirical NTK, large N (structured)", _ntk_large),
    "sweep": ("Double-descent sweep", _sweep),
}


def _sections(group: dict, targets: list, gpu: bool, level: str) -> list[str]:
    lines = []
    for name, (title, fn) in _RENDER.items():
        if name in group:
            s = group[name]
            sizes = f", {s['sizes']} sizes" if s.get("sizes") in ("toy",) else ""
            lines += [f"{level} {title}: {s['device']}, jax {s['jax']}, {s['date']}{sizes}", ""]
            try:
                lines += fn(s, targets, gpu) + [""]
            except KeyError as err:  # rows of an older version of bench/
                lines += [f"(rows in an older format, missing {err}: rerun `--only {name}`)", ""]
    return lines


def render(results: dict) -> str:
    """RESULTS.md from the stored sections (targets of issues 4, 5 and 9 evaluated)."""
    lines, targets = ["# Benchmark results", ""], []
    lines += [
        "Generated by `uv run --group bench python -m bench` (GPU part: `bash bench/gpu.sh`);",
        "ratios > 1: faster than the baseline, timed in the same run. Absolute seconds are",
        "claims only on a GPU machine.",
        "",
    ]
    lines += _sections(results, targets, False, "##")
    lines += ["## Targets (issues 4, 5 and 9)", "", "| target | measured | met? |", "|---|---|---|"]
    lines += targets + [""]
    gpu = results.get("gpu")
    if gpu:
        gt: list = []
        steps = gpu.get("steps", {})
        device = next((gpu[n]["device"] for n in SECTIONS if n in gpu), gpu.get("device", "?"))
        lines += [f"## GPU: {device}", ""]
        if steps:
            lines += ["Steps of `bash bench/gpu.sh` (each under its own timeout):", "",
                      "| step | status | seconds |", "|---|---|---|"]  # fmt: skip
            for name, st in steps.items():
                status = str(st["status"]).replace("|", "/")
                lines.append(f"| {name} | {status} | {_f(st.get('seconds'), '.0f')} |")
            lines.append("")
        lines += _sections(gpu, gt, True, "###")
        paper = steps.get("paper")
        if paper:
            secs, ok = paper.get("seconds"), paper["status"] == "ok"
            large = "scale=large" in paper.get("detail", "scale=large")
            _target(gt, "GPU: `tntk experiment=paper scale=large` in < 10 min",
                    f"{paper['status']}, {_f(secs, '.0f')} s",
                    ok and large and secs is not None and secs < 600)  # fmt: skip
        lines += ["### GPU targets", "", "| target | measured | met? |", "|---|---|---|"]
        lines += gt + [""]
    return "\n".join(lines)


def _write(results: dict, out: Path) -> str:
    store = out.with_name("results.json")
    store.write_text(json.dumps(results, indent=1, default=float) + "\n")
    text = render(results)
    notes = ""
    if out.exists() and NOTES_MARKER in out.read_text():
        notes = out.read_text().rsplit(NOTES_MARKER, 1)[1]
    out.write_text(text + "\n" + NOTES_MARKER + notes)
    return text


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sweep-repeats", type=int, default=3)
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--quick", action="store_true", help="toy sizes; writes nothing")
    parser.add_argument("--gpu", action="store_true", help="store as the GPU part (gpu sizes)")
    parser.add_argument("--sizes", choices=PROFILES, help="size profile (default: cpu; gpu "
                        "with --gpu; toy with --quick)")  # fmt: skip
    parser.add_argument("--no-nt", dest="nt", action="store_false",
                        help="skip the neural-tangents 0.6.5 rows")  # fmt: skip
    parser.add_argument("--steps", type=Path, help="JSON lines of bench/gpu.sh's steps (name, "
                        "status, seconds, detail) to store in the GPU part")  # fmt: skip
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args(argv)
    args.sizes = args.sizes or ("toy" if args.quick else "gpu" if args.gpu else "cpu")
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    bad = sorted(set(names) - set(SECTIONS))
    if bad:
        parser.error(f"unknown section(s) {', '.join(bad)}; choose from {', '.join(SECTIONS)}")
    store = args.out.with_name("results.json")
    results = json.loads(store.read_text()) if store.exists() and not args.quick else {}
    group = results.setdefault("gpu", {}) if args.gpu else results
    if args.steps:
        steps = [json.loads(line) for line in args.steps.read_text().splitlines() if line.strip()]
        order = {name: i for i, name in enumerate(STEPS)}  # as gpu.sh runs them
        steps.sort(key=lambda st: order.get(st["name"], len(order)))
        group["steps"] = {st.pop("name"): st for st in steps}
    for name in names:
        print(f"[bench] {name} ...", flush=True)

        def save(section, name=name):
            if not args.quick:
                group[name] = section
                _write(results, args.out)

        group[name] = run_section(name, args, save)
        if not args.quick:  # after every section: nothing lost if a later one dies
            _write(results, args.out)
    text = _write(results, args.out) if not args.quick else render(results)
    print(text)


if __name__ == "__main__":
    main()
