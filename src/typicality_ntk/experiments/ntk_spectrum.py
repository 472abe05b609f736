"""NTK spectrum vs P at fixed n_L*N (paper Sec. III): lambda_min(K), sigma_min(J), eigenvalues.

K = J J^T with J the (n_L N) x P Jacobian at initialisation (paper Eq. 3). sigma_min(J) is the
smallest of its min(n_L N, P) singular values; lambda_min(K) = sigma_min(J)^2 when P >= n_L N
(and lambda_min(K) = 0 below). sigma_min_j_normalized is sigma_min of J / sqrt(tr K / (n_L N P)),
the Jacobian scaled to unit mean-square entries, whose Gaussian (Bai-Yin) value is
sqrt(P) - sqrt(n_L N); :func:`typicality_ntk.ntk.threshold.fit_threshold` fits
sigma (sqrt(P) - kappa sqrt(n_L N)) to it and reports P* = kappa^2 n_L N.
Columns: width, n_params, n_outputs, n_train, sample, lambda_min, lambda_max, sigma_min_j,
sigma_min_j_normalized. Named array ``ntk_eigenvalues`` (samples, n_L N), ascending.
"""

from __future__ import annotations

import jax.numpy as jnp

from typicality_ntk.experiments._network import (
    NETWORK_COORDS,
    count_params,
    dataset,
    network,
    network_static,
)
from typicality_ntk.ntk import jacobian
from typicality_ntk.plot.ntk import plot_ntk_spectrum
from typicality_ntk.sweep import Experiment, Point

COLUMNS = (
    *NETWORK_COORDS,
    "lambda_min",
    "lambda_max",
    "sigma_min_j",
    "sigma_min_j_normalized",
)


def points(cfg, key):
    x = dataset(cfg, key)["x_train"]
    out = []
    for w in cfg.model.widths:
        static = network_static(cfg, w)
        coords = {
            "width": w,
            "n_params": count_params(static, x.shape[1]),
            "n_outputs": cfg.data.outputs,
            "n_train": cfg.data.n_train,
        }
        out.append(Point(coords, static, x))
    return out


def sample(key, x, **static):
    init, apply = network(**static)
    j = jacobian(apply, init(key, x[:1]), x)  # (n_L N, P)
    # One SVD, not eigvalsh(J J^T) and eigvalsh(J^T J): more accurate near the threshold (no
    # squaring of the condition number) and one LAPACK call per program (two independent
    # eigvalsh calls in one CPU program intermittently deadlock with jaxlib 0.10.2).
    s = jnp.linalg.svd(j, compute_uv=False)  # descending, min(n_L N, P) values
    eig = jnp.zeros(j.shape[0], s.dtype).at[: s.shape[0]].set(s**2)
    eig = jnp.sort(eig)  # eigenvalues of K = J J^T, ascending; zeros when P < n_L N
    return {
        "lambda_min": eig[0],
        "lambda_max": eig[-1],
        "sigma_min_j": s[-1],
        # J~ = J / sqrt(tr K / (n P)): unit mean-square entries (see ntk.threshold)
        "sigma_min_j_normalized": s[-1] * jnp.sqrt(j.shape[0] * j.shape[1] / jnp.sum(s**2)),
        "ntk_eigenvalues": eig,
    }


EXPERIMENT = Experiment(
    "ntk_spectrum", points, sample, plot_ntk_spectrum, COLUMNS, uses=("model", "data")
)
