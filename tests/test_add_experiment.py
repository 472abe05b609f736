"""Adding an experiment is two files: the README's example, run from a temporary directory.

The module and YAML are the two code blocks of README's "Adding an experiment" section, written
outside the repository (module on PYTHONPATH, YAML on Hydra's search path): nothing under src/ is
touched, and ``tntk`` gives a store entry, a figure, numbers on the exact mean and a one-line
exit-2 error for a bad value of the new key.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
from conftest import REPO, run_tntk

from typicality_ntk import store


def _readme_blocks() -> tuple[str, str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Adding an experiment", 1)[1].split("\n## ", 1)[0]
    py = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    yaml = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    dedent = lambda block: "\n".join(line[3:] for line in block.splitlines()) + "\n"  # noqa: E731
    return dedent(py), dedent(yaml)


def _tntk(tmp_path, *args):
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "mods"), "PYTHONUNBUFFERED": "1"}
    search = f"hydra.searchpath=[file://{tmp_path / 'conf'}]"
    return subprocess.run(
        [sys.executable, "-m", "typicality_ntk", search, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_the_readme_example_runs_from_two_files_outside_the_repository(tmp_path):
    module, yaml = _readme_blocks()
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "max_overlap.py").write_text(module)
    (tmp_path / "conf" / "experiment").mkdir(parents=True)
    (tmp_path / "conf" / "experiment" / "max_overlap.yaml").write_text(
        yaml + "module: max_overlap\n"
    )

    bad = _tntk(tmp_path, "experiment=max_overlap", "dims=[1]")
    assert bad.returncode == 2, bad.stderr
    assert bad.stderr == "error: dims=[1]: must be a non-empty list of integers >= 2\n"
    assert not (tmp_path / "outputs" / "store").exists()  # rejected before any compute

    run = _tntk(tmp_path, "experiment=max_overlap", "dims=[4,64]", "samples=4096")
    assert run.returncode == 0, run.stderr
    table = store.load(tmp_path / "outputs" / "store", experiment="max_overlap")
    assert sorted(table.d.unique()) == [4, 64] and len(table) == 2 * 4096
    assert list(tmp_path.glob("outputs/runs/*/*/figures/max_overlap.png"))
    for d, g in table.groupby("d"):  # E max_i p_i = H_d / d for p uniform on the simplex
        exact = np.sum(1 / np.arange(1, d + 1)) / d
        sem = g.max_prob.std() / np.sqrt(len(g))
        assert abs(g.max_prob.mean() - exact) < 4 * sem, (d, g.max_prob.mean(), exact)

    # redrawn without its module on PYTHONPATH: one line naming the module, exit 2
    (run_dir,) = tmp_path.glob("outputs/runs/*/*-max_overlap")
    plot = run_tntk(str(run_dir), cwd=tmp_path, tool="typicality_ntk.plot_cli")
    assert plot.returncode == 2, plot.stderr
    assert plot.stderr.startswith("error: module=max_overlap: cannot import the experiment")
    assert plot.stderr.count("\n") == 1 and "PYTHONPATH" in plot.stderr
