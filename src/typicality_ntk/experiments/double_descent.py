r"""Double descent: test loss against the number of parameters P at fixed N (paper Sec. III).

The training set (N points, noisy labels: ``data.label_noise``) and the test set are drawn once and
shared by every width and sample; a sample is one random initialisation theta_0 of the MLP of the
point's width (``model.*``). Three learners (``learner``), on the same data and the same theta_0:

* ``network``: the full MLP trained from theta_0 with :func:`typicality_ntk.ntk.train.train_mse`
  (optax: ``optim.name`` gd/sgd/adam, ``optim.lr``, a budget of ``optim.steps`` steps, early stop
  at ``optim.loss_tol`` x the initial loss) on ``L = 1/2 mean_i sum_k (f_k(x_i) - y_ik)^2``; the
  paper's finite-width network. P = all parameters of the network.
* ``random_features``: only the readout (last layer: kernel and bias) is trained, the hidden
  layers stay at theta_0: ``f = f(., theta_0) + Phi(.) delta`` with ``Phi`` the readout's features
  (the last hidden layer, with the readout's scaling, plus the bias feature) and ``delta`` the
  minimum-norm least-squares solution of ``Phi(X) delta = y - f(X, theta_0)`` (``ridge = 0``) or
  the ridge solution ``Phi^T (Phi Phi^T + ridge I)^{-1} (y - f0)`` -- the limit of gradient descent
  on the readout from theta_0. One ``eigh`` of the smaller Gram matrix, ``Phi Phi^T`` (N x N) or
  ``Phi^T Phi`` (width + 1 square); eigenvalues below ``max(N, width + 1) eps lambda_max``
  dropped (a Gram matrix squares the condition number: in float64 the solution near the
  threshold keeps ~ 16 - 2 log10 cond(Phi) digits; an SVD of Phi would not, but JAX's CPU SVD
  with vectors is ~100x slower here). P = trained parameters = n_L (width + 1).
* ``ntk_regression``: kernel regression with the empirical NTK at theta_0,
  ``f(x) = f(x, theta_0) + K(x, X) (K(X, X) + ridge I)^{-1} (y - f(X, theta_0))`` (one ``eigh``
  of ``K(X, X)``; eigenvalues below ``n_L N eps lambda_max`` dropped; ``K(x, X) alpha`` as a JVP
  of a VJP); the infinite-time limit of GD on the linearised network (paper Eq. 4). P = all
  parameters of the network.

``ridge`` is in kernel units: adding ``ridge/(2N) |theta - theta_0|^2`` to ``L`` gives
``K + ridge I``. Each program makes ONE LAPACK call (one ``eigh``): two independent ones in one
CPU program intermittently deadlock with jaxlib 0.10.2.

Keys read by this experiment (defaults in brackets): ``learner`` [random_features], ``ridge``
[0.0], ``sweep.mode`` [auto], plus ``model.*`` (``model.widths`` is the sweep), ``data.*``
(``n_train``, ``n_test``, ``label_noise``, ...) and ``optim.*`` (network learner), e.g.
``tntk experiment=double_descent learner=ntk_regression ridge=1e-3 sweep.mode=masked``.

Sweep modes (``sweep.mode``; widths are points, rows are (width, sample)): ``loop`` compiles one
program per width; ``masked`` one program for every width, a network of the largest width whose
hidden units beyond the point's width are masked (:class:`~typicality_ntk.ntk.masked.MaskedMLP`:
the initialisation and the NTK scaling use the active width, masked units contribute nothing and
are never updated, so the results are those of the unpadded network, and the same in every mode
up to rounding); ``bucketed`` groups the widths into the fewest buckets whose padded work is at
most ``BUCKET_WORK_FACTOR`` x the real work, one program per bucket; ``auto``
(:func:`choose_mode`) takes ``masked`` on an accelerator (``bucketed`` when masking would do more
than ``MASKED_MAX_WORK_RATIO`` x the real work) and, on a CPU, the mode of least estimated
compile + run time: ``masked`` for the closed-form learners, ``bucketed`` for network trainings
of the size of bench/ (2 CPU cores, 20 widths 2..2000 x 8 seeds x 2000 GD steps, float32: loop
78 s of which 64 s compiling 20 programs, bucketed 28 s with 3 programs, masked ~4x the flops of
the loop), ``loop`` when the training is so long that padding costs more than compiling. Every
mode gives one row per (width, sample); the widths of one program are the row groups of one
runner point, so each chunk is one call vmapped over those widths and the samples (per-width keys
as in ``loop``: every mode gives the same numbers up to rounding).

Columns (see ``COLUMNS``):

* ``learner``; ``width``; ``n_params``: P, the parameters the learner trains (n_L (width + 1) for
  random features, all P of the network otherwise); ``n_params_network``: P of the network;
  ``n_outputs`` (n_L), ``n_train`` (N); ``sample``: the initialisation.
* ``train_loss``, ``test_loss``: L on the training set (noisy labels) and the test set (clean).
* ``test_error``: synthetic data: relative MSE ``sum (f - y)^2 / sum y^2`` on the test set (1 for
  f = 0); digits: the misclassification rate (argmax over the 10 outputs, or the sign for
  ``data.task=binary``).
* ``param_change``: ``|theta - theta_0| / |theta_0|`` over all parameters of the (active) network
  (for kernel regression theta - theta_0 = J^T alpha, the linearised model's parameters).
* ``lambda_min``: smallest eigenvalue of the learner's n_L N x n_L N kernel ``K = J J^T`` (J: the
  Jacobian of the training outputs w.r.t. the trained parameters at theta_0; the empirical NTK, or
  ``Phi Phi^T`` per output for random features); 0 when P < n_L N.
* ``sigma_min_j``: smallest of the min(n_L N, P) singular values of J (``lambda_min =
  sigma_min_j^2`` when P >= n_L N); ``sigma_min_j_normalized``: of J scaled to unit mean-square
  entries, as in ``ntk_spectrum`` (what :func:`~typicality_ntk.ntk.threshold.fit_threshold` fits
  to get kappa and P* = kappa^2 n_L N).
* ``condition_number``: ``lambda_max / lambda_kept`` with ``lambda_kept`` the smallest kernel
  eigenvalue the learner keeps (above the pseudo-inverse cut-off ``size eps lambda_max``): the
  conditioning of the least-squares problem it solves, on both sides of the threshold (ridge not
  included; finite). It differs from ``lambda_max / sigma_min_j^2`` where J has exact null
  directions: ReLU's scale symmetry makes rank J <= P - width (one hidden layer), so
  ``sigma_min_j`` ~ 0 for the network's NTK up to P ~ n_L N + width.
* ``steps_taken``, ``diverged``: of the network's training (0 for the closed-form learners).

Named array (network learner) ``loss_curve`` (samples, log_points): L(theta_t) at the steps
``log_spaced_steps(optim.steps, optim.log_points)``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from typicality_ntk.experiments._network import check_full_batch, dataset
from typicality_ntk.ntk import empirical_ntk
from typicality_ntk.ntk.masked import MaskedMLP, masked_optimizer, n_params_mlp
from typicality_ntk.ntk.train import log_spaced_steps, make_optimizer, mse_loss, train_mse
from typicality_ntk.plot.double_descent import peak_summary, plot_double_descent
from typicality_ntk.sweep import Experiment, Point, real_dtype

__all__ = [
    "BUCKET_WORK_FACTOR",
    "COLUMNS",
    "EXPERIMENT",
    "LEARNERS",
    "MASKED_MAX_WORK_RATIO",
    "SWEEP_MODES",
    "bucket_widths",
    "check",
    "choose_mode",
    "sample_flops",
    "padded_widths",
    "peak_summary",
    "points",
    "resolve_mode",
    "sample",
    "settings",
]

log = logging.getLogger("typicality_ntk")

LEARNERS = ("network", "random_features", "ntk_regression")
SWEEP_MODES = ("auto", "loop", "masked", "bucketed")
#: ``bucketed``: the padded work of all buckets is at most this multiple of the real work.
BUCKET_WORK_FACTOR = 2.0
#: ``auto`` on an accelerator: ``masked`` while its padded work is at most this multiple.
MASKED_MAX_WORK_RATIO = 8.0
#: ``auto`` on a CPU: compile seconds of one program per learner and the sustained FLOP rate per
#: item size (bytes), measured on 2 cores (bench/sweep.py: 20 widths x 8 seeds x 2000 GD steps,
#: float32: 3.2 s per network program, 25 GFLOP/s; closed-form learners compile in 1.5-2 s).
CPU_COMPILE_SECONDS = {"network": 3.0, "random_features": 1.5, "ntk_regression": 2.0}
CPU_FLOPS = {4: 2.5e10, 8: 1.2e10}

COLUMNS = (
    "learner",
    "width",
    "n_params",
    "n_params_network",
    "n_outputs",
    "n_train",
    "sample",
    "train_loss",
    "test_loss",
    "test_error",
    "param_change",
    "lambda_min",
    "sigma_min_j",
    "sigma_min_j_normalized",
    "condition_number",
    "steps_taken",
    "diverged",
)

_HIGHEST = jax.lax.Precision.HIGHEST


def _mm(a: jax.Array, b: jax.Array) -> jax.Array:
    """Full-precision matmul (no TF32 / bf16 passes on accelerators)."""
    return jnp.matmul(a, b, precision=_HIGHEST)


# -- configuration ----------------------------------------------------------------------------
def _get(obj, key: str, default):
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def settings(cfg) -> dict:
    """``{"learner", "ridge", "mode"}`` from the config (defaults where a key is absent)."""
    return {
        "learner": _get(cfg, "learner", "random_features"),
        "ridge": _get(cfg, "ridge", 0.0),
        "mode": _get(_get(cfg, "sweep", None), "mode", "auto"),
    }


def check(cfg) -> None:
    """Reject settings this experiment cannot run (before any compute)."""
    # learner, ridge and sweep.mode are checked by the typed config (config.py)
    check_full_batch(cfg)


# -- sweep modes ------------------------------------------------------------------------------
def _costs(widths: Sequence[int], n_in: int, depth: int, n_out: int) -> np.ndarray:
    """Work of one width, proportional to the network's P (forward, Jacobian, features)."""
    return np.array([n_params_mlp(int(w), n_in=n_in, depth=depth, n_out=n_out) for w in widths])


def bucket_widths(costs: Sequence[float], factor: float = BUCKET_WORK_FACTOR) -> list[list[int]]:
    """Fewest contiguous buckets of the sorted widths whose padded work <= factor x real work.

    Args:
        costs: work of each width, ascending (each width padded to the last one of its bucket
            costs that one's work).
        factor: allowed ratio of padded to real work (>= 1).

    Returns:
        Buckets as lists of indices into ``costs``, in order; among partitions with the fewest
        buckets, the one with the least padded work (dynamic programming over split points).
    """
    c = np.asarray(costs, float)
    n = len(c)
    if n == 0:
        return []
    budget = factor * c.sum() * (1 + 1e-12)
    # best[g][i]: least padded work covering widths [0, i) with g buckets; cut[g][i]: last start
    best = np.full((n + 1, n + 1), np.inf)
    cut = np.zeros((n + 1, n + 1), int)
    best[0][0] = 0.0
    for g in range(1, n + 1):
        for i in range(1, n + 1):
            for j in range(g - 1, i):
                v = best[g - 1][j] + (i - j) * c[i - 1]
                if v < best[g][i]:
                    best[g][i], cut[g][i] = v, j
        if best[g][n] <= budget:
            out, i = [], n
            for gg in range(g, 0, -1):
                j = cut[gg][i]
                out.append(list(range(j, i)))
                i = j
            return out[::-1]
    return [[i] for i in range(n)]  # pragma: no cover - g = n always fits (factor >= 1)


def sample_flops(learner: str, width: int, *, n_in, depth, n_out, n_train, n_test, steps) -> float:
    """Rough FLOPs of one sample of ``learner`` at ``width`` (what ``auto`` compares)."""
    p = n_params_mlp(int(width), n_in=n_in, depth=depth, n_out=n_out)
    n = n_train * n_out
    if learner == "network":  # steps x (forward + backward) on N, then K0 = J J^T
        return steps * 6.0 * n_train * p + 2.0 * n * n * p
    if learner == "ntk_regression":  # J on the training set, K0, a JVP/VJP on the test set
        return 2.0 * n * n * p + 6.0 * (n_train + n_test) * p * n_out
    return 2.0 * (n_train + n_test) * p + 2.0 * n_train * n_train * (width + 1)


def choose_mode(
    learner: str,
    widths: Sequence[int],
    *,
    sizes: Mapping[str, int],
    samples: int,
    backend: str | None = None,
    itemsize: int = 4,
) -> str:
    """What ``sweep.mode=auto`` runs.

    On an accelerator, ``masked`` (one program, widths batched) unless its padded work exceeds
    :data:`MASKED_MAX_WORK_RATIO` x the real work, then ``bucketed``. On a CPU, the mode with the
    least estimated time ``programs x CPU_COMPILE_SECONDS[learner] + padded FLOPs /
    CPU_FLOPS[itemsize]`` (``masked`` for the closed-form learners, ``bucketed`` for network
    trainings of a few thousand steps, the per-width ``loop`` for much longer ones).

    Args:
        learner: one of :data:`LEARNERS`.
        widths: the widths swept.
        sizes: ``n_in, depth, n_out, n_train, n_test, steps`` (see :func:`sample_flops`).
        samples: samples per width.
        backend: ``jax.default_backend()`` unless given.
        itemsize: bytes per real number (4: float32, 8: float64).
    """
    backend = jax.default_backend() if backend is None else backend
    uniq = sorted({int(w) for w in widths})
    costs = _costs(uniq, sizes["n_in"], sizes["depth"], sizes["n_out"])
    if backend != "cpu":
        ratio = len(costs) * costs.max() / costs.sum()
        return "masked" if ratio <= MASKED_MAX_WORK_RATIO else "bucketed"

    def seconds(mode: str) -> float:
        pads = padded_widths(uniq, mode, costs)
        flops = sum(sample_flops(learner, pads[w], **sizes) for w in uniq) * samples
        rate = CPU_FLOPS[8 if itemsize >= 8 else 4]
        return len(set(pads.values())) * CPU_COMPILE_SECONDS[learner] + flops / rate

    return min(("loop", "bucketed", "masked"), key=seconds)


def resolve_mode(cfg, n_in: int, n_out: int) -> str:
    """The config's ``sweep.mode``, with ``auto`` resolved by :func:`choose_mode` on this backend
    (``n_in``, ``n_out``: the data's input and output sizes)."""
    s = settings(cfg)
    if s["mode"] != "auto":
        return s["mode"]
    sizes = {
        "n_in": int(n_in),
        "depth": int(cfg.model.depth),
        "n_out": int(n_out),
        "n_train": int(cfg.data.n_train),
        "n_test": int(cfg.data.n_test),
        "steps": int(cfg.optim.steps),
    }
    itemsize = np.dtype(real_dtype(cfg.precision)).itemsize
    widths = [int(w) for w in cfg.model.widths]
    return choose_mode(
        s["learner"], widths, sizes=sizes, samples=int(cfg.samples), itemsize=itemsize
    )


def padded_widths(widths: Sequence[int], mode: str, costs: Sequence[float]) -> dict[int, int]:
    """width -> the width its program is compiled for (``mode`` resolved, not ``auto``)."""
    uniq = sorted({int(w) for w in widths})
    if mode == "loop":
        return {w: w for w in uniq}
    if mode == "masked":
        return {w: uniq[-1] for w in uniq}
    if mode == "bucketed":
        cost = dict(zip((int(w) for w in widths), costs, strict=True))
        buckets = bucket_widths([cost[w] for w in uniq])
        return {uniq[i]: uniq[b[-1]] for b in buckets for i in b}
    raise ValueError(f"sweep mode must be loop, masked or bucketed, got {mode!r}")


def _error_kind(data_cfg) -> str:
    if data_cfg.source == "digits":
        return "binary" if data_cfg.task == "binary" else "multiclass"
    return "relative_mse"


def _optim_static(cfg) -> dict:
    o = cfg.optim
    return {
        "optimizer": o.name,
        "lr": float(o.lr),
        "steps": int(o.steps),
        "batch_size": None if o.batch_size is None else int(o.batch_size),
        "loss_tol": float(o.loss_tol),
        "log_points": int(o.log_points),
    }


def points(cfg, key):
    """One point per width; its static ``width_pad`` is the width its program is built for."""
    s = settings(cfg)
    learner, m = s["learner"], cfg.model
    data = dataset(cfg, key)
    n_in, n_out = int(data["x_train"].shape[1]), int(cfg.data.outputs)
    widths = [int(w) for w in m.widths]
    costs = _costs(widths, n_in, m.depth, n_out)
    mode = resolve_mode(cfg, n_in, n_out)
    pads = padded_widths(widths, mode, costs)
    log.info(
        "double_descent: learner=%s, sweep.mode=%s -> %s: %d programs for %d widths",
        learner, s["mode"], mode, len(set(pads.values())), len(set(widths)),
    )  # fmt: skip
    static_common = {
        "learner": learner,
        "error_kind": _error_kind(cfg.data),
        "depth": int(m.depth),
        "n_out": n_out,
        "activation": m.activation,
        "parameterization": m.parameterization,
        "sigma_w": float(m.sigma_w),
        "sigma_b": float(m.sigma_b),
    }
    if learner == "network":
        static_common.update(_optim_static(cfg))
    ridge = np.asarray(s["ridge"], real_dtype(cfg.precision))

    def coords(w: int) -> dict:
        p_net = int(n_params_mlp(w, n_in=n_in, depth=m.depth, n_out=n_out))
        return {
            "learner": learner,
            "width": w,
            "n_params": n_out * (w + 1) if learner == "random_features" else p_net,
            "n_params_network": p_net,
            "n_outputs": n_out,
            "n_train": int(cfg.data.n_train),
        }

    # one point per program: the widths padded to the same width are its row groups (one call
    # per chunk, vmapped over widths and samples); a width alone is a plain point
    shared = {"data": data, "ridge": ridge}
    out = []
    for pad in sorted(set(pads.values())):
        group = [w for w in widths if pads[w] == pad]
        static = {**static_common, "width_pad": pad}
        if len(group) == 1:
            width = np.asarray(group[0], np.int32)
            out.append(Point(coords(group[0]), static, {**shared, "width": width}))
        else:
            rows = tuple(coords(w) for w in group)
            width = {"width": np.asarray(group, np.int32)}
            out.append(Point({}, static, shared, rows=rows, row_context=width))
    return out


# -- the learners -----------------------------------------------------------------------------
def _norm(tree) -> jax.Array:
    return jnp.sqrt(sum(jnp.sum(leaf * leaf) for leaf in jax.tree.leaves(tree)))


def _test_error(f: jax.Array, y: jax.Array, kind: str) -> jax.Array:
    if kind == "multiclass":
        return jnp.mean(jnp.argmax(f, axis=1) != jnp.argmax(y, axis=1)).astype(f.dtype)
    if kind == "binary":
        return jnp.mean(jnp.sign(f[:, 0]) != jnp.sign(y[:, 0])).astype(f.dtype)
    return jnp.sum((f - y) ** 2) / jnp.sum(y * y)


def _spectrum(lam, keep, s2_min, trace, n, p) -> dict:
    """Kernel metrics from its eigenvalues ``lam`` (ascending; ``keep``: above the cut-off) and
    ``s2_min``, the smallest of J's min(n, P) squared singular values."""
    s2_min = jnp.maximum(s2_min, 0)
    p_f = jnp.asarray(p, lam.dtype)
    kept_min = jnp.min(jnp.where(keep, lam, lam[-1]))
    return {
        "lambda_min": jnp.where(p >= n, s2_min, 0),
        "sigma_min_j": jnp.sqrt(s2_min),
        "sigma_min_j_normalized": jnp.sqrt(s2_min * n * p_f / trace),
        "condition_number": lam[-1] / kept_min,
    }


def _random_features(net: MaskedMLP, theta0, data, width, ridge) -> dict:
    x, y, x_test = data["x_train"], data["y_train"], data["x_test"]
    n_train, n_out = y.shape
    phi = net.readout_features(theta0, x, width)  # (N, width_pad + 1), masked columns 0
    f0_train = net.apply(theta0, x, width)
    resid = y - f0_train
    dual = n_train <= phi.shape[1]  # static: eigh of the smaller Gram matrix
    gram = _mm(phi, phi.T) if dual else _mm(phi.T, phi)
    lam, vec = jnp.linalg.eigh(gram)  # the program's one LAPACK call; ascending
    size = jnp.maximum(n_train, width + 1).astype(lam.dtype)
    keep = lam > size * jnp.finfo(lam.dtype).eps * lam[-1]
    inv = jnp.where(keep, 1 / jnp.where(keep, lam + ridge, 1), 0)
    if dual:  # delta = Phi^T (G + ridge)^+ r
        proj = _mm(vec.T, resid)
        delta = _mm(phi.T, _mm(vec, inv[:, None] * proj))
        f_train = f0_train + _mm(vec, (lam * inv)[:, None] * proj)
    else:  # delta = (H + ridge)^+ Phi^T r
        delta = _mm(vec, inv[:, None] * _mm(vec.T, _mm(phi.T, resid)))
        f_train = f0_train + _mm(phi, delta)
    phi_test = net.readout_features(theta0, x_test, width)
    f_test = net.apply(theta0, x_test, width) + _mm(phi_test, delta)
    rank = jnp.minimum(n_train, width + 1)  # min(N, P / n_L): J = I_{n_L} (x) Phi
    s2_min = lam[lam.shape[0] - rank]
    p = n_out * (width + 1)
    stats = _spectrum(lam, keep, s2_min, n_out * jnp.sum(lam), n_out * n_train, p)
    return {"f_train": f_train, "f_test": f_test, "change": _norm(delta), **stats}


def _ntk_regression(net: MaskedMLP, theta0, data, width, ridge) -> dict:
    x, y, x_test = data["x_train"], data["y_train"], data["x_test"]
    n = y.size

    def f(p, xx):
        return net.apply(p, xx, width)

    k0 = empirical_ntk(f, theta0, x)  # (n_L N, n_L N), sample-major
    lam, vec = jnp.linalg.eigh(k0)  # the program's one LAPACK call
    keep = lam > n * jnp.finfo(lam.dtype).eps * lam[-1]
    inv = jnp.where(keep, 1 / jnp.where(keep, lam + ridge, 1), 0)
    f0_train, vjp = jax.vjp(lambda p: f(p, x), theta0)
    proj = _mm(vec.T, (y - f0_train).reshape(-1))
    alpha = _mm(vec, inv * proj)
    f_train = f0_train + _mm(vec, lam * inv * proj).reshape(y.shape)
    (jt_alpha,) = vjp(alpha.reshape(y.shape))  # theta - theta_0 = J^T alpha
    f0_test, df_test = jax.jvp(lambda p: f(p, x_test), (theta0,), (jt_alpha,))
    p = net.n_params(width, x.shape[1])
    rank = jnp.minimum(n, p)
    stats = _spectrum(lam, keep, lam[n - rank], jnp.sum(lam), n, p)
    return {"f_train": f_train, "f_test": f0_test + df_test, "change": _norm(jt_alpha), **stats}


def _network(net: MaskedMLP, theta0, data, width, key, optim: dict) -> dict:
    x, y, x_test = data["x_train"], data["y_train"], data["x_test"]
    n = y.size

    def f(p, xx):
        return net.apply(p, xx, width)

    steps = optim["steps"]
    res = train_mse(
        f,
        theta0,
        x,
        y,
        optimizer=masked_optimizer(
            make_optimizer(optim["optimizer"], optim["lr"]), net.mask(width, x.shape[1], x.dtype)
        ),
        steps=steps,
        log_steps=log_spaced_steps(steps, optim["log_points"]),
        batch_size=optim["batch_size"],
        loss_tol=optim["loss_tol"],
        key=key,
    )
    lam = jnp.linalg.eigvalsh(empirical_ntk(f, theta0, x))  # the program's one LAPACK call
    keep = lam > n * jnp.finfo(lam.dtype).eps * lam[-1]
    p = net.n_params(width, x.shape[1])
    stats = _spectrum(lam, keep, lam[n - jnp.minimum(n, p)], jnp.sum(lam), n, p)
    delta = jax.tree.map(jnp.subtract, res.params, theta0)
    return {
        "f_train": f(res.params, x),
        "f_test": f(res.params, x_test),
        "change": _norm(delta),
        "steps_taken": res.steps_taken,
        "diverged": res.diverged.astype(jnp.int32),
        "loss_curve": res.losses,
        **stats,
    }


def _sample_one(key, context, *, learner, error_kind, net: MaskedMLP, optim: dict) -> dict:
    data, width, ridge = context["data"], context["width"], context["ridge"]
    x, y = data["x_train"], data["y_train"]
    k_init, k_train = jax.random.split(key)
    theta0 = net.init(k_init, x.shape[1], width, x.dtype)
    if learner == "random_features":
        out = _random_features(net, theta0, data, width, ridge)
    elif learner == "ntk_regression":
        out = _ntk_regression(net, theta0, data, width, ridge)
    elif learner == "network":
        out = _network(net, theta0, data, width, k_train, optim)
    else:
        raise ValueError(f"learner must be one of {LEARNERS}, got {learner!r}")
    f_train, f_test = out.pop("f_train"), out.pop("f_test")
    zero = jnp.zeros((), jnp.int32)
    metrics = {
        "train_loss": mse_loss(f_train, y),
        "test_loss": mse_loss(f_test, data["y_test"]),
        "test_error": _test_error(f_test, data["y_test"], error_kind),
        "param_change": out.pop("change") / _norm(theta0),
        "steps_taken": out.pop("steps_taken", zero),
        "diverged": out.pop("diverged", zero),
    }
    return {**metrics, **out}


def sample(
    key,
    context,
    *,
    learner: str,
    error_kind: str,
    width_pad: int,
    depth: int,
    n_out: int,
    activation: str,
    parameterization: str,
    sigma_w: float,
    sigma_b: float,
    **optim,
):
    """Metrics of ONE initialisation (``key``) at the width ``context["width"]``.

    ``context = {"data": dataset dict, "width": int scalar, "ridge": float scalar}``; the network
    is built padded to ``width_pad`` and masked to the active width (``width_pad == width``: no
    padding). The runner vmaps it over samples and, for a point with row groups, over widths.
    """
    net = MaskedMLP(width_pad, depth, n_out, activation, parameterization, sigma_w, sigma_b)
    kw = {"learner": learner, "error_kind": error_kind, "net": net, "optim": optim}
    return _sample_one(key, context, **kw)


EXPERIMENT = Experiment(
    "double_descent",
    points,
    sample,
    plot_double_descent,
    COLUMNS,
    check=check,
    uses=("model", "data", "optim", "learner", "ridge"),
)
