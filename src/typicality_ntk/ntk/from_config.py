"""Shared set-up of the NTK-side experiments: the network for one width, the data, and the
samples' keys (for ``optim.lr=auto``, which bounds the kernel over the very initialisations the
runner will draw)."""

from __future__ import annotations

import jax
import numpy as np

from typicality_ntk.errors import ConfigError
from typicality_ntk.ntk import make_mlp
from typicality_ntk.ntk.data import make_dataset
from typicality_ntk.sweep import real_dtype

__all__ = [
    "NETWORK_COORDS",
    "network",
    "network_static",
    "count_params",
    "dataset",
    "check_full_batch",
    "lr_batch_size",
]

#: Leading result columns of every per-width NTK experiment: the point, then the sample.
NETWORK_COORDS = ("width", "n_params", "n_outputs", "n_train", "sample")


def network_static(cfg, width: int) -> dict:
    """Static (shape-setting) kwargs that build the network of one width."""
    m = cfg.model
    return {
        "width": int(width),
        "depth": m.depth,
        "activation": m.activation,
        "parameterization": m.parameterization,
        "sigma_w": float(m.sigma_w),
        "sigma_b": float(m.sigma_b),
        "n_out": cfg.data.outputs,
    }


def network(*, width, depth, activation, parameterization, sigma_w, sigma_b, n_out):
    """(init_fn, apply_fn) of the MLP with ``depth`` hidden layers of ``width``."""
    return make_mlp(
        widths=(width,) * depth,
        n_out=n_out,
        activation=activation,
        parameterization=parameterization,
        sigma_w=sigma_w,
        sigma_b=sigma_b,
    )


def count_params(static: dict, n_in: int) -> int:
    """P, from shapes only (no parameters are drawn)."""
    init, _ = network(**static)
    shapes = jax.eval_shape(init, jax.random.key(0), jax.ShapeDtypeStruct((1, n_in), np.float32))
    return int(sum(np.prod(s.shape) for s in jax.tree.leaves(shapes)))


def dataset(cfg, key) -> dict:
    """The run's data, drawn once from the setup key and shared by every sample (traced)."""
    return make_dataset(key, cfg.data, real_dtype(cfg.precision))


def check_full_batch(cfg) -> None:
    """``optim=gd`` is full-batch: a smaller ``optim.batch_size`` is a user error."""
    o = cfg.optim
    if o.name == "gd" and o.batch_size is not None and o.batch_size < cfg.data.n_train:
        raise ConfigError(
            "optim.batch_size",
            o.batch_size,
            "gd is full-batch: use null (or optim=sgd for mini-batches)",
        )


def lr_batch_size(cfg) -> int:
    """``B`` of the stability bound of ``optim.lr=auto``: ``optim.batch_size`` for sgd (capped at
    N), N for full-batch gd."""
    o, n = cfg.optim, int(cfg.data.n_train)
    return n if o.name == "gd" or o.batch_size is None else min(int(o.batch_size), n)
