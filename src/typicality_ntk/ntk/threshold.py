r"""Interpolation threshold from the smallest singular value of the Jacobian (paper Sec. III).

For a Wishart-type kernel K = J J^T with J of shape (n, P), n = n_L N, the smallest singular value
of J behaves like that of an n x P Gaussian matrix (Bai-Yin edge):

.. math:: \tilde\sigma_{\min}(J) \approx \sigma\,(\sqrt{P} - \kappa\sqrt{n}),

with :math:`\tilde\sigma_{\min}` the smallest singular value of the *normalised* Jacobian
:math:`\tilde J = J / \sqrt{\mathrm{tr}K/(nP)}` (unit mean-square entries, so that an i.i.d.
Gaussian J gives sigma = kappa = 1 exactly), and :math:`\lambda_{\min}(K) = \sigma_{\min}(J)^2`.
The paper writes the law for lambda_-; it is the smallest singular value of J that is linear in
sqrt(P). The fit vanishes at

.. math:: P^* = \kappa^2\, n_L N

(the paper writes kappa n_L N, folding the square into its constant): the threshold below which
the N n_L interpolation constraints cannot all be met near theta_0.

The fit is an ordinary least-squares line in sqrt(P) (the model is linear: y = a sqrt(P) + b,
sigma = a, kappa = -b / (a sqrt(n))) on the per-P means over initialisations, restricted to
P >= ``min_ratio`` * n where the Bai-Yin form holds; the interval is a percentile bootstrap that
resamples initialisations within each P. Hand-written because it is a two-parameter linear fit
plus a resampling loop: numpy's lstsq does the algebra.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

__all__ = ["ThresholdFit", "fit_threshold"]


@dataclass(frozen=True)
class ThresholdFit:
    """sigma, kappa and P* = kappa^2 n with (lo, hi) bootstrap intervals.

    Attributes:
        sigma, kappa: the fitted constants of sigma_min ~ sigma (sqrt(P) - kappa sqrt(n)).
        p_star: kappa^2 n, where the fitted line reaches zero.
        p_star_ratio: p_star / n = kappa^2.
        n: n_L N, the number of constraints.
        n_points: widths (values of P) in the fit.
        level: confidence level of the intervals.
        *_lo, *_hi: bootstrap percentile interval of each quantity.
    """

    sigma: float
    kappa: float
    p_star: float
    p_star_ratio: float
    n: int
    n_points: int
    level: float
    sigma_lo: float
    sigma_hi: float
    kappa_lo: float
    kappa_hi: float
    p_star_lo: float
    p_star_hi: float

    def as_dict(self) -> dict:
        return asdict(self)


def _line(sqrt_p: np.ndarray, y: np.ndarray, sqrt_n: float) -> tuple[float, float]:
    a, b = np.linalg.lstsq(np.stack([sqrt_p, np.ones_like(sqrt_p)], 1), y, rcond=None)[0]
    return float(a), float(-b / (a * sqrt_n))


def fit_threshold(
    table: pd.DataFrame,
    *,
    n: int | None = None,
    column: str = "sigma_min_j_normalized",
    min_ratio: float = 2.0,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> ThresholdFit:
    """Fit sigma_min(J~) = sigma (sqrt(P) - kappa sqrt(n)) on P >= min_ratio * n.

    Args:
        table: rows of an ``ntk_spectrum`` run: ``n_params`` (P), ``sample`` and ``column``;
            ``n_outputs`` and ``n_train`` give n = n_L N unless ``n`` is passed.
        n: the number of constraints n_L N.
        column: the singular value to fit (the normalised one by default; ``sigma_min_j`` fits
            the raw one, whose scale depends on the parameterisation).
        min_ratio: fit only P >= min_ratio * n (the Bai-Yin regime); at least two values of P.
        n_boot: bootstrap resamples (initialisations resampled within each P).
        level: confidence level of the percentile intervals.
        seed: seed of the bootstrap's numpy generator.

    Raises:
        ValueError: fewer than two values of P in the fit range.
    """
    if n is None:
        n = int(table["n_outputs"].iloc[0]) * int(table["n_train"].iloc[0])
    rows = table[table["n_params"] >= min_ratio * n]
    groups = [g[column].to_numpy(float) for _, g in rows.groupby("n_params", sort=True)]
    p_values = np.array(sorted(rows["n_params"].unique()), float)
    if len(p_values) < 2:
        raise ValueError(
            f"fit_threshold needs >= 2 widths with P >= {min_ratio} * n_L N = {min_ratio * n:g}; "
            f"got P = {sorted(table['n_params'].unique())}"
        )
    sqrt_p, sqrt_n = np.sqrt(p_values), np.sqrt(n)
    sigma, kappa = _line(sqrt_p, np.array([g.mean() for g in groups]), sqrt_n)
    rng = np.random.default_rng(seed)
    boot = np.empty((n_boot, 2))
    for b in range(n_boot):
        means = np.array([rng.choice(g, g.size).mean() for g in groups])
        boot[b] = _line(sqrt_p, means, sqrt_n)
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    (s_lo, s_hi), (k_lo, k_hi) = np.percentile(boot[:, 0], q), np.percentile(boot[:, 1], q)
    p_lo, p_hi = np.percentile(boot[:, 1] ** 2 * n, q)
    return ThresholdFit(
        sigma=sigma,
        kappa=kappa,
        p_star=kappa**2 * n,
        p_star_ratio=kappa**2,
        n=int(n),
        n_points=len(p_values),
        level=level,
        sigma_lo=float(s_lo),
        sigma_hi=float(s_hi),
        kappa_lo=float(k_lo),
        kappa_hi=float(k_hi),
        p_star_lo=float(p_lo),
        p_star_hi=float(p_hi),
    )
