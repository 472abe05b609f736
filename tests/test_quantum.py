"""The quantum side against exact theory: tolerances are 4 standard errors of the sampled mean."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from typicality_ntk import quantum as q
from typicality_ntk.plot import mean_sem
from typicality_ntk.quantum import theory
from typicality_ntk.sweep import Runner, load_experiment

Z = 4.0  # standard errors allowed between a sampled mean and its exact value


_RUNNER = Runner(progress=False)


def _run(name, make_config, *overrides):
    cfg = make_config(f"experiment={name}", *overrides)
    return _RUNNER.run(load_experiment(cfg.module), cfg)


def test_page_curve_matches_lubkin_and_page_at_every_cut(make_config):
    table = _run("page_curve", make_config, "quantum.n_qubits=8", "samples=512").table
    assert list(table.columns[:8]) == list(
        load_experiment("experiments.page_curve").columns
    )
    for col, exact in [("purity", theory.lubkin_purity), ("s_vn", theory.page_entropy)]:
        stats = mean_sem(table, ["d_a", "d_b"], col)
        assert len(stats) == 7
        for row in stats.itertuples():
            want = exact(row.d_a, row.d_b)
            assert abs(row.mean - want) < Z * row.sem, (col, row.d_a, row.mean, want, row.sem)


def test_extra_renyi_orders_are_recorded_and_ordered(make_config):
    table = _run(
        "page_curve",
        make_config,
        "quantum.n_qubits=6",
        "samples=64",
        "quantum.alphas=[0,0.5,3,inf]",
    ).table
    s0, s05, s1, s2, s3, sinf = (
        table[c]
        for c in ("s_renyi_0", "s_renyi_0p5", "s_vn", "s_renyi_2", "s_renyi_3", "s_renyi_inf")
    )
    tol = 1e-4
    assert np.all(s0 + tol >= s05) and np.all(s05 + tol >= s1) and np.all(s1 + tol >= s2)
    assert np.all(s2 + tol >= s3) and np.all(s3 + tol >= sinf)
    # log-rank is log min(dA, dB) almost surely
    np.testing.assert_allclose(s0, np.log(np.minimum(table.d_a, table.d_b)), rtol=1e-5)


def _two_sample_close(a, b):
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    return abs(a.mean() - b.mean()) < Z * se


def test_gue_eigenvectors_have_haar_statistics(make_config):
    args = ("quantum.n_qubits=6", "samples=400", "quantum.cuts=[2,3]")
    haar = _run("page_curve", make_config, *args).table
    gue = _run("page_curve", make_config, *args, "quantum=gue_eigvec").table
    for col in ("purity", "s_vn"):
        for d_a in (4, 8):
            assert _two_sample_close(haar[haar.d_a == d_a][col], gue[gue.d_a == d_a][col]), col


@pytest.mark.parametrize("sampler", ["haar", "gue_eigvec"])
def test_expectation_variance_is_exact_haar_variance(make_config, sampler):
    table = _run(
        "typicality", make_config, f"quantum={sampler}", "quantum.dims=[4,16]", "samples=4000"
    ).table
    for d, grp in table.groupby("d"):
        dev = grp["deviation"].to_numpy(np.float64)
        assert abs(dev.mean()) < Z * dev.std(ddof=1) / np.sqrt(dev.size)
        var, m4 = dev.var(ddof=1), np.mean((dev - dev.mean()) ** 4)
        se_var = np.sqrt((m4 - var**2) / dev.size)
        assert abs(var - grp["haar_var"].iloc[0]) < Z * se_var, (d, var, grp["haar_var"].iloc[0])


def test_energy_shell_typicality(make_config):
    table = _run(
        "typicality",
        make_config,
        "quantum=energy_shell",
        "quantum.chain_sizes=[6,8]",
        "samples=2000",
        "quantum.window=3.0",
    ).table
    assert set(table.n_qubits) == {6, 8}
    for _, grp in table.groupby("n_qubits"):
        dev = grp["deviation"].to_numpy(np.float64)
        var, m4 = dev.var(ddof=1), np.mean((dev - dev.mean()) ** 4)
        assert abs(dev.mean()) < Z * np.sqrt(var / dev.size)
        assert abs(var - grp["haar_var"].iloc[0]) < Z * np.sqrt((m4 - var**2) / dev.size)
    # a wider shell (larger d) concentrates <O> more: the variance falls like 1/(d+1)
    v = table.groupby("d")["deviation"].var()
    assert v.index.is_monotonic_increasing and v.iloc[-1] < v.iloc[0]


def test_energy_shell_page_curve_states_are_normalised_and_in_the_shell():
    energies, basis = q.energy_shell(8, 0.0, 2.0)
    psi = q.shell_state(jax.random.key(0), jnp.asarray(basis, jnp.complex64))
    assert abs(float(jnp.linalg.norm(psi)) - 1) < 1e-5
    h = q.mixed_field_ising(8)
    energy = float(jnp.real(jnp.vdot(psi, jnp.asarray(h, jnp.complex64) @ psi)))
    assert energies.min() - 1e-4 <= energy <= energies.max() + 1e-4


def test_mp_ks_distance_shrinks_as_d_grows(make_config):
    table = _run(
        "mp_spectrum",
        make_config,
        "quantum.mp_d_a=[8,32,128]",
        "quantum.mp_ratios=[0.5,2.0]",
        "samples=48",
    ).table
    for c in (0.5, 2.0):
        s = mean_sem(table[table.c == c], "d_a", "ks_distance").sort_values("d_a")
        means, sems = s["mean"].to_numpy(), s["sem"].to_numpy()
        for i in range(len(means) - 1):
            assert means[i] - means[i + 1] > Z * np.hypot(sems[i], sems[i + 1]), (c, means)


def test_schmidt_spectrum_equals_squared_singular_values():
    psi = q.haar_state(jax.random.key(1), 8 * 32, jnp.complex64)
    for d_a, d_b in [(8, 32), (32, 8)]:
        s = np.linalg.svd(np.asarray(psi).reshape(d_a, d_b), compute_uv=False) ** 2
        want = np.sort(np.concatenate([s, np.zeros(d_a - s.size)]))
        np.testing.assert_allclose(q.schmidt_spectrum(psi, d_a, d_b), want, atol=1e-6)
        purity_direct = float(q.purity_from_state(psi, d_a, d_b))
        assert abs(purity_direct - float(np.sum(s**2))) < 1e-6


def test_entropies_of_known_spectra():
    mixed = jnp.full((2, 8), 1 / 8)  # batch of two maximally mixed states
    pure = jnp.zeros(8).at[3].set(1.0)
    np.testing.assert_allclose(q.von_neumann_entropy(mixed), np.log(8), rtol=1e-6)
    for alpha in (0.0, 0.5, 2.0, 3.0, np.inf):
        np.testing.assert_allclose(q.renyi_entropy(mixed, alpha), np.log(8), rtol=1e-6)
        assert abs(float(q.renyi_entropy(pure, alpha))) < 1e-6
    assert float(q.von_neumann_entropy(pure)) == 0.0  # NaN-safe: 0 log 0 = 0
    np.testing.assert_allclose(q.trace_distance_to_mixed(mixed), 0.0, atol=1e-7)
    np.testing.assert_allclose(q.trace_distance_to_mixed(pure), 1 - 1 / 8, rtol=1e-6)
    lam = jnp.asarray([0.5, 0.3, 0.2])
    for a in (0.999, 1.001):  # continuity at alpha = 1
        assert abs(float(q.renyi_entropy(lam, a) - q.von_neumann_entropy(lam))) < 2e-3


def test_haar_sampler_is_normalised_and_not_the_disk_sampler():
    keys = jax.random.split(jax.random.key(2), 20000)
    psi = jax.vmap(lambda k: q.haar_state(k, 8))(keys)
    np.testing.assert_allclose(jnp.linalg.norm(psi, axis=1), 1.0, rtol=1e-5)
    # |psi_0|^2 of a Haar state is Beta(1, d-1): mean 1/d, variance (d-1)/(d^2 (d+1))
    p0 = np.asarray(jnp.abs(psi[:, 0]) ** 2, np.float64)
    d = 8
    assert abs(p0.mean() - 1 / d) < Z * p0.std() / np.sqrt(p0.size)
    var_exact = (d - 1) / (d**2 * (d + 1))
    se = np.sqrt((np.mean((p0 - p0.mean()) ** 4) - p0.var() ** 2) / p0.size)
    assert abs(p0.var() - var_exact) < Z * se
