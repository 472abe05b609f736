"""Tests for ``typicality_ntk.quantum.theory``: exact identities and sampled-vs-analytic checks.

Monte Carlo checks use ``np.random.default_rng`` with fixed seeds and a tolerance of 4 standard
errors estimated from the samples. Haar states are normalised complex Gaussian vectors.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special

from typicality_ntk.quantum import theory as th
from typicality_ntk.quantum.fluctuations import (
    CUT_FLUCTUATION_COLUMNS,
    cut_fluctuations,
    sample_variance_se,
)

N_SE = 4.0  # Monte Carlo tolerance, in standard errors
C_VALUES = (0.1, 0.5, 1.0, 2.0, 5.0)


# --------------------------------------------------------------------------- helpers


def haar_coefficients(rng: np.random.Generator, n: int, d_a: int, d_b: int) -> np.ndarray:
    """n Haar states on C^{dA} (x) C^{dB} as coefficient matrices, shape (n, dA, dB)."""
    g = rng.standard_normal((n, d_a, 2 * d_b)).view(np.complex128)
    return g / np.linalg.norm(g, axis=(1, 2), keepdims=True)


def reduced_spectra(rng: np.random.Generator, n: int, d_a: int, d_b: int) -> np.ndarray:
    """Eigenvalues of rho_A = M M^dag for n Haar states, shape (n, dA); zeros kept if dA > dB."""
    m = haar_coefficients(rng, n, d_a, d_b)
    return np.linalg.eigvalsh(m @ m.conj().transpose(0, 2, 1))


def haar_kets(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """n Haar-random unit vectors in C^d, shape (n, d)."""
    z = rng.standard_normal((n, 2 * d)).view(np.complex128)
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def disk_kets(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """The NON-Haar sampler: amplitudes uniform in the complex unit disk, then normalised."""
    z = np.sqrt(rng.uniform(size=(n, d))) * np.exp(2j * np.pi * rng.uniform(size=(n, d)))
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def gue(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.standard_normal((d, 2 * d)).view(np.complex128)
    return 0.5 * (a + a.conj().T)


def expectations(kets: np.ndarray, obs: np.ndarray) -> np.ndarray:
    return np.einsum("ni,ij,nj->n", kets.conj(), obs, kets).real


def vn_entropy(lam: np.ndarray) -> np.ndarray:
    """-sum lambda log lambda over the last axis with 0 log 0 = 0."""
    pos = lam > 0
    return -np.sum(np.where(pos, lam * np.log(np.where(pos, lam, 1.0)), 0.0), axis=-1)


def mean_and_se(samples: np.ndarray) -> tuple[float, float]:
    return float(samples.mean()), float(samples.std(ddof=1) / math.sqrt(samples.size))


def variance_and_se(samples: np.ndarray) -> tuple[float, float]:
    """Sample variance and its standard error sqrt((m4 - s^4)/n)."""
    s2 = float(samples.var(ddof=1))
    m4 = float(np.mean((samples - samples.mean()) ** 4))
    return s2, math.sqrt((m4 - s2**2) / samples.size)


def ks_distance(samples: np.ndarray, cdf) -> float:
    """sup_x |F_n(x) - F(x)|, exact also when F has atoms (both one-sided limits compared)."""
    x = np.sort(samples)
    u = np.unique(x)
    emp_right = np.searchsorted(x, u, side="right") / x.size
    emp_left = np.searchsorted(x, u, side="left") / x.size
    right = np.abs(emp_right - cdf(u))
    left = np.abs(emp_left - cdf(np.nextafter(u, -np.inf)))
    return float(max(right.max(), left.max()))


def ref_cont_integral(f, c: float, upper: float | None = None) -> float:
    """Adaptive quadrature of f(x) rho_c(x) over [x-, upper], independent of the module's tricks.

    The square roots are handed to QUADPACK's algebraic weight (x - lo)^a (hi - x)^b.
    """
    lo, hi = th.mp_edges(c)
    upper = hi if upper is None else upper
    if c == 1.0:  # rho_1(x) = sqrt(4 - x) / (2 pi sqrt(x)): weight x^(-1/2)
        val, _ = integrate.quad(
            lambda x: f(x) * math.sqrt(hi - x) / (2 * math.pi),
            lo,
            upper,
            weight="alg",
            wvar=(-0.5, 0.0),
            epsabs=1e-13,
            epsrel=1e-13,
        )
        return val
    if upper >= hi:
        val, _ = integrate.quad(
            lambda x: f(x) / (2 * math.pi * c * x),
            lo,
            hi,
            weight="alg",
            wvar=(0.5, 0.5),
            epsabs=1e-13,
            epsrel=1e-13,
        )
        return val
    val, _ = integrate.quad(
        lambda x: f(x) * math.sqrt(hi - x) / (2 * math.pi * c * x),
        lo,
        upper,
        weight="alg",
        wvar=(0.5, 0.0),
        epsabs=1e-13,
        epsrel=1e-13,
    )
    return val


# --------------------------------------------------------------------------- Lubkin and Page


def test_lubkin_purity_values():
    assert th.lubkin_purity(2, 2) == pytest.approx(4 / 5, abs=1e-15)
    assert th.lubkin_purity(1, 7) == pytest.approx(1.0, abs=1e-15)
    assert th.lubkin_purity(3, 5) == th.lubkin_purity(5, 3)
    assert th.lubkin_purity(np.int64(4), 4) == pytest.approx(8 / 17, abs=1e-15)


@pytest.mark.parametrize(
    ("d_a", "d_b"), [(1, 1), (1, 6), (6, 1), (2, 2), (2, 3), (3, 2), (4, 7), (7, 4), (5, 5), (8, 3)]
)
def test_page_entropy_matches_harmonic_sum(d_a, d_b):
    m, n = min(d_a, d_b), max(d_a, d_b)
    brute = math.fsum(1.0 / k for k in range(n + 1, m * n + 1)) - (m - 1) / (2 * n)
    assert th.page_entropy(d_a, d_b) == pytest.approx(brute, abs=1e-12)
    assert th.page_entropy(d_a, d_b) == pytest.approx(th.page_entropy(d_b, d_a), abs=1e-15)


def test_page_entropy_approaches_approximation_at_fixed_ratio():
    # c = 1/4; exact - approx = (1 + c/6)/(2 dA dB) + O((dA dB)^-2)
    sizes = [(2, 8), (4, 16), (8, 32), (16, 64), (32, 128)]
    diffs = np.array([th.page_entropy(a, b) - th.page_entropy_approx(a, b) for a, b in sizes])
    assert np.all(diffs > 0)
    assert np.all(np.diff(diffs) < 0)
    scaled = np.array([dif * 2 * a * b for dif, (a, b) in zip(diffs, sizes, strict=True)])
    errors = np.abs(scaled - (1 + 0.25 / 6))
    assert np.all(np.diff(errors) < 0)
    assert errors[-1] < 1e-4


@pytest.mark.parametrize(("d_a", "d_b"), [(2, 8), (4, 4), (8, 2), (3, 5)])
def test_monte_carlo_purity_and_entropy(d_a, d_b):
    rng = np.random.default_rng(1000 + 17 * d_a + d_b)
    lam = np.clip(reduced_spectra(rng, 4000, d_a, d_b), 0.0, None)
    purity_mean, purity_se = mean_and_se(np.sum(lam**2, axis=-1))
    assert abs(purity_mean - th.lubkin_purity(d_a, d_b)) < N_SE * purity_se
    entropy_mean, entropy_se = mean_and_se(vn_entropy(lam))
    assert abs(entropy_mean - th.page_entropy(d_a, d_b)) < N_SE * entropy_se


# --------------------------------------------------------------------------- Marchenko-Pastur law


@pytest.mark.parametrize("c", C_VALUES)
def test_mp_density_integrates_to_continuous_mass(c):
    lo, hi = th.mp_edges(c)
    assert (lo, hi) == pytest.approx(((1 - math.sqrt(c)) ** 2, (1 + math.sqrt(c)) ** 2))
    if c == 1.0:  # 1/sqrt(x) edge at x = 0: substitute x = u^2 (QUADPACK never hits u = 0)
        mass, _ = integrate.quad(lambda u: th.mp_density(u * u, c) * 2 * u, 0.0, 2.0)
    else:
        mass, _ = integrate.quad(lambda x: th.mp_density(x, c), lo, hi, epsabs=1e-13)
    assert mass == pytest.approx(min(1.0, 1.0 / c), abs=1e-9)
    outside = th.mp_density(np.array([lo - 0.1, hi + 0.1, -1.0]), c)
    assert np.all(outside == 0.0)
    assert isinstance(th.mp_density(1.0, c), float)


@pytest.mark.parametrize("c", C_VALUES)
def test_mp_cdf_against_quadrature_and_limits(c):
    lo, hi = th.mp_edges(c)
    atom = max(0.0, 1.0 - 1.0 / c)
    xs = lo + (hi - lo) * np.array([0.01, 0.2, 0.5, 0.77, 0.99])
    cdf = th.mp_cdf(xs, c)
    assert cdf.shape == xs.shape
    for x, value in zip(xs, cdf, strict=True):
        assert value == pytest.approx(atom + ref_cont_integral(lambda _: 1.0, c, x), abs=1e-10)
    assert th.mp_cdf(hi, c) == pytest.approx(1.0, abs=1e-14)
    assert th.mp_cdf(hi + 3.0, c) == 1.0
    assert th.mp_cdf(-1e-12, c) == 0.0
    assert th.mp_cdf(0.0, c) == pytest.approx(atom, abs=1e-14)
    grid = np.linspace(-0.5, hi + 0.5, 2001)
    assert np.all(np.diff(th.mp_cdf(grid, c)) >= 0.0)


@pytest.mark.parametrize("c", C_VALUES)
def test_mp_moments(c):
    assert th.mp_moment(0, c) == 1.0
    assert th.mp_moment(1, c) == pytest.approx(1.0, abs=1e-15)
    assert th.mp_moment(2, c) == pytest.approx(1.0 + c, abs=1e-14)
    assert th.mp_moment(3, c) == pytest.approx(1.0 + 3 * c + c**2, abs=1e-13)
    assert th.mp_expectation(np.ones_like, c) == pytest.approx(1.0, abs=1e-12)  # atom included
    for k in range(1, 5):
        quad = th.mp_expectation(lambda x, k=k: x**k, c)
        assert quad == pytest.approx(th.mp_moment(k, c), rel=1e-11)
        ref = ref_cont_integral(lambda x, k=k: x**k, c)
        assert quad == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("c", (2.0, 5.0))
def test_mp_large_ratio_is_rescaled_small_ratio_plus_atom(c):
    # Derivation of the c > 1 convention: x = c * y, y ~ MP(1/c), weight 1/c, plus the atom at 0.
    def f(x):
        return np.exp(-x) + np.sqrt(x)

    lhs = th.mp_expectation(f, c)
    rhs = (1 - 1 / c) * f(0.0) + th.mp_expectation(lambda y: f(c * y), 1 / c) / c
    assert lhs == pytest.approx(rhs, abs=1e-12)


@pytest.mark.parametrize("c", (0.1, 0.5, 1.0))
def test_mp_x_log_x_is_half_the_ratio(c):
    assert th.mp_expectation(lambda x: x * np.log(x), c) == pytest.approx(c / 2, abs=1e-10)


def test_mp_x_log_x_above_one():
    c = 3.0

    def x_log_x(x):
        pos = x > 0
        return np.where(pos, x * np.log(np.where(pos, x, 1.0)), 0.0)

    assert th.mp_expectation(x_log_x, c) == pytest.approx(math.log(c) + 1 / (2 * c), abs=1e-10)


def test_mp_cdf_describes_haar_spectra_small_ratio():
    # c = 1/4 (dA < dB). Equal pooled eigenvalue counts (2^14) at dA = 32 and 128, so the drop in
    # the KS distance is the finite-size deviation shrinking (edges: O(1/d)), not sample size.
    # Spread over 6 seeds: 0.0023-0.0028 at dA = 32, 0.0013-0.0018 at dA = 128; the law with c off
    # by 10% gives KS ~= 0.02 (0.045 for c = 2), so the absolute bounds are not vacuous.
    c = 0.25
    rng = np.random.default_rng(2024)
    ks = []
    for d_a, n in ((32, 512), (128, 128)):
        x = d_a * reduced_spectra(rng, n, d_a, round(d_a / c)).ravel()
        ks.append(ks_distance(x, lambda u: th.mp_cdf(u, c)))
    assert ks[1] < ks[0] < 0.005
    assert ks[1] < 0.0025


def test_mp_cdf_describes_haar_spectra_with_atom():
    # c = 2 (dA > dB): dA - dB exact zeros, the atom of mass 1 - 1/c = 1/2 at x = 0 (round-off
    # zeros below 1e-12 are set to 0). Spread over 6 seeds: 0.0026-0.0032 / 0.0011-0.0016.
    c = 2.0
    rng = np.random.default_rng(77)
    ks = []
    for d_a, n in ((32, 512), (128, 128)):
        lam = reduced_spectra(rng, n, d_a, round(d_a / c))
        x = d_a * np.where(np.abs(lam) < 1e-12, 0.0, lam).ravel()
        assert np.mean(x == 0.0) == 1 - 1 / c
        ks.append(ks_distance(x, lambda u: th.mp_cdf(u, c)))
    assert ks[1] < ks[0] < 0.005
    assert ks[1] < 0.0025


# --------------------------------------------------------------------------- Eq. 2


@pytest.mark.parametrize(("d_a", "d_b"), [(4, 16), (16, 4), (10, 10), (7, 30), (100, 3)])
def test_renyi_reproduces_purity_and_page_approximation(d_a, d_b):
    # alpha = 2: exp(-S_2) = (dA + dB)/(dA dB), the large-d Lubkin purity.
    assert th.renyi_entropy_mp(2, d_a, d_b) == pytest.approx(
        math.log(d_a * d_b / (d_a + d_b)), abs=1e-10
    )
    # alpha -> 1: Page's approximation log m - m/(2n).
    assert th.renyi_entropy_mp(1, d_a, d_b) == pytest.approx(
        th.page_entropy_approx(d_a, d_b), abs=1e-8
    )
    # alpha = 0: just the log-rank.
    m, n = min(d_a, d_b), max(d_a, d_b)
    assert th.renyi_entropy_mp(0, d_a, d_b) == pytest.approx(math.log(m), abs=1e-15)
    assert th.renyi_entropy_mp(math.inf, d_a, d_b) == pytest.approx(
        math.log(m) - 2 * math.log(1 + math.sqrt(m / n)), abs=1e-14
    )
    for alpha in (0, 0.5, 1, 2, 3.5, math.inf):
        assert th.renyi_entropy_mp(alpha, d_a, d_b) == th.renyi_entropy_mp(alpha, d_b, d_a)


def test_renyi_is_nonincreasing_in_alpha_and_continuous_at_one():
    alphas = [0, 0.3, 0.9, 0.999, 1, 1.001, 1.5, 2, 5, 50, math.inf]
    values = [th.renyi_entropy_mp(a, 8, 40) for a in alphas]
    assert np.all(np.diff(values) <= 1e-12)
    assert values[3] == pytest.approx(values[4], abs=1e-3)
    assert values[5] == pytest.approx(values[4], abs=1e-3)


@pytest.mark.parametrize("alpha", (0.5, 2.0, 3.0))
def test_renyi_larger_side_with_atom_gives_same_value(alpha):
    # Eq. 2 applied to the larger side (c = dA/dB > 1, atom at 0) agrees with the smaller side.
    d_a, d_b = 30, 10
    c = d_a / d_b
    moment = th.mp_expectation(lambda x: x**alpha, c)
    larger_side = math.log(d_a) + math.log(moment) / (1 - alpha)
    assert larger_side == pytest.approx(th.renyi_entropy_mp(alpha, d_a, d_b), abs=1e-10)


# --------------------------------------------------------------------------- trace distance


@pytest.mark.parametrize(("d_a", "d_b"), [(1, 10), (10, 40), (10, 10), (20, 10), (50, 10)])
def test_mp_trace_distance_closed_form(d_a, d_b):
    c = d_a / d_b
    atom = max(0.0, 1 - 1 / c)
    ref = 0.5 * (atom + ref_cont_integral(lambda x: abs(x - 1.0), c))
    assert th.mp_trace_distance(d_a, d_b) == pytest.approx(ref, abs=1e-9)


def test_mp_trace_distance_special_values():
    assert th.mp_trace_distance(7, 7) == pytest.approx(3 * math.sqrt(3) / (4 * math.pi), abs=1e-14)
    assert th.mp_trace_distance(50, 10) == pytest.approx(1 - 1 / 5, abs=1e-14)
    small = th.mp_trace_distance(1, 10**6)
    assert small == pytest.approx(4 * math.sqrt(1e-6) / (3 * math.pi), rel=1e-4)


@pytest.mark.parametrize("c", (0.25, 1.0, 2.0))
def test_mp_trace_distance_monte_carlo(c):
    # Measured finite-size bias: ~ -kappa/dA^2 with kappa <= 0.26 for these c (docstring); we
    # allow 0.5/dA^2 on top of 4 SE. At dA = 32 that is 5e-4 on values 0.2-0.6.
    rng = np.random.default_rng(int(100 * c))
    for d_a, n in ((8, 4000), (32, 1000)):
        d_b = round(d_a / c)
        lam = reduced_spectra(rng, n, d_a, d_b)
        mean, se = mean_and_se(0.5 * np.sum(np.abs(lam - 1 / d_a), axis=-1))
        assert abs(mean - th.mp_trace_distance(d_a, d_b)) < N_SE * se + 0.5 / d_a**2


# --------------------------------------------------------------------------- Eq. 1


def test_microcanonical_moments_and_eigenvalue_shortcut():
    rng = np.random.default_rng(5)
    obs = gue(rng, 9)
    d = obs.shape[0]
    mean = np.trace(obs).real / d
    var = np.trace(obs @ obs).real / d - mean**2
    assert th.microcanonical_mean(obs) == pytest.approx(mean, abs=1e-12)
    assert th.microcanonical_variance(obs) == pytest.approx(var, abs=1e-12)
    assert th.haar_expectation_variance(obs) == pytest.approx(var / (d + 1), abs=1e-12)
    eig = np.linalg.eigvalsh(obs)
    assert th.microcanonical_mean(eig) == pytest.approx(mean, abs=1e-12)
    assert th.haar_expectation_variance(eig) == pytest.approx(var / (d + 1), abs=1e-12)
    assert th.haar_expectation_variance(np.array([[2.5]])) == 0.0


def test_haar_expectation_variance_monte_carlo_and_disk_sampler_fails():
    d, n = 16, 20000
    rng = np.random.default_rng(3)
    obs = gue(rng, d)
    exact = th.haar_expectation_variance(obs)
    var, se = variance_and_se(expectations(haar_kets(rng, n, d), obs))
    assert abs(var - exact) < N_SE * se

    # The disk sampler is not unitarily invariant, so its bias depends on the observable's basis.
    # For O diagonal in the sampling basis (same spectrum, hence the same Haar variance) the
    # variance drops by ~1/3 (|z|^2 ~ U(0,1) instead of Exp(1)); a Haar sampler still passes.
    diag_obs = np.diag(np.linalg.eigvalsh(obs))
    assert th.haar_expectation_variance(diag_obs) == pytest.approx(exact, rel=1e-12)
    var_haar, se_haar = variance_and_se(expectations(haar_kets(rng, n, d), diag_obs))
    assert abs(var_haar - exact) < N_SE * se_haar
    var_disk, se_disk = variance_and_se(expectations(disk_kets(rng, n, d), diag_obs))
    assert var_disk / exact < 0.6
    assert abs(var_disk - exact) > N_SE * se_disk
    # For the GUE observable in a random basis the bias is only ~1 - (2/3) sum O'_ii^2 / Tr O'^2
    # (~0.96 here, O' = O - <O>_mc): hard to see at this sample size, hence the diagonal test.
    var_disk_gue, _ = variance_and_se(expectations(disk_kets(rng, n, d), obs))
    assert 0.85 < var_disk_gue / exact < 1.05


def test_typicality_bound_holds_empirically():
    d, n = 16, 20000
    rng = np.random.default_rng(11)
    obs = gue(rng, d)
    var_mc = th.microcanonical_variance(obs)
    dev = expectations(haar_kets(rng, n, d), obs) - th.microcanonical_mean(obs)
    sigma = math.sqrt(th.haar_expectation_variance(obs))
    eps = sigma * np.array([1.5, 2.0, 3.0, 4.0])
    bound = th.typicality_bound(var_mc, eps, d)
    assert bound.shape == eps.shape
    assert bound == pytest.approx(var_mc / (eps**2 * (d + 1)))
    assert th.typicality_bound(var_mc, float(eps[0]), d) == pytest.approx(bound[0])
    for e, b in zip(eps, bound, strict=True):
        tail = float(np.mean(np.abs(dev) >= e))
        assert tail <= b + N_SE * math.sqrt(max(tail * (1 - tail), 1.0 / n) / n)
    # Not vacuous: a bound (d + 1) times too small is violated.
    tail_first = float(np.mean(np.abs(dev) >= eps[0]))
    assert tail_first > bound[0] / (d + 1)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: th.lubkin_purity(0, 3), "d_a"),
        (lambda: th.page_entropy(3, -1), "d_b"),
        (lambda: th.page_entropy_approx(2.5, 3), "d_a"),
        (lambda: th.page_entropy(True, 3), "d_a"),
        (lambda: th.mp_edges(0.0), "c="),
        (lambda: th.mp_density(1.0, -1.0), "c="),
        (lambda: th.mp_cdf(1.0, math.nan), "c="),
        (lambda: th.mp_moment(-1, 0.5), "k="),
        (lambda: th.mp_moment(1.5, 0.5), "k="),
        (lambda: th.mp_expectation(np.ones_like, 0.5, n=0), "n="),
        (lambda: th.renyi_entropy_mp(-0.5, 4, 4), "alpha"),
        (lambda: th.renyi_entropy_mp(math.nan, 4, 4), "alpha"),
        (lambda: th.mp_trace_distance(4, 0), "d_b"),
        (lambda: th.microcanonical_mean(np.zeros((2, 3))), "square"),
        (lambda: th.microcanonical_variance(np.array([[0.0, 1.0], [0.0, 0.0]])), "Hermitian"),
        (lambda: th.haar_expectation_variance(np.array([])), "empty"),
        (lambda: th.typicality_bound(1.0, np.array([0.1, 0.0]), 4), "eps"),
        (lambda: th.typicality_bound(-1.0, 0.1, 4), "var_mc"),
        (lambda: th.typicality_bound(1.0, 0.1, 0), "d="),
    ],
)
def test_invalid_inputs_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------- exact variances


@pytest.mark.parametrize("n", (1, 2, 3, 7, 64, 2**20))
def test_variances_vanish_for_product_cuts(n):
    # min(dA, dB) = 1: psi is a product state, S = 0 and Tr rho_A^2 = 1 for every sample.
    for d_a, d_b in ((1, n), (n, 1)):
        assert th.page_entropy_variance(d_a, d_b) == 0.0
        assert th.purity_variance(d_a, d_b) == 0.0


@pytest.mark.parametrize(("d_a", "d_b"), [(2, 3), (4, 7), (5, 5), (16, 2), (3, 1024), (64, 64)])
def test_variances_symmetric_positive_and_typed(d_a, d_b):
    for fn in (th.page_entropy_variance, th.purity_variance):
        value = fn(d_a, d_b)
        assert isinstance(value, float)
        assert math.isfinite(value) and value > 0.0
        assert fn(d_b, d_a) == value
    assert th.purity_variance(np.int64(d_a), d_b) == th.purity_variance(d_a, d_b)


def test_variances_closed_values_and_scaling():
    # (2, 2): the eigenvalue density (2 lambda - 1)^2 on [0, 1] gives Var P = 3/175 by hand.
    assert th.purity_variance(2, 2) == pytest.approx(3 / 175, rel=1e-15)
    # Var S at m = n -> 1/(4 n^2) (the three terms of Vivo-Pato-Oshanin at leading order).
    assert th.page_entropy_variance(2**12, 2**12) * 4 * 2**24 == pytest.approx(1.0, rel=1e-3)
    # Var P at fixed c -> 2/(mn)^2.
    assert th.purity_variance(2**10, 2**12) * 2**44 == pytest.approx(2.0, rel=1e-3)
    # (2, 2): psi_1(5) = pi^2/6 - 205/144 and psi_1(2) = pi^2/6 - 1 give 13/36 - pi^2/30. (The
    # psi_1(n + 1) transcription of Var S would give 13/36 - pi^2/30 - 1/5 < 0 here.)
    assert th.page_entropy_variance(2, 2) == pytest.approx(13 / 36 - math.pi**2 / 30, rel=1e-13)


@pytest.mark.parametrize("n", (2, 3, 5, 8, 16))
def test_variances_match_exact_two_level_density(n):
    # m = 2: the eigenvalues (lambda, 1 - lambda) of rho_A have the fixed-trace Laguerre density
    # ~ (lambda (1 - lambda))^(n - 2) (2 lambda - 1)^2 on [0, 1] (Zyczkowski-Sommers 2001). Its
    # moments by quadrature are exact and independent of the closed forms (and of sampling).
    def weight(x):
        return (x * (1 - x)) ** (n - 2) * (2 * x - 1) ** 2

    def entropy(x):
        return float(special.entr(x) + special.entr(1 - x))

    def moment(f):
        return integrate.quad(lambda x: f(x) * weight(x), 0, 1, epsabs=0, epsrel=1e-13)[0]

    z = moment(lambda x: 1.0)
    s1, s2 = moment(entropy) / z, moment(lambda x: entropy(x) ** 2) / z
    p1 = moment(lambda x: x**2 + (1 - x) ** 2) / z
    p2 = moment(lambda x: (x**2 + (1 - x) ** 2) ** 2) / z
    assert s1 == pytest.approx(th.page_entropy(2, n), rel=1e-11)
    assert p1 == pytest.approx(th.lubkin_purity(2, n), rel=1e-12)
    assert s2 - s1**2 == pytest.approx(th.page_entropy_variance(2, n), rel=1e-8)
    assert p2 - p1**2 == pytest.approx(th.purity_variance(2, n), rel=1e-9)


@pytest.mark.parametrize(("d_a", "d_b"), [(2, 2), (2, 8), (3, 7), (8, 8), (16, 4)])
def test_variances_monte_carlo_with_power(d_a, d_b):
    # 3e4 states: sampled variances within 4 SE of the exact ones (relative SE ~1%), while two
    # plausible wrong formulas are > 8 SE away, so the check would catch them (measured: the
    # Renyi-2 delta-method guess Var S ~ Var P / E[P]^2 is 29-200 SE off; Giraud's large-d form
    # 2 (m^2 - 1)(n^2 - 1)/(mn)^4 is 11-530 SE off).
    rng = np.random.default_rng(4200 + 31 * d_a + d_b)
    lam = np.clip(reduced_spectra(rng, 30_000, d_a, d_b), 0.0, None)
    m, n = min(d_a, d_b), max(d_a, d_b)
    s_exact, p_exact = th.page_entropy_variance(d_a, d_b), th.purity_variance(d_a, d_b)
    s_wrong = p_exact / th.lubkin_purity(d_a, d_b) ** 2
    p_wrong = 2 * (m * m - 1) * (n * n - 1) / (m * n) ** 4
    for samples, exact, wrong in (
        (vn_entropy(lam), s_exact, s_wrong),
        (np.sum(lam**2, axis=-1), p_exact, p_wrong),
    ):
        var, se = sample_variance_se(samples)
        assert abs(var - exact) < N_SE * se
        assert abs(wrong - exact) > 2 * N_SE * se


def test_sample_variance_se_is_calibrated():
    # Gaussian data: SE^2 -> 2 sigma^4 / (n - 1); and over replicates, the spread of s^2 matches
    # the mean reported SE (to the Monte Carlo accuracy of 400 replicates, ~3.5%).
    rng = np.random.default_rng(8)
    x = 3.0 * rng.standard_normal(200_000)
    var, se = sample_variance_se(x)
    assert var == pytest.approx(9.0, abs=N_SE * se)
    assert se == pytest.approx(math.sqrt(2 * 81 / (x.size - 1)), rel=0.02)
    reps = rng.exponential(size=(400, 50))  # skewed: mu_4 = 9 sigma^4, not 3
    pairs = np.array([sample_variance_se(r) for r in reps])
    assert pairs[:, 1].mean() == pytest.approx(pairs[:, 0].std(ddof=1), rel=0.25)
    assert sample_variance_se(np.array([1.0, 3.0]))[0] == 2.0
    assert math.isnan(sample_variance_se(np.array([1.0, 3.0]))[1])
    assert all(math.isnan(v) for v in sample_variance_se(np.array([1.0])))


def test_cut_fluctuations_table():
    rng = np.random.default_rng(12)
    frames = []
    for n_qubits, cuts in ((4, ((2, 8), (4, 4), (8, 2))), (6, ((2, 32),))):
        for d_a, d_b in cuts:
            lam = np.clip(reduced_spectra(rng, 500, d_a, d_b), 0.0, None)
            frames.append(
                pd.DataFrame(
                    {
                        "n_qubits": n_qubits,
                        "d_a": d_a,
                        "d_b": d_b,
                        "sample": np.arange(500),
                        "purity": np.sum(lam**2, axis=-1),
                        "s_vn": vn_entropy(lam),
                        "s_renyi_2": -np.log(np.sum(lam**2, axis=-1)),
                    }
                )
            )
    frames.append(
        pd.DataFrame({"n_qubits": 8, "d_a": [16], "d_b": [16], "purity": [0.1], "s_vn": [2.0]})
    )
    df = pd.concat(frames, ignore_index=True)
    out = cut_fluctuations(df.sample(frac=1.0, random_state=0))  # order of rows must not matter
    assert tuple(out.columns) == CUT_FLUCTUATION_COLUMNS
    assert list(zip(out["d_a"], out["d_b"], strict=True)) == [
        (2, 8),
        (2, 32),
        (4, 4),
        (8, 2),
        (16, 16),
    ]
    assert out["n"].tolist() == [500, 500, 500, 500, 1]
    for row in out.itertuples():
        assert row.s_vn_var_exact == th.page_entropy_variance(row.d_a, row.d_b)
        assert row.purity_var_exact == th.purity_variance(row.d_a, row.d_b)
        if row.n < 2:
            assert math.isnan(row.s_vn_var) and math.isnan(row.purity_var_se)
            continue
        grp = df[(df["d_a"] == row.d_a) & (df["d_b"] == row.d_b)]
        assert (row.s_vn_var, row.s_vn_var_se) == pytest.approx(sample_variance_se(grp["s_vn"]))
        assert row.purity_var == pytest.approx(grp["purity"].var(ddof=1), rel=1e-12)
        assert abs(row.s_vn_var - row.s_vn_var_exact) < N_SE * row.s_vn_var_se
        assert abs(row.purity_var - row.purity_var_exact) < N_SE * row.purity_var_se
    with pytest.raises(KeyError, match="purity"):
        cut_fluctuations(df.drop(columns="purity"))
