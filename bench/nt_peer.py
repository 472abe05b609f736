"""neural-tangents 0.6.5 itself, timed on the shapes of bench/ntk.py: run in its own environment.

neural-tangents 0.6.5 does not import on the JAX this project uses, so bench/ntk.py runs this
file as a subprocess in a throw-away environment pinned to what it was released against (the
command of ``scripts/make_nt_reference.py``; :data:`bench.ntk.NT_PEER_COMMAND`)::

    uv run --isolated --no-project --python 3.11 --with jax==0.4.30 --with jaxlib==0.4.30 \
        --with neural-tangents==0.6.5 python bench/nt_peer.py '<json spec>'

It imports nothing from this project. The spec (JSON, one object): ``n_in``, ``widths`` (hidden
widths), ``n_out``, ``n`` (examples; the kernel is of ``x`` with itself, ``x2=None``),
``implementation`` (a ``nt.NtkImplementation`` name in lower case: ``jacobian_contraction``,
``ntk_vector_products``, ``structured_derivatives``), ``repeats``, ``sigma_b``. The network is
``stax.serial(*[Dense(w, W_std=1, b_std=sigma_b), Relu()] * depth, Dense(n_out, ...))`` (NTK
parameterisation, float32, as ``make_mlp`` there), the kernel
``jit(empirical_ntk_fn(apply_fn, trace_axes=(), vmap_axes=0, implementation=...))``: the full
``(N, N, n_out, n_out)`` kernel, per-example Jacobians (``vmap_axes=0``, nt's fast setting for
networks that treat examples independently). Printed, as the last line of stdout, one JSON
object: ``status`` ("ok" or "failed: <error>"), ``time_s`` (median of ``repeats`` calls after
the compiling one), ``compile_s`` (the first call), ``peak_rss_bytes`` (``ru_maxrss``),
``finite``, ``p`` (parameters), ``platform``, ``versions``.
"""

import json
import os
import resource
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # tf2jax imports tensorflow: keep it quiet


def main(spec: dict) -> dict:
    import jax
    import jax.numpy as jnp
    import neural_tangents as nt
    from neural_tangents import stax

    sb = spec.get("sigma_b", 0.1)
    layers = []
    for w in spec["widths"]:
        layers += [stax.Dense(w, W_std=1.0, b_std=sb), stax.Relu()]
    init_fn, apply_fn, _ = stax.serial(*layers, stax.Dense(spec["n_out"], W_std=1.0, b_std=sb))
    x = jax.random.normal(jax.random.PRNGKey(1), (spec["n"], spec["n_in"]), jnp.float32)
    _, params = init_fn(jax.random.PRNGKey(0), x.shape)
    out = {
        "p": int(sum(leaf.size for leaf in jax.tree_util.tree_leaves(params))),
        "versions": {"jax": jax.__version__, "neural_tangents": nt.__version__},
    }
    impl = getattr(nt.NtkImplementation, spec["implementation"].upper())
    fn = jax.jit(nt.empirical_ntk_fn(apply_fn, trace_axes=(), vmap_axes=0, implementation=impl))
    try:
        t0 = time.perf_counter()
        k = jax.block_until_ready(fn(x, None, params))
        out["compile_s"] = time.perf_counter() - t0
        times = []
        for _ in range(spec["repeats"]):
            t0 = time.perf_counter()
            jax.block_until_ready(fn(x, None, params))
            times.append(time.perf_counter() - t0)
    except Exception as err:  # noqa: BLE001 - a failing mode is a result (reported in the row)
        msg = " ".join(f"{type(err).__name__}: {err}".split())
        return {**out, "status": f"failed: {msg[:300]}"}
    out["time_s"] = statistics.median(times)
    out["finite"] = bool(jnp.all(jnp.isfinite(k)))
    out["shape"] = list(k.shape)
    out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out["platform"] = jax.devices()[0].platform
    return {**out, "status": "ok"}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))), flush=True)
