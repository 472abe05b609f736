"""Training data for the NTK side, generated from the run's PRNG key (nothing is downloaded).

* ``synthetic``: inputs on the sphere |x| = sqrt(n_0) (so x.x'/n_0 is a cosine, the scale the
  infinite-width kernels expect) or Gaussian N(0, I); targets from a teacher,
  ``random_features``: y = a . relu(W x / sqrt(n_0)) / sqrt(m) * sqrt(2), m = 64 hidden units, or
  ``linear``: y = w . x / sqrt(n_0); Gaussian label noise of std ``label_noise`` on the TRAINING
  labels only (test targets stay clean, so test loss measures generalisation).
* ``digits``: scikit-learn's bundled 8x8 digits (1797 images shipped inside the package), pixels
  scaled to [0, 1] then centred and normalised to |x| = sqrt(64); ``regression`` to centred
  one-hot targets (n_L = 10) or ``binary`` (digit < 5 -> +1, else -1; n_L = 1). A fraction
  ``label_noise`` of training labels is replaced by a uniformly random class.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["make_dataset", "synthetic_regression", "digits_dataset"]

_TEACHER_WIDTH = 64


def _inputs(key, n: int, dim: int, law: str, dtype) -> jax.Array:
    x = jax.random.normal(key, (n, dim), dtype)
    if law == "sphere":
        x = x / jnp.linalg.norm(x, axis=1, keepdims=True) * jnp.sqrt(jnp.asarray(dim, dtype))
    return x


def synthetic_regression(
    key,
    *,
    n_train: int,
    n_test: int,
    dim: int,
    inputs: str = "sphere",
    teacher: str = "random_features",
    label_noise: float = 0.0,
    n_out: int = 1,
    dtype=jnp.float32,
) -> dict[str, jax.Array]:
    """Teacher regression data. Returns x_train (N, n0), y_train (N, n_out), x_test, y_test."""
    k_x, k_t, k_w, k_n = jax.random.split(key, 4)
    x = _inputs(k_x, n_train + n_test, dim, inputs, dtype)
    if teacher == "linear":
        w = jax.random.normal(k_w, (dim, n_out), dtype)
        y = x @ w / jnp.sqrt(jnp.asarray(dim, dtype))
    elif teacher == "random_features":
        w = jax.random.normal(k_t, (dim, _TEACHER_WIDTH), dtype)
        a = jax.random.normal(k_w, (_TEACHER_WIDTH, n_out), dtype)
        h = jax.nn.relu(x @ w / jnp.sqrt(jnp.asarray(dim, dtype)))
        y = h @ a * jnp.sqrt(jnp.asarray(2.0 / _TEACHER_WIDTH, dtype))
    else:
        raise ValueError(f"teacher={teacher!r}: must be random_features or linear")
    noise = label_noise * jax.random.normal(k_n, (n_train, n_out), dtype)
    return {
        "x_train": x[:n_train],
        "y_train": y[:n_train] + noise,
        "x_test": x[n_train:],
        "y_test": y[n_train:],
    }


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.data.astype(np.float64) / 16.0, bunch.target.astype(np.int64)


def digits_dataset(
    key,
    *,
    n_train: int,
    n_test: int,
    task: str = "regression",
    label_noise: float = 0.0,
    dtype=jnp.float32,
) -> dict[str, jax.Array]:
    """A random subset of scikit-learn's digits. Returns x_* (N, 64) and y_* (N, n_L)."""
    x_all, labels = _digits()
    if n_train + n_test > len(labels):
        raise ValueError(f"n_train + n_test = {n_train + n_test} > {len(labels)} digits")
    k_perm, k_flip, k_cls = jax.random.split(key, 3)
    order = np.asarray(jax.random.permutation(k_perm, len(labels)))[: n_train + n_test]
    x = x_all[order] - x_all.mean(axis=0)
    x = x / np.linalg.norm(x, axis=1, keepdims=True) * 8.0  # |x| = sqrt(64)
    lab = labels[order].copy()
    flip = np.asarray(jax.random.uniform(k_flip, (n_train,))) < label_noise
    lab[:n_train] = np.where(
        flip, np.asarray(jax.random.randint(k_cls, (n_train,), 0, 10)), lab[:n_train]
    )
    if task == "regression":
        y = np.eye(10)[lab] - 0.1
    elif task == "binary":
        y = np.where(lab < 5, 1.0, -1.0)[:, None]
    else:
        raise ValueError(f"task={task!r}: must be regression or binary")
    x, y = jnp.asarray(x, dtype), jnp.asarray(y, dtype)
    return {
        "x_train": x[:n_train],
        "y_train": y[:n_train],
        "x_test": x[n_train:],
        "y_test": y[n_train:],
    }


def make_dataset(key, data_cfg, dtype=jnp.float32) -> dict[str, jax.Array]:
    """The dataset a ``DataCfg`` describes, drawn from ``key``."""
    if data_cfg.source == "digits":
        return digits_dataset(
            key,
            n_train=data_cfg.n_train,
            n_test=data_cfg.n_test,
            task=data_cfg.task,
            label_noise=data_cfg.label_noise,
            dtype=dtype,
        )
    return synthetic_regression(
        key,
        n_train=data_cfg.n_train,
        n_test=data_cfg.n_test,
        dim=data_cfg.dim,
        inputs=data_cfg.inputs,
        teacher=data_cfg.teacher,
        label_noise=data_cfg.label_noise,
        n_out=data_cfg.n_out,
        dtype=dtype,
    )
