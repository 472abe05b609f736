"""LAPACK calls that cannot deadlock when several CPU devices share one host (issue 14).

jaxlib 0.10.2's CPU LAPACK kernels (gesdd, heevd, syevd, potrf, geqrf: every LAPACK FFI kernel)
split a batch worth splitting over XLA's intra-op Eigen pool (``jax::ParallelBatchMap``) and
block the calling thread on a ``BlockingCounter`` without running any chunk themselves. XLA's
thunk executor may run that custom call on a worker of the same pool, which has one thread per
core and is shared by every CPU device of the process. With 2 devices on 2 cores (the runner
shards samples over ``--xla_force_host_platform_device_count=2`` devices) both workers end up
waiting for chunks only they could run: 0% CPU forever. Smallest reproducer (hangs 4 of 4 on 2
cores, never with 1 device): a jit over ``x`` (64, 256) complex64 sharded over 2 CPU devices,
``m = (x @ w).reshape(-1, 16, 16)``, then ``jnp.linalg.svd(m, compute_uv=False)``; ``eigvalsh``
and ``qr`` hang the same way, and no XLA flag helps (``--xla_cpu_multi_thread_eigen=false`` and
``--xla_cpu_use_thunk_runtime=false`` still hang). jax 0.11.2 compiles that parallel path out of
its open-source builds, but needs Python >= 3.12 (we support 3.11).

The workaround: a batch of ONE matrix is never split (the kernel runs it inline), so with more
than one CPU device these wrappers loop over a vmapped batch with one LAPACK call per matrix
(``jax.custom_batching.sequential_vmap``, a ``lax.map``): the same kernel on the same matrices,
hence the same numbers; the devices give the parallelism. With one CPU device, or on a GPU, they
are exactly ``jnp.linalg``'s functions (same program).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp

__all__ = ["eigh", "eigvalsh", "per_matrix", "shared_cpu_pool", "svd"]


def shared_cpu_pool() -> bool:
    """True when several CPU devices share this process' intra-op pool (the deadlock's setting)."""
    return jax.default_backend() == "cpu" and jax.local_device_count() > 1


def per_matrix(fn: Callable) -> Callable:
    """``fn`` on one matrix (positional array arguments, static keyword arguments); vmapped on a
    host whose CPU devices share a pool (:func:`shared_cpu_pool`), one call per matrix."""

    @functools.wraps(fn)
    def wrapped(*arrays, **static):
        if shared_cpu_pool():
            return jax.custom_batching.sequential_vmap(functools.partial(fn, **static))(*arrays)
        return fn(*arrays, **static)

    return wrapped


eigh = per_matrix(jnp.linalg.eigh)
eigvalsh = per_matrix(jnp.linalg.eigvalsh)
svd = per_matrix(jnp.linalg.svd)
