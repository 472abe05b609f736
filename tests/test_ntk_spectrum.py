"""ntk_spectrum and the threshold fit: exact linear algebra; a fit that recovers known constants."""

from __future__ import annotations

import jax
import numpy as np
import pandas as pd
import pytest

from typicality_ntk.ntk import jacobian
from typicality_ntk.ntk.from_config import network
from typicality_ntk.ntk.threshold import fit_threshold
from typicality_ntk.sweep import load_experiment, precision_scope


def _table(p_values, n, samples, draw):
    rows = [
        {"n_params": p, "sample": s, "n_outputs": 1, "n_train": n, "sigma_min_j_normalized": v}
        for p in p_values
        for s, v in enumerate(draw(p, samples))
    ]
    return pd.DataFrame(rows)


def test_fit_recovers_known_sigma_and_kappa_within_its_interval():
    """y = sigma (sqrt P - kappa sqrt n) + Gaussian noise: the fit lands within 4 bootstrap s.e."""
    rng = np.random.default_rng(1)
    n, sigma, kappa, noise = 50, 0.7, 1.3, 0.05
    p_values = [100, 200, 400, 800, 1600]
    table = _table(
        p_values,
        n,
        40,
        lambda p, s: sigma * (np.sqrt(p) - kappa * np.sqrt(n)) + noise * rng.standard_normal(s),
    )
    fit = fit_threshold(table, n_boot=400)
    # the 95% percentile interval spans ~ 2 x 1.96 standard errors
    se_k = (fit.kappa_hi - fit.kappa_lo) / (2 * 1.96)
    se_s = (fit.sigma_hi - fit.sigma_lo) / (2 * 1.96)
    assert abs(fit.kappa - kappa) < 4 * se_k
    assert abs(fit.sigma - sigma) < 4 * se_s
    assert fit.p_star == pytest.approx(fit.kappa**2 * n)
    assert fit.p_star_ratio == pytest.approx(fit.kappa**2)
    assert fit.kappa_lo < fit.kappa < fit.kappa_hi
    assert fit.n_points == len(p_values)


def test_gaussian_jacobian_gives_the_bai_yin_constants():
    """i.i.d. Gaussian J: sigma_min = sqrt P - sqrt n up to O(n^-2/3) Tracy-Widom corrections."""
    rng = np.random.default_rng(0)
    n = 64

    def draw(p, s):
        out = []
        for _ in range(s):
            sv = np.linalg.svd(rng.standard_normal((n, p)), compute_uv=False)
            out.append(sv[-1] * np.sqrt(n * p / (sv**2).sum()))
        return out

    fit = fit_threshold(_table([128, 256, 512, 1024], n, 24, draw), n_boot=200)
    tw = 3 * n ** (-2 / 3)  # relative size of the finite-n edge correction
    assert abs(fit.kappa - 1) < tw
    assert abs(fit.sigma - 1) < tw


def test_fit_needs_two_widths_above_the_fit_range():
    table = _table([10, 20, 400], 100, 4, lambda p, s: np.ones(s))
    with pytest.raises(ValueError, match=">= 2 widths"):
        fit_threshold(table)


def test_ntk_spectrum_is_the_spectrum_of_j_jt(make_config, runner):
    """Each stored eigenvalue list is eig(J J^T) of the init the sample key draws (float64)."""
    cfg = make_config(
        "experiment=ntk_spectrum", "model.widths=[2,16]", "samples=3", "data.n_train=12"
    )
    exp = load_experiment(cfg.module)
    result = runner.run(exp, cfg)
    table = result.table
    n = 12
    assert list(table.columns[: len(exp.columns)]) == list(exp.columns)
    with precision_scope("float64"):
        x = exp.points(cfg, jax.random.fold_in(jax.random.key(cfg.seed), 0))[0].context
        for p_index, width in enumerate([2, 16]):
            rows = table[table["width"] == width]
            eig = result.arrays[f"ntk_eigenvalues/{p_index}"]
            static = dict(exp.points(cfg, jax.random.key(0))[p_index].static)
            assert static.pop("spectrum_from") == "kernel"  # float64: from K, J never formed
            static.pop("implementation")
            init, apply = network(**static)
            point_key = jax.random.fold_in(jax.random.fold_in(jax.random.key(cfg.seed), 1), p_index)
            for s in range(3):
                j = np.asarray(jacobian(apply, init(jax.random.fold_in(point_key, s), x[:1]), x))
                ref = np.linalg.eigvalsh(j @ j.T)
                scale = ref[-1]
                np.testing.assert_allclose(eig[s], ref, atol=1e-10 * scale)
                sv = np.linalg.svd(j, compute_uv=False)
                # from eigvalsh(K) (float64): relative error <= n eps cond(J)^2 (module docstring)
                rel = max(1e-8, 4 * n * np.finfo(np.float64).eps * (sv[0] / sv[-1]) ** 2)
                assert rows["sigma_min_j"].iloc[s] == pytest.approx(sv[-1], rel=rel)
                normalized = sv[-1] * np.sqrt(j.size / (sv**2).sum())
                assert rows["sigma_min_j_normalized"].iloc[s] == pytest.approx(normalized, rel=rel)
            p = int(rows["n_params"].iloc[0])
            if p >= n:
                np.testing.assert_allclose(rows["lambda_min"], rows["sigma_min_j"] ** 2, rtol=1e-8)
            else:
                assert (rows["lambda_min"] == 0).all()  # rank P < n_L N: K is singular


def test_kernel_route_gives_the_numbers_of_the_jacobian_svd(make_config):
    """float64 takes the spectrum from eigvalsh(K) (J never formed), float32 from one SVD of J;
    at float64 both routes give the same numbers within the stated n eps cond(J)^2 bound."""
    over = ("experiment=ntk_spectrum", "model.widths=[4,64]", "data.n_train=12")
    exp = load_experiment(make_config(*over).module)
    f32 = exp.points(make_config(*over, "precision=float32"), jax.random.key(0))
    assert {p.static["spectrum_from"] for p in f32} == {"jacobian"}
    cfg = make_config(*over)
    with precision_scope("float64"):
        for point in exp.points(cfg, jax.random.key(0)):
            static = dict(point.static)
            assert static.pop("spectrum_from") == "kernel"
            for s in range(2):
                key = jax.random.key(s)
                new = exp.sample(key, point.context, spectrum_from="kernel", **static)
                old = exp.sample(key, point.context, spectrum_from="jacobian", **static)
                cond = float(old["lambda_max"] / old["sigma_min_j"] ** 2)
                rel = max(1e-9, 4 * 12 * np.finfo(np.float64).eps * cond)
                for col in ("sigma_min_j", "sigma_min_j_normalized", "lambda_max"):
                    assert float(new[col]) == pytest.approx(float(old[col]), rel=rel), col
                np.testing.assert_allclose(
                    new["ntk_eigenvalues"], old["ntk_eigenvalues"], atol=1e-10 * cond
                )
