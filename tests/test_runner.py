"""The runner: chunking and processes never change a sample; seeds do; one compile per shape."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from typicality_ntk.sweep import Experiment, Point, Runner, load_experiment

PAGE = load_experiment("experiments.page_curve")
SMALL = ("experiment=page_curve", "quantum.n_qubits=4", "samples=23")


def _table(cfg, runner=None):
    return (runner or _SHARED).run(PAGE, cfg).table


_SHARED = Runner(progress=False)


@pytest.mark.parametrize("chunk", [1, 7, 23, 100])
def test_chunk_size_never_changes_a_sample(make_config, chunk):
    ref = _table(make_config(*SMALL, "chunk_size=auto"))
    got = _table(make_config(*SMALL, f"chunk_size={chunk}"))
    pd.testing.assert_frame_equal(ref, got)


def test_sample_i_does_not_depend_on_samples(make_config):
    small = _table(make_config(*SMALL))
    big = _table(make_config("experiment=page_curve", "quantum.n_qubits=4", "samples=40"))
    big = big[big["sample"] < 23].reset_index(drop=True)
    pd.testing.assert_frame_equal(small, big)


def test_different_seeds_differ(make_config):
    a = _table(make_config(*SMALL, "seed=0"))
    b = _table(make_config(*SMALL, "seed=1"))
    assert not np.allclose(a["purity"], b["purity"])


_SCRIPT = """
import hashlib, sys
from hydra import compose, initialize_config_dir
from typicality_ntk.cli import CONFIG_DIR
from typicality_ntk.config import register_configs
from typicality_ntk.sweep import experiment_config
from typicality_ntk.sweep import load_experiment
from typicality_ntk.sweep import Runner
register_configs()
with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
    cfg = experiment_config(compose("config", overrides=sys.argv[1:]))[0]
t = Runner(progress=False).run(load_experiment(cfg.module), cfg).table
print(hashlib.sha256(t.to_numpy().tobytes()).hexdigest())
"""


def test_same_seed_same_results_across_processes():
    def digest():
        out = subprocess.run(
            [sys.executable, "-c", _SCRIPT, *SMALL, "chunk_size=5"],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        return out.stdout.strip()

    assert digest() == digest()


def test_one_compile_per_point_and_none_on_rerun(make_config):
    cfg = make_config(*SMALL, "chunk_size=7")  # 23 = 7+7+7+2: the padded last chunk reuses it
    runner = Runner(progress=False)
    first = runner.run(PAGE, cfg)
    assert first.n_compiles == 3  # cuts 1..3 of 4 qubits
    again = runner.run(PAGE, make_config(*SMALL, "chunk_size=7", "seed=3"))
    assert again.n_compiles == 0


def test_float64_precision_gives_float64_results(make_config):
    t = _table(make_config(*SMALL, "precision=float64"))
    assert t["purity"].dtype == np.float64
    t32 = _table(make_config(*SMALL))
    assert t32["purity"].dtype == np.float32


_SHARD_SCRIPT = """
import sys
from hydra import compose, initialize_config_dir
from typicality_ntk.cli import CONFIG_DIR
from typicality_ntk.config import register_configs
from typicality_ntk.sweep import experiment_config
from typicality_ntk.sweep import load_experiment
from typicality_ntk.sweep import Runner
register_configs()
with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
    cfg = experiment_config(compose("config", overrides=sys.argv[2:]))[0]
result = Runner(progress=False).run(load_experiment(cfg.module), cfg)
assert result.device.startswith(sys.argv[1] + "x"), result.device
result.table.to_parquet(sys.argv[1] + ".parquet")
"""


@pytest.mark.parametrize(
    "overrides",
    [
        ["experiment=page_curve", "quantum.n_qubits=6", "samples=7", "chunk_size=3"],
        # NTK side, and a point with row groups (masked: 3 widths in one program)
        [
            "experiment=double_descent",
            "learner=ntk_regression",
            "sweep.mode=masked",
            "model.widths=[2,5,8]",
            "data.n_train=6",
            "data.n_test=8",
            "samples=5",
        ],
    ],
    ids=["page_curve", "double_descent_masked"],
)
def test_sharding_over_two_devices_gives_the_one_device_results(overrides, tmp_path):
    """The sample axis is sharded over local devices; every number matches one device exactly."""
    for n in (1, 2):
        flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={n}"
        env = {**os.environ, "XLA_FLAGS": flags.strip()}
        proc = subprocess.run(
            [sys.executable, "-c", _SHARD_SCRIPT, str(n), *overrides],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
    one, two = (pd.read_parquet(tmp_path / f"{n}.parquet") for n in (1, 2))
    pd.testing.assert_frame_equal(one, two)


@pytest.mark.slow
def test_a_24_qubit_half_cut_fits_a_small_cpu_machine(tmp_path):
    """One 24-qubit Haar state's 12|12 cut (dA = dB = 4096, psi alone 128 MiB) through the CLI
    with chunk_size=auto: it completes within 24 GiB (peak RSS of the child, measured 1.7 GiB)
    and its entropy is Page's. The std of S_vN at dA = dB = 4096 is O(1/d) ~ 2e-4 nats (measured
    deviations ~1e-4), so 1e-3 is ~4 standard errors."""
    import resource

    from conftest import run_tntk

    from typicality_ntk.quantum.theory import page_entropy
    from typicality_ntk.store import load

    proc = run_tntk("experiment=page_curve", "quantum.n_qubits=24", "quantum.cuts=[12]",
                    "samples=2", f"store.root={tmp_path / 'store'}",
                    f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path, timeout=1200)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 < 24 * 2**30
    table = load(tmp_path / "store", "page_curve")
    assert len(table) == 2 and (table["d_a"] == 4096).all()
    np.testing.assert_allclose(table["s_vn"], page_entropy(4096, 4096), atol=1e-3)


def _toy_sample(key, context, *, d):
    z = jax.random.normal(key, (d,))
    return {"x": context["scale"] * jnp.sum(z), "vec": context["scale"] * z}


def test_row_groups_are_points_that_share_one_program():
    """A point with row groups = the same points one by one: same keys, rows, arrays, one
    program (here the plain points share theirs too: only the traced context differs); chunked:
    5 samples in chunks of 2, the last one padded."""
    scales = [1.0, 2.0, 3.0]
    plain = [Point({"scale": s}, {"d": 4}, {"scale": np.float32(s)}) for s in scales]
    rows = tuple({"scale": s} for s in scales)
    group = [Point({"kind": "toy"}, {"d": 4}, {}, rows=rows,
                   row_context={"scale": np.asarray(scales, np.float32)})]  # fmt: skip
    cfg = SimpleNamespace(samples=5, seed=3, precision="float32", chunk_size=2)
    results = {}
    for name, pts in (("plain", plain), ("group", group)):
        exp = Experiment("toy", lambda cfg, key, pts=pts: pts, _toy_sample, columns=("x",))
        runner = Runner(progress=False)
        results[name] = runner.run(exp, cfg)
        assert runner.n_compiles == 1
    a, b = results["plain"], results["group"]
    pd.testing.assert_frame_equal(a.table, b.table.drop(columns="kind"))
    assert (b.table["kind"] == "toy").all() and len(b.table) == 15
    assert a.points == [{k: v for k, v in p.items() if k != "kind"} for p in b.points]
    assert a.arrays.keys() == b.arrays.keys() == {"vec/0", "vec/1", "vec/2"}
    for k in a.arrays:
        np.testing.assert_allclose(a.arrays[k], b.arrays[k], rtol=1e-6)


def test_row_groups_need_a_row_context_of_their_length():
    with pytest.raises(ValueError, match="row_context"):
        Point({}, {}, {}, rows=({"a": 1},))
    with pytest.raises(ValueError, match="2 entries for 3 rows"):
        Point({}, {}, {}, rows=({"a": 1},) * 3, row_context={"w": [1, 2]})


def _stepped_sample(key, context, *, t):
    z = jax.random.normal(key, ())
    steps = jnp.arange(t)
    return {"step": 10 * steps, "y": z * steps, "curve": jnp.stack([steps, steps], 1) * 1.0,
            "z": z, "vec": jnp.full((2,), z)}  # fmt: skip


def test_a_row_axis_gives_one_row_per_coordinate():
    """RowAxis("step", ("y",)): T rows per sample (sample-major, in the axis' order) holding the
    coordinate and y[t]; the per-sample scalar z repeats, the other arrays stay arrays (a listed
    metric of higher rank too); points may have different T; the same samples as without the
    axis (z); a sample without the coordinate is an error."""
    from typicality_ntk.sweep import RowAxis

    pts = [Point({"p": 0}, {"t": 3}), Point({"p": 1}, {"t": 1})]
    cfg = SimpleNamespace(samples=4, seed=1, precision="float32", chunk_size=3)
    axis = RowAxis("step", ("y", "curve"))
    exp = Experiment("toy", lambda cfg, key: pts, _stepped_sample, columns=("z", "step", "y"),
                     row_axis=axis)  # fmt: skip
    res = Runner(progress=False).run(exp, cfg)
    t = res.table
    assert list(t.columns) == ["p", "sample", "z", "step", "y"]
    assert len(t) == 4 * 3 + 4 * 1
    first = t[t["p"] == 0]
    np.testing.assert_array_equal(first["sample"], np.repeat(np.arange(4), 3))
    np.testing.assert_array_equal(first["step"], np.tile([0, 10, 20], 4))
    np.testing.assert_allclose(first["y"], first["z"] * first["step"] / 10, rtol=1e-6)
    assert (t[t["p"] == 1]["step"] == 0).all()
    assert set(res.arrays) == {"curve/0", "curve/1", "vec/0", "vec/1"}
    assert res.arrays["curve/0"].shape == (4, 3, 2)
    flat = Experiment("toy", lambda cfg, key: pts, _stepped_sample, columns=("z",))
    plain = Runner(progress=False).run(flat, cfg).table
    np.testing.assert_array_equal(plain["z"], t.groupby(["p", "sample"])["z"].first())

    missing = Experiment("toy", lambda cfg, key: pts, _toy_sample, row_axis=axis)
    pts[:] = [Point({"scale": 1.0}, {"d": 2}, {"scale": np.float32(1.0)})]
    with pytest.raises(ValueError, match="row axis 'step' must be a metric of shape"):
        Runner(progress=False).run(missing, cfg)
