"""Benchmarks are not tests: these check that the bench entry runs and that its targets are
judged right, never how fast anything is."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO


def _bench(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--repeats", "1", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def test_bench_quick_runs_and_renders_targets():
    out = _bench("--only", "haar,ntk").stdout
    assert "Haar spectra" in out and "naive jacrev + J J^T" in out and "## Targets" in out


@pytest.mark.slow
def test_bench_quick_runs_every_section():
    out = _bench().stdout
    for section in ("Haar spectra", "naive jacrev + J J^T", "NTK, large", "Double-descent sweep"):
        assert section in out, out


def test_unknown_section_is_a_clear_error():
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "haar,gpu"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "unknown section(s) gpu" in proc.stderr


def _sweep_row(mode, resolved, wall, compile_s):
    return {"mode": mode, "resolved": resolved, "programs": 1, "wall_s": wall,
            "compile_s": compile_s, "run_s": wall - compile_s, "repeats": 1}  # fmt: skip


@pytest.mark.parametrize(("auto_wall", "auto_compile", "marks"), [
    (30.0, 10.0, ["yes", "yes"]),  # 2.7x the loop, compile 0.17 of the loop's
    (90.0, 10.0, ["no", "yes"]),   # slower than the loop
    (50.0, 25.0, ["yes", "no"]),   # compile 0.42 of the loop's
])  # fmt: skip
def test_sweep_targets_are_judged_from_the_measured_rows(auto_wall, auto_compile, marks):
    from bench.__main__ import render

    rows = [_sweep_row("loop", "loop", 80.0, 60.0), _sweep_row("auto", "bucketed", auto_wall,
                                                                auto_compile)]  # fmt: skip
    for r in rows:
        r["ratio_loop"] = 80.0 / r["wall_s"]
        r["compile_vs_loop"] = r["compile_s"] / 60.0
    sizes = {"n_widths": 20, "max_width": 2000, "samples": 8, "steps": 2000}
    section = {
        "device": "t",
        "jax": "x",
        "date": "d",
        "backend": "cpu",
        "rows": rows,
        "sizes": sizes,
    }
    text = render({"sweep": section})
    judged = [line.rsplit("|", 2)[-2].strip() for line in text.splitlines() if "sweep, CPU" in line]
    assert judged == marks, text


def _ntk_row(case, who, impl, t, **kw):
    return {"case": case, "who": who, "impl": impl, "status": "ok", "time_s": t,
            "compile_s": 1.0, "peak_rss_bytes": 2**30, "flops": 1e9, "gram_flops": 1e8,
            "n": 16, "width": 2048, **kw}  # fmt: skip


@pytest.mark.parametrize(("ours_jc", "nt_vp", "marks"), [
    (10.0, 1.0, ["yes", "yes", "yes", "yes"]),  # 1000x ours, 100x nt's best, both modes faster
    (1.0, 1.0, ["no", "yes", "yes", "yes"]),    # only 100x our contraction
    (10.0, 0.2, ["yes", "no", "yes", "no"]),    # nt's vp: 20x structured's time, faster than ours
])  # fmt: skip
def test_ntk_targets_are_judged_from_the_measured_rows(ours_jc, nt_vp, marks):
    from bench.__main__ import render
    from bench.ntk import NOTEBOOK

    case = f"{NOTEBOOK[0]} N={NOTEBOOK[4]}"
    rows = [
        _ntk_row(case, "naive", "naive", 20.0),
        _ntk_row(case, "ours", "jacobian_contraction", ours_jc),
        _ntk_row(case, "ours", "ntk_vector_products", 0.5),
        _ntk_row(case, "ours", "structured", 0.01),
        _ntk_row(case, "ours", "auto", 0.01),
        _ntk_row(case, "nt", "jacobian_contraction", 12.0),
        _ntk_row(case, "nt", "ntk_vector_products", nt_vp),
    ]
    section = {"device": "t", "jax": "x", "date": "d", "backend": "cpu", "peak_f32": 1e11,
               "rows": rows}  # fmt: skip
    text = render({"ntk": section})
    judged = [line.rsplit("|", 2)[-2].strip() for line in text.splitlines()
              if line.startswith("| NTK nt-notebook")]  # fmt: skip
    assert judged == marks, text


def test_a_skipped_row_says_why_and_is_never_met():
    from bench.__main__ import render

    case = "3-layer w=2048 N=512"
    rows = [
        _ntk_row(case, "naive", "naive", None, status="skipped: J would be 16.1 GiB (> 8 GiB)"),
        _ntk_row(case, "ours", "structured", 0.3),
        _ntk_row(case, "ours", "auto", 2.5),
    ]
    section = {"device": "t", "jax": "x", "date": "d", "backend": "cpu", "peak_f32": 1e11,
               "rows": rows}  # fmt: skip
    text = render({"ntk": section})
    assert "skipped: J would be 16.1 GiB" in text
    line = next(x for x in text.splitlines() if "`auto` < 1 s after compile" in x)
    assert line.rsplit("|", 2)[-2].strip() == "no" and "2.5 s" in line


@pytest.mark.slow  # ~70 s alone, 200+ s beside the suite's other workers on 2 cores
def test_gpu_script_smoke_runs_every_step_and_writes_its_outputs(tmp_path):
    """``bash bench/gpu.sh --smoke``: every step of the GPU script at toy sizes on CPU, into a
    temporary output dir (the committed RESULTS.md is not touched)."""
    proc = subprocess.run(
        ["bash", "bench/gpu.sh", "--smoke", "--out-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=400,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())["gpu"]
    assert {"haar", "ntk", "ntk-large", "sweep", "steps"} <= set(results)
    steps = results["steps"]
    assert list(steps) == ["setup", "tests", "haar", "ntk", "ntk-large", "sweep", "paper"]
    assert all(st["status"].startswith("ok") for st in steps.values()), steps
    text = (tmp_path / "RESULTS.md").read_text()
    assert "## GPU: " in text and "### GPU targets" in text and "| paper | ok |" in text
    assert (tmp_path / "gpu.log").stat().st_size > 0
