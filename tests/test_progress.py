"""Long work shows progress: the runner's heartbeat says what is computed while one step runs
(issue 14: a 187 s single point printed nothing for three minutes)."""

from __future__ import annotations

import logging
import time

import jax
import jax.numpy as jnp
import numpy as np
from omegaconf import OmegaConf

from typicality_ntk.sweep import Experiment, Point, Runner, _progress


def _slow_sample(key, context, *, n):
    """One sample that takes 0.5 s on the host (a callback sleeping), whatever XLA does."""

    def wait(x):
        time.sleep(0.5)
        return np.asarray(x)

    x = jax.random.normal(key, (n,))
    y = jax.pure_callback(wait, jax.ShapeDtypeStruct((n,), x.dtype), x, vmap_method="sequential")
    return {"total": jnp.sum(y)}


def test_a_long_chunk_logs_what_it_computes_every_interval(monkeypatch, caplog):
    monkeypatch.setattr(_progress, "HEARTBEAT_SECONDS", 0.1)
    exp = Experiment("slow", lambda cfg, key: [Point({"n": 3}, {"n": 3})], _slow_sample)
    cfg = OmegaConf.create({"samples": 2, "seed": 0, "chunk_size": 2, "precision": "float32"})
    with caplog.at_level(logging.INFO, logger="typicality_ntk"):
        result = Runner(progress=False).run(exp, cfg)
    assert len(result.table) == 2
    beats = [r.getMessage() for r in caplog.records if r.getMessage().startswith("slow: ")]
    assert len(beats) >= 3, beats  # ~1 s of sampling at 0.1 s per line
    assert any("point 1/1 (n=3): samples 0-1 of 2" in b for b in beats), beats


def test_the_heartbeat_stops_with_its_block(caplog):
    with caplog.at_level(logging.INFO, logger="typicality_ntk"):
        with _progress.Heartbeat("job", interval=0.05) as beat:
            beat.status = "doing x"
            time.sleep(0.3)
        n = len(caplog.records)
        time.sleep(0.2)
    assert n >= 2 and len(caplog.records) == n
    assert "job: doing x" in caplog.records[0].getMessage()
