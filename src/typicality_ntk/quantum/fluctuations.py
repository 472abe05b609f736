"""State-to-state fluctuations of entanglement measures: sampled variances next to exact ones.

Pure NumPy on the host; pandas is imported only by :func:`cut_fluctuations`, so importing
:mod:`typicality_ntk.quantum` does not pull it in.

Standard error of a sample variance. For n i.i.d. samples with sample variance s^2 (ddof = 1),

    Var[s^2] = (mu_4 - sigma^4 (n - 3)/(n - 1)) / n

exactly, for any distribution with a finite fourth moment (a standard result; e.g. Cramer,
Mathematical Methods of Statistics (1946), Ch. 27). :func:`sample_variance_se` plugs in the sample
fourth central moment m_4 = mean((x - xbar)^4) and sigma^4 -> s^4; for Gaussian data it gives
~2 sigma^4/(n - 1), the familiar value. The plug-in is never negative: s^4 (n - 3)/(n - 1) =
m_2^2 n^2 (n - 3)/(n - 1)^3 <= m_2^2 <= m_4.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from typicality_ntk.quantum import theory

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["sample_variance_se", "cut_fluctuations", "CUT_FLUCTUATION_COLUMNS"]

#: Columns of :func:`cut_fluctuations`, in order.
CUT_FLUCTUATION_COLUMNS = (
    "d_a",
    "d_b",
    "n",
    "s_vn_var",
    "s_vn_var_exact",
    "s_vn_var_se",
    "purity_var",
    "purity_var_exact",
    "purity_var_se",
)


def sample_variance_se(samples) -> tuple[float, float]:
    """Unbiased sample variance s^2 (ddof = 1) and its standard error (module docstring).

    Args:
        samples (array of shape (n,) or any shape, flattened): i.i.d. real samples.

    Returns:
        (s^2, SE[s^2]) as floats; both NaN when fewer than 2 samples (nothing to estimate) and
        SE NaN for 2 or 3 samples (the fourth moment is not estimable; the formula is exact
        in expectation only for n >= 4, where it is used).
    """
    x = np.asarray(samples, dtype=np.float64).ravel()
    n = x.size
    if n < 2:
        return math.nan, math.nan
    centred = x - x.mean()
    m2 = float(np.mean(centred**2))
    s2 = m2 * n / (n - 1)
    if n < 4:
        return s2, math.nan
    m4 = float(np.mean(centred**4))
    return s2, math.sqrt(max(m4 - s2 * s2 * (n - 3) / (n - 1), 0.0) / n)


def cut_fluctuations(df: pd.DataFrame) -> pd.DataFrame:
    """Per-cut sampled and exact variances of S_vN and of the purity, from page_curve results.

    Groups ``df`` by (d_a, d_b) and, for each cut, reports the sample variance of ``s_vn`` and of
    ``purity`` with its standard error (:func:`sample_variance_se`) next to the exact Haar values
    :func:`~typicality_ntk.quantum.theory.page_entropy_variance` (Vivo-Pato-Oshanin 2016, Wei
    2017) and :func:`~typicality_ntk.quantum.theory.purity_variance` (Giraud 2007). The exact
    columns describe Haar states; for another sampler (e.g. ``energy_shell``) they are the Haar
    reference, not a prediction. Several ``n_qubits`` at the same (d_a, d_b) are pooled, since the
    law depends on the dimensions only.

    Args:
        df: a page_curve results table with at least the columns d_a, d_b, s_vn and purity (one
            row per sampled state; other columns such as n_qubits and sample are ignored).

    Returns:
        A DataFrame with one row per cut, sorted by (d_a, d_b), and the columns
        ``CUT_FLUCTUATION_COLUMNS``: d_a, d_b, n (number of samples), s_vn_var, s_vn_var_exact,
        s_vn_var_se, purity_var, purity_var_exact, purity_var_se (variances in nats^2 for S_vN).
        Sampled entries are NaN where too few samples exist (see :func:`sample_variance_se`).

    Raises:
        KeyError: if a required column is missing.
    """
    import pandas as pd

    missing = [c for c in ("d_a", "d_b", "s_vn", "purity") if c not in df.columns]
    if missing:
        raise KeyError(f"cut_fluctuations: missing columns {missing} (have {list(df.columns)})")
    rows = []
    for (d_a, d_b), grp in df.groupby(["d_a", "d_b"], sort=True):
        d_a, d_b = int(d_a), int(d_b)
        s_var, s_se = sample_variance_se(grp["s_vn"].to_numpy())
        p_var, p_se = sample_variance_se(grp["purity"].to_numpy())
        rows.append(
            (
                d_a,
                d_b,
                len(grp),
                s_var,
                theory.page_entropy_variance(d_a, d_b),
                s_se,
                p_var,
                theory.purity_variance(d_a, d_b),
                p_se,
            )
        )
    out = pd.DataFrame(rows, columns=list(CUT_FLUCTUATION_COLUMNS))
    return out.astype({"d_a": "int64", "d_b": "int64", "n": "int64"})
