"""Issue 14: Schmidt spectra on two CPU devices sharing one host must finish, and be right.

jaxlib's CPU LAPACK kernels (jax/jaxlib 0.10.2) split a large enough batch over XLA's intra-op
pool and block the calling thread until the chunks are done; when XLA runs the call on a worker
of that same pool and two devices do it at once on a 2-core host, both workers wait for chunks
only they could run (0% CPU forever). ``schmidt_spectrum`` therefore takes one matrix per LAPACK
call when several CPU devices share the host. Each run below is a fresh process with 2 forced CPU
devices (the device count is fixed when JAX initialises), running the program that hung: a
sharded jit whose dot puts the work on the pool, then the vmapped spectrum of a near-square cut
(values-only SVD) and of an elongated one (Gram matrix + eigvalsh). Unpatched, 4 runs of 4 hung
within seconds; a hang fails the test at the subprocess timeout instead of stalling the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from functools import partial

import numpy as np
import pytest

RUNS = 4
#: Seconds per run: a run takes ~5-10 s on 2 busy cores (start, compile, 20 steps).
RUN_TIMEOUT = 60
N, D = 64, 256  # samples (32 per device) and the state dimension (cuts 16|16 and 8|32)
CUTS = ((16, 16), (8, 32))
STEPS = 20

SCRIPT = """
import sys
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from typicality_ntk import _lapack as lapack
from typicality_ntk.quantum import draw_state, schmidt_spectrum

assert jax.local_device_count() == 2, jax.devices()
N, D, STEPS, CUTS = {N}, {D}, {STEPS}, {CUTS}
rows = NamedSharding(Mesh(np.array(jax.devices()), ("s",)), P("s"))
x0, w = np.load(sys.argv[1])["x"], np.load(sys.argv[1])["w"]

@jax.jit
def spectra(x):
    psi = x @ w  # a dot: XLA's CPU runtime runs it, and what follows, on its intra-op pool
    psi = psi / jnp.linalg.norm(psi, axis=1, keepdims=True)
    spectra = [jax.vmap(lambda p: schmidt_spectrum(p, a, b))(psi) for a, b in CUTS]
    # the other vmapped LAPACK calls of the library: GUE eigenvectors (heevd), and eigvalsh of a
    # real kernel as the NTK learners take it (syevd)
    keys = jax.vmap(jax.random.key)(jnp.abs(x[:, 0].real * 1e4).astype(jnp.uint32))
    gue = jax.vmap(lambda k: jnp.abs(draw_state(k, "gue_eigvec", 16, jnp.complex64)) ** 2)(keys)
    k = (psi.real[:, :32, None] * psi.real[:, None, :32]) + jnp.eye(32)
    return [*spectra, gue, jax.vmap(lapack.eigvalsh)(k)]

x = jax.device_put(jnp.asarray(x0), rows)
for step in range(STEPS):
    out = jax.block_until_ready(spectra(x + step))
print("ok", flush=True)
np.savez(sys.argv[2], *[np.asarray(o) for o in spectra(x)])
"""


def _inputs():
    rng = np.random.default_rng(14)
    x = (rng.normal(size=(N, D)) + 1j * rng.normal(size=(N, D))).astype(np.complex64)
    w = (rng.normal(size=(D, D)) + 1j * rng.normal(size=(D, D))).astype(np.complex64) / np.sqrt(D)
    return x, w


def test_spectra_on_two_cpu_devices_finish_and_match(tmp_path):
    x, w = _inputs()
    np.savez(tmp_path / "in.npz", x=x, w=w)
    flags = os.environ.get("XLA_FLAGS", "")
    env = {
        **os.environ,
        "XLA_FLAGS": f"{flags} --xla_force_host_platform_device_count=2".strip(),
        "JAX_PLATFORMS": "cpu",
    }
    script = SCRIPT.format(N=N, D=D, STEPS=STEPS, CUTS=CUTS)
    for run in range(RUNS):
        out = tmp_path / f"out{run}.npz"
        try:
            proc = subprocess.run(
                [sys.executable, "-c", script, str(tmp_path / "in.npz"), str(out)],
                env=env,
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"run {run + 1} of {RUNS}: the Schmidt spectra on 2 CPU devices did not finish "
                f"in {RUN_TIMEOUT} s: the LAPACK-on-the-intra-op-pool deadlock of issue 14 is "
                "back (see typicality_ntk/_lapack.py)"
            )
        assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-3000:]

    # right numbers: the single-device path of this process (batched LAPACK), and float64 truth
    import jax
    import jax.numpy as jnp

    from typicality_ntk.quantum import schmidt_spectrum

    assert jax.local_device_count() == 1
    psi = x.astype(np.complex128) @ w.astype(np.complex128)
    psi /= np.linalg.norm(psi, axis=1, keepdims=True)
    psi32 = jnp.asarray(psi.astype(np.complex64))
    got = np.load(tmp_path / f"out{RUNS - 1}.npz")
    for i, (a, b) in enumerate(CUTS):
        two_dev = got[f"arr_{i}"]
        one_dev = np.asarray(jax.jit(jax.vmap(partial(schmidt_spectrum, d_a=a, d_b=b)))(psi32))
        m = psi.reshape(N, a, b)
        truth = np.linalg.eigvalsh(m @ m.conj().transpose(0, 2, 1))
        assert two_dev.shape == (N, a)
        np.testing.assert_allclose(two_dev, one_dev, rtol=0, atol=2e-6)
        np.testing.assert_allclose(two_dev, truth, rtol=0, atol=2e-6)
        np.testing.assert_allclose(two_dev.sum(axis=1), 1.0, atol=1e-5)
    gue, kernel = got[f"arr_{len(CUTS)}"], got[f"arr_{len(CUTS) + 1}"]
    np.testing.assert_allclose(gue.sum(axis=1), 1.0, atol=1e-5)  # unit eigenvectors, finite
    k = psi.real[:, :32, None] * psi.real[:, None, :32] + np.eye(32)
    np.testing.assert_allclose(kernel, np.linalg.eigvalsh(k), rtol=0, atol=1e-5)
