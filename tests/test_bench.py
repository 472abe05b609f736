"""Benchmarks are not tests: these check that the bench entry runs and that its targets are
judged right, never how fast anything is."""

from __future__ import annotations

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
    assert "Haar spectra" in out and "vs naive jacrev" in out and "## Targets" in out


@pytest.mark.slow
def test_bench_quick_runs_every_section():
    out = _bench().stdout
    for section in ("Haar spectra", "vs naive jacrev", "NTK, large", "Double-descent sweep"):
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
