"""NTK spectrum vs P at fixed n_L*N (paper Sec. III): lambda_min(K), sigma_min(J), eigenvalues.

K = J J^T with J the (n_L N) x P Jacobian at initialisation (paper Eq. 3). sigma_min(J) is the
smallest of its min(n_L N, P) singular values; lambda_min(K) = sigma_min(J)^2 when P >= n_L N
(and lambda_min(K) = 0 below). sigma_min_j_normalized is sigma_min of J / sqrt(tr K / (n_L N P)),
the Jacobian scaled to unit mean-square entries, whose Gaussian (Bai-Yin) value is
sqrt(P) - sqrt(n_L N); :func:`typicality_ntk.ntk.threshold.fit_threshold` fits
sigma (sqrt(P) - kappa sqrt(n_L N)) to it and reports P* = kappa^2 n_L N.
Columns: width, n_params, n_outputs, n_train, sample, lambda_min, lambda_max, sigma_min_j,
sigma_min_j_normalized. Named array ``ntk_eigenvalues`` (samples, n_L N), ascending.

Where the spectrum comes from: in float64, from K itself (``ntk.implementation``; ``auto`` is the
structured kernel, so J is never formed): ``eigvalsh(K)`` and ``sigma_min(J) = sqrt(lambda_r)``
with ``r = n_L N - min(n_L N, P)`` (the singular values of J are the square roots of K's top
min(n_L N, P) eigenvalues). A symmetric eigensolver's absolute error is ~ n eps lambda_max, so
sigma_min(J) carries a relative error ~ n eps cond(K) / 2 = n eps cond(J)^2 / 2: below 1e-6 for
cond(J) < 1e4 at n = 64 in float64 (eps = 2.2e-16); near the threshold lambda_min(K) is ~1e-8 of
lambda_max, i.e. ~1e-7 relative. In float32 (eps = 1.2e-7) that bound is useless near the
threshold, so float32 runs take one SVD of J instead (J formed; exact to ~eps cond(J)).
"""

from __future__ import annotations

import jax.numpy as jnp

from typicality_ntk import _lapack as lapack
from typicality_ntk.config import Config
from typicality_ntk.ntk import empirical_ntk, jacobian, n_params
from typicality_ntk.ntk.from_config import (
    NETWORK_COORDS,
    count_params,
    dataset,
    network,
    network_static,
)
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
    route = {
        "spectrum_from": "kernel" if cfg.precision == "float64" else "jacobian",
        "implementation": cfg.ntk.implementation,
    }
    out = []
    for w in cfg.model.widths:
        static = network_static(cfg, w)
        coords = {
            "width": w,
            "n_params": count_params(static, x.shape[1]),
            "n_outputs": cfg.data.outputs,
            "n_train": cfg.data.n_train,
        }
        out.append(Point(coords, {**static, **route}, x))
    return out


def sample(key, x, *, spectrum_from, implementation, **static):
    init, apply = network(**static)
    params = init(key, x[:1])
    if spectrum_from == "kernel":  # K without J (structured by default), one eigvalsh
        k = empirical_ntk(apply, params, x, implementation=implementation)  # (n_L N, n_L N)
        eig = jnp.maximum(lapack.eigvalsh(k), 0)  # ascending; K is PSD: < 0 is rounding
        n, p = k.shape[0], n_params(params)
        rank = min(n, p)
        s_min2 = eig[n - rank]
        eig = jnp.where(jnp.arange(n) < n - rank, 0.0, eig)  # exact zeros below rank P
        trace = jnp.trace(k)
    else:
        j = jacobian(apply, params, x)  # (n_L N, P)
        # One SVD, not eigvalsh(J J^T) and eigvalsh(J^T J): no squaring of the condition number
        # and one LAPACK call per program (two independent eigvalsh calls in one CPU program
        # intermittently deadlock with jaxlib 0.10.2).
        s = lapack.svd(j, compute_uv=False)  # descending, min(n_L N, P) values
        eig = jnp.zeros(j.shape[0], s.dtype).at[: s.shape[0]].set(s**2)
        eig = jnp.sort(eig)  # eigenvalues of K = J J^T, ascending; zeros when P < n_L N
        n, p = j.shape
        s_min2, trace = s[-1] ** 2, jnp.sum(s**2)
    return {
        "lambda_min": eig[0],
        "lambda_max": eig[-1],
        "sigma_min_j": jnp.sqrt(s_min2),
        # J~ = J / sqrt(tr K / (n P)): unit mean-square entries (see ntk.threshold)
        "sigma_min_j_normalized": jnp.sqrt(s_min2 * n * p / trace),
        "ntk_eigenvalues": eig,
    }


EXPERIMENT = Experiment(
    "ntk_spectrum",
    points,
    sample,
    plot_ntk_spectrum,
    COLUMNS,
    uses=("model", "data", "ntk"),
    schema=Config,
)
