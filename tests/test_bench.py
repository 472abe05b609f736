"""Benchmarks are not tests; this only checks the bench entry point runs (tiny sizes)."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_bench_quick_runs_and_prints_both_tables():
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--repeats", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Haar spectra" in proc.stdout and "vs naive jacrev" in proc.stdout
