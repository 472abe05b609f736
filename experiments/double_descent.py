r"""Double descent: test loss against the number of parameters P at fixed N (paper Sec. III),
and its evolution in training time.

The training set (N points, noisy labels: ``data.label_noise``) and the test set are drawn once and
shared by every width and sample; a sample is one random initialisation theta_0 of the MLP of the
point's width (``model.*``). Four learners (``learner``), on the same data and, for the same
``seed`` and widths, the same theta_0 (run them one by one and compare sample by sample):

* ``network``: the full MLP trained from theta_0 (optax: ``optim.name`` gd/sgd/adam/lbfgs,
  ``optim.lr`` (below), ``optim.steps``, early stop at ``optim.loss_tol`` x the initial loss);
  P = all parameters. Recorded at every recorded step (below), inside the one training loop.
* ``linearized``: the network's linearisation at theta_0 (paper Eq. 4) trained by the same
  full-batch gradient descent (``optim=gd`` only: ``optim.lr``), in closed form at every recorded
  step from the eigendecomposition of the empirical NTK (exact discrete GD,
  :func:`~typicality_ntk.ntk.predict.gradient_descent_mse_discrete`); sgd, adam and lbfgs have no
  closed form and are rejected. As ``optim.steps`` -> infinity it is ``ntk_regression``; where
  the network leaves it (small widths, long times) the two differ. P = all parameters.
* ``random_features``: only the readout is trained (min-norm or ridge least squares, the limit
  of gradient descent on the readout from theta_0); P = n_L (width + 1).
* ``ntk_regression``: kernel regression with the empirical NTK at theta_0 (the t -> infinity
  limit of gradient descent on the linearised network, paper Eq. 4); P = all parameters.

Time: ``network`` and ``linearized`` are recorded at the steps ``log_spaced_steps(optim.steps,
optim.log_points)`` (0, log-spaced, ``optim.steps``): one row per (width, sample, recorded step),
the step in the column ``step``. Near the threshold the smallest kernel eigenvalue sets a time
scale ``N / (lr lambda_min(K))`` far beyond a few thousand steps, so the peak of the trained
network grows with ``step`` towards the ``ntk_regression`` one. The closed-form learners
(``random_features``, ``ntk_regression``: t -> infinity limits) have one row per (width, sample),
with ``step = optim.steps``: for every learner the final rows are ``d[d.step == d.step.max()]``
(with the same ``optim.steps``, also in a table holding several learners), one per (width,
sample), as before time was an axis. The continuous time is ``time = lr * step`` (column
``time``): GD with step ``lr`` on ``L = 1/2 mean |f - y|^2`` follows the gradient flow
``d theta / d time = -grad L`` to first order in ``lr``, so runs with different rates compare at
equal ``time``.

Learning rate (``optim.lr``, column ``lr``): a number is used as given, at every width.
``optim.lr=auto`` (gd/sgd) gives each width one rate shared by its samples, ``lr(width) =
LR_SAFETY * 2 B / max_i Lambda_B(theta_0^(i))``
(:func:`~typicality_ntk.ntk.train.auto_learning_rate`; ``B`` = N for gd, the batch for sgd):
``Lambda_B`` bounds ``lambda_max`` of the B-example blocks of ``K_0 + ridge I`` at the
initialisation theta_0^(i) of sample i, for the samples the runner will draw (their keys
re-derived: :func:`~typicality_ntk.sweep.sample_keys`), so GD on every sample's
linearised network is stable (``lr sharpness <= 2 LR_SAFETY``). It is computed once before the
sweep, one program vmapped over every (width, sample) with ``K_0`` of the masked network of the
largest width; every learner gets it (the closed-form ones for their ``time``), so with the same
widths, samples and seed the learners share theta_0 and lr. With ``auto``, a width's rate depends
on how many samples it has (the max is over them).

The learners are library code (:mod:`typicality_ntk.ntk.learners`, with their math), as are the
width-sweep modes (:mod:`typicality_ntk.ntk.width_sweep`); this module holds what is double
descent: its keys, its points (one per program, widths as row groups) and its one-sample function.

Own keys (defaults in brackets): ``learner`` [random_features], ``ridge``
[0.0], ``sweep.mode`` [auto], plus ``model.*`` (``model.widths`` is the sweep), ``data.*``
(``n_train``, ``n_test``, ``label_noise``, ...) and ``optim.*`` (network and linearized; the
closed-form learners read ``optim.steps`` and ``optim.lr`` for their ``step`` and ``time``
only), e.g. ``tntk
experiment=double_descent learner=network optim.steps=100000`` or ``learner=ntk_regression
ridge=1e-3 sweep.mode=masked``.

Sweep modes (``sweep.mode``: ``loop``, ``masked``, ``bucketed`` or ``auto``; see
:mod:`typicality_ntk.ntk.width_sweep`): every mode gives the same rows and the same numbers up to
rounding; the widths of one program are the row groups of one runner point, so each chunk is one
call vmapped over those widths and the samples.

Columns (see ``COLUMNS``):

* ``learner``; ``width``; ``n_params``: P, the parameters the learner trains (n_L (width + 1) for
  random features, all P of the network otherwise); ``n_params_network``: P of the network;
  ``n_outputs`` (n_L), ``n_train`` (N); ``sample``: the initialisation.
* ``step``: the training step t of the row (see Time above; ``optim.steps`` for the closed-form
  learners). The runner lays the recorded steps out as rows
  (:class:`~typicality_ntk.sweep.RowAxis`). ``time``: ``lr * step``. ``lr``: the row's learning
  rate (per width; see Learning rate above).
* per step: ``train_loss``, ``test_loss``: L on the training set (noisy labels) and the test set
  (clean) at step t. ``test_error``: synthetic data: relative MSE ``sum (f - y)^2 / sum y^2`` on
  the test set (1 for f = 0); digits: the misclassification rate (argmax over the 10 outputs, or
  the sign for ``data.task=binary``). ``param_change``: ``|theta_t - theta_0| / |theta_0|`` over
  all parameters of the (active) network (for the linearised model and kernel regression
  theta - theta_0 = J^T alpha).
* per sample (the same on each of its step rows): ``lambda_min``: smallest eigenvalue of the
  learner's n_L N x n_L N kernel ``K = J J^T`` (J: the Jacobian of the training outputs w.r.t.
  the trained parameters at theta_0; the empirical NTK, or ``Phi Phi^T`` per output for random
  features); 0 when P < n_L N.
* ``sigma_min_j``: smallest of the min(n_L N, P) singular values of J (``lambda_min =
  sigma_min_j^2`` when P >= n_L N); ``sigma_min_j_normalized``: of J scaled to unit mean-square
  entries, as in ``ntk_spectrum`` (what :func:`~typicality_ntk.ntk.threshold.fit_threshold` fits
  to get kappa and P* = kappa^2 n_L N).
* ``sharpness``: ``lambda_max / N`` of the learner's kernel at theta_0 (for the NTK: the top
  eigenvalue of the Gauss-Newton Hessian ``J^T J / N``; GD on the linearised network is stable
  iff ``lr sharpness < 2``).
* ``condition_number``: ``lambda_max / lambda_kept`` with ``lambda_kept`` the smallest kernel
  eigenvalue the learner keeps (above the pseudo-inverse cut-off ``size eps lambda_max``): the
  conditioning of the least-squares problem it solves, on both sides of the threshold (ridge not
  included; finite). It differs from ``lambda_max / sigma_min_j^2`` where J has exact null
  directions: ReLU's scale symmetry makes rank J <= P - width (one hidden layer), so
  ``sigma_min_j`` ~ 0 for the network's NTK up to P ~ n_L N + width.
* ``steps_taken``, ``diverged``: of the network's training (0 for the closed-form learners;
  ``linearized``: ``diverged`` = 1 when ``lr lambda_max(K + ridge I) / N >= 2``, gradient descent
  on the linear model being unstable, ``steps_taken`` = 0).

Figures (:func:`~typicality_ntk.plot.double_descent.plot_double_descent`): the final-step double
descent and, for the time-resolved learners, ``double_descent_time``: test loss against
P/(n_L N) at several times, a heat map over (P/(n_L N), step), the peak's height and location
against time (and the network - linearised gap where a table holds both).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from typicality_ntk.config import Config, check_choice, require
from typicality_ntk.errors import ConfigError
from typicality_ntk.ntk.from_config import (
    check_full_batch,
    dataset,
    lr_batch_size,
)
from typicality_ntk.ntk.learners import (
    LEARNERS,
    TIME_RESOLVED,
    init_kernel_bound,
    linearized,
    ntk_regression,
    prediction_error,
    random_features,
    trained_network,
    tree_norm,
)
from typicality_ntk.ntk.masked import MaskedMLP, n_params_mlp
from typicality_ntk.ntk.train import auto_learning_rate, mse_loss
from typicality_ntk.ntk.width_sweep import SWEEP_MODES, choose_mode, padded_widths, width_costs
from typicality_ntk.plot.double_descent import peak_summary, plot_double_descent
from typicality_ntk.sweep import Experiment, Point, RowAxis, real_dtype, sample_keys

__all__ = [
    "COLUMNS",
    "EXPERIMENT",
    "STEP_METRICS",
    "DoubleDescentConfig",
    "check",
    "peak_summary",
    "points",
    "resolve_mode",
    "sample",
]

log = logging.getLogger("typicality_ntk")

COLUMNS = (
    "learner",
    "width",
    "n_params",
    "n_params_network",
    "n_outputs",
    "n_train",
    "sample",
    "step",
    "time",
    "lr",
    "train_loss",
    "test_loss",
    "test_error",
    "param_change",
    "lambda_min",
    "sigma_min_j",
    "sigma_min_j_normalized",
    "sharpness",
    "condition_number",
    "steps_taken",
    "diverged",
)
#: The metrics recorded at each step (one row per recorded step; the others are per sample).
STEP_METRICS = ("time", "train_loss", "test_loss", "test_error", "param_change")


# -- config: the keys this experiment owns ----------------------------------------------------
@dataclass
class SweepCfg:
    """``sweep.mode``: how the width sweep compiles (never changes a result)."""

    mode: str = "auto"

    def __post_init__(self) -> None:
        check_choice("sweep.mode", self.mode, SWEEP_MODES)


@dataclass
class DoubleDescentConfig(Config):
    """``learner`` (network | random_features | ntk_regression | linearized), ``ridge`` (K +
    ridge I, kernel units; 0: ridgeless, min-norm) and ``sweep.mode``."""

    learner: str = "random_features"
    ridge: float = 0.0
    sweep: SweepCfg = field(default_factory=SweepCfg, metadata={"semantic": False})

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("learner", self.learner, LEARNERS)
        require(
            self.ridge >= 0, "ridge", self.ridge, "must be a number >= 0 (0: ridgeless, min-norm)"
        )


def check(cfg) -> None:
    """Reject settings this experiment cannot run (before any compute)."""
    check_full_batch(cfg)
    o = cfg.optim
    if cfg.learner == "linearized" and o.name != "gd":
        raise ConfigError(
            "optim.name", o.name,
            "learner=linearized is full-batch gradient descent in closed form: use optim=gd "
            "(sgd, adam and lbfgs have no closed form)",
        )  # fmt: skip
    if o.name == "lbfgs" and o.batch_size is not None and o.batch_size < cfg.data.n_train:
        raise ConfigError("optim.batch_size", o.batch_size, "lbfgs is full-batch: use null")
    if o.steps >= 2**31 and (cfg.learner == "network" or cfg.precision != "float64"):
        raise ConfigError(
            "optim.steps", o.steps,
            "must be < 2^31 (beyond: learner=linearized with precision=float64)",
        )  # fmt: skip


def unused(cfg) -> dict[str, str]:
    """The closed-form learners train nothing: no optimiser, learning rate or schedule applies
    (``optim.steps`` only labels their single row)."""
    if cfg.learner not in ("random_features", "ntk_regression"):
        return {}
    why = f"learner={cfg.learner} is closed-form (nothing is trained): use learner=network"
    keys = ("optim", "optim.name", "optim.lr", "optim.batch_size", "optim.loss_tol")
    return {**dict.fromkeys(keys, why), "optim.log_points": why}


# -- points: one per program ------------------------------------------------------------------
def resolve_mode(cfg, n_in: int, n_out: int) -> str:
    """The config's ``sweep.mode``, with ``auto`` resolved by
    :func:`~typicality_ntk.ntk.width_sweep.choose_mode` on this backend (``n_in``, ``n_out``: the
    data's input and output sizes)."""
    if cfg.sweep.mode != "auto":
        return cfg.sweep.mode
    sizes = {
        "n_in": int(n_in),
        "depth": int(cfg.model.depth),
        "n_out": int(n_out),
        "n_train": int(cfg.data.n_train),
        "n_test": int(cfg.data.n_test),
        "steps": int(cfg.optim.steps),
        "log_points": int(cfg.optim.log_points),
    }
    itemsize = np.dtype(real_dtype(cfg.precision)).itemsize
    widths = [int(w) for w in cfg.model.widths]
    samples = int(cfg.samples)
    return choose_mode(cfg.learner, widths, sizes=sizes, samples=samples, itemsize=itemsize)


def _error_kind(data_cfg) -> str:
    if data_cfg.source == "digits":
        return "binary" if data_cfg.task == "binary" else "multiclass"
    return "relative_mse"


def _optim_static(cfg) -> dict:
    """The optimiser's static settings. ``lr``: a given number stays static (today's programs,
    bit for bit); ``auto`` is ``None`` here and the per-width rate is traced (in the context)."""
    o = cfg.optim
    return {
        "optimizer": o.name,
        "lr": None if o.lr == "auto" else float(o.lr),
        "steps": int(o.steps),
        "batch_size": None if o.batch_size is None else int(o.batch_size),
        "loss_tol": float(o.loss_tol),
        "log_points": int(o.log_points),
    }


def _init(net: MaskedMLP, key, x, width):
    """theta_0 of the sample with key ``key`` and the key left for its training (mini-batches)."""
    k_init, k_train = jax.random.split(key)
    return net.init(k_init, x.shape[1], width, x.dtype), k_train


def auto_lr(cfg, data, rows: list[tuple[int, int]], static: dict) -> np.ndarray:
    """``optim.lr=auto`` per row group: ``rows`` = (runner index, width) pairs; see the module
    docstring. One jitted program (one LAPACK call, vmapped over rows and samples) on the masked
    network of the largest width; float64 NumPy rates, shape (len(rows),)."""
    x = data["x_train"]
    batch = lr_batch_size(cfg)
    net = MaskedMLP(max(w for _, w in rows), static["depth"], static["n_out"],
                    static["activation"], static["parameterization"], static["sigma_w"],
                    static["sigma_b"])  # fmt: skip
    keys = jnp.stack([sample_keys(cfg.seed, p, int(cfg.samples)) for p, _ in rows])
    widths = jnp.asarray([w for _, w in rows], jnp.int32)

    def one(key, width, x):
        theta0, _ = _init(net, key, x, width)
        return init_kernel_bound(net, theta0, x, width, batch, static["implementation"])

    per_row = jax.vmap(jax.vmap(one, in_axes=(0, None, None)), in_axes=(0, 0, None))
    lam = np.asarray(jax.jit(per_row)(keys, widths, x), np.float64)  # (rows, samples)
    return auto_learning_rate(lam.max(axis=1) + float(cfg.ridge), batch)


def points(cfg, key):
    """One point per width; its static ``width_pad`` is the width its program is built for."""
    learner, m = cfg.learner, cfg.model
    data = dataset(cfg, key)
    n_in, n_out = int(data["x_train"].shape[1]), int(cfg.data.outputs)
    widths = [int(w) for w in m.widths]
    costs = width_costs(widths, n_in, m.depth, n_out)
    mode = resolve_mode(cfg, n_in, n_out)
    pads = padded_widths(widths, mode, costs)
    log.info(
        "double_descent: learner=%s, sweep.mode=%s -> %s: %d programs for %d widths",
        learner, cfg.sweep.mode, mode, len(set(pads.values())), len(set(widths)),
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
        "implementation": cfg.ntk.implementation,
    }
    if learner in TIME_RESOLVED:
        static_common.update(_optim_static(cfg))
    ridge = np.asarray(cfg.ridge, real_dtype(cfg.precision))
    step_dtype = np.int64 if np.dtype(real_dtype(cfg.precision)).itemsize == 8 else np.int32
    final_step = np.asarray(int(cfg.optim.steps), step_dtype)  # the closed-form learners' step

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
    # per chunk, vmapped over widths and samples); a width alone is a plain point. The runner
    # numbers row groups like points, in this order (their samples' keys: auto_lr)
    groups = [[w for w in widths if pads[w] == pad] for pad in sorted(set(pads.values()))]
    order = [w for group in groups for w in group]
    if cfg.optim.lr == "auto":
        lrs = auto_lr(cfg, data, list(enumerate(order)), static_common)
    else:
        lrs = np.full(len(order), float(cfg.optim.lr))
    lrs = lrs.astype(real_dtype(cfg.precision))
    shared = {"data": data, "ridge": ridge, "final_step": final_step}
    out, start = [], 0
    for group in groups:
        static = {**static_common, "width_pad": pads[group[0]]}
        lr, start = lrs[start : start + len(group)], start + len(group)
        if len(group) == 1:
            width = np.asarray(group[0], np.int32)
            out.append(Point(coords(group[0]), static, {**shared, "width": width, "lr": lr[0]}))
        else:
            rows = tuple(coords(w) for w in group)
            row_context = {"width": np.asarray(group, np.int32), "lr": lr}
            out.append(Point({}, static, shared, rows=rows, row_context=row_context))
    if cfg.optim.lr == "auto":
        lr_of = dict(zip(order, lrs.round(4).tolist(), strict=True))
        log.info("double_descent: optim.lr=auto -> %s", lr_of)
    return out


# -- one sample -------------------------------------------------------------------------------
def _sample_one(
    key, context, *, learner, error_kind, net: MaskedMLP, optim: dict, implementation: str
) -> dict:
    data, width, ridge, lr = context["data"], context["width"], context["ridge"], context["lr"]
    x, y = data["x_train"], data["y_train"]
    theta0, k_train = _init(net, key, x, width)
    optim = {**optim, "lr": lr if optim.get("lr") is None else optim["lr"]}
    if learner == "random_features":
        out = random_features(net, theta0, data, width, ridge)
    elif learner == "ntk_regression":
        out = ntk_regression(net, theta0, data, width, ridge, implementation)
    elif learner == "network":
        out = trained_network(net, theta0, data, width, k_train, optim, implementation)
    elif learner == "linearized":
        out = linearized(net, theta0, data, width, ridge, optim, implementation)
    else:
        raise ValueError(f"learner must be one of {LEARNERS}, got {learner!r}")
    f_train, f_test, change = out.pop("f_train"), out.pop("f_test"), out.pop("change")
    if learner not in TIME_RESOLVED:  # a t -> infinity limit: one row, at step optim.steps
        f_train, f_test, change = f_train[None], f_test[None], change[None]
        out["step"] = context["final_step"][None]
    y_test = data["y_test"]
    zero = jnp.zeros((), jnp.int32)
    metrics = {  # (T,): one entry per recorded step
        "time": lr * out["step"].astype(lr.dtype),
        "lr": lr,
        "train_loss": jax.vmap(lambda f: mse_loss(f, y))(f_train),
        "test_loss": jax.vmap(lambda f: mse_loss(f, y_test))(f_test),
        "test_error": jax.vmap(lambda f: prediction_error(f, y_test, error_kind))(f_test),
        "param_change": change / tree_norm(theta0),
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
    implementation: str,
    **optim,
):
    """Metrics of ONE initialisation (``key``) at the width ``context["width"]``.

    ``context = {"data": dataset dict, "width": int scalar, "ridge": float scalar,
    "final_step": int scalar, "lr": float scalar}``; the metrics of :data:`STEP_METRICS` and
    ``step`` have shape (T,), T recorded steps (1 for the closed-form learners), the others are
    scalars. The network is built padded to ``width_pad`` and masked to the active width
    (``width_pad == width``: no padding). The runner vmaps it over samples and, for a point with
    row groups, over widths.
    """
    net = MaskedMLP(width_pad, depth, n_out, activation, parameterization, sigma_w, sigma_b)
    kw = {"learner": learner, "error_kind": error_kind, "net": net, "optim": optim,
          "implementation": implementation}  # fmt: skip
    return _sample_one(key, context, **kw)


EXPERIMENT = Experiment(
    "double_descent",
    points,
    sample,
    plot_double_descent,
    COLUMNS,
    check=check,
    uses=("model", "data", "optim", "ntk"),
    schema=DoubleDescentConfig,
    row_axis=RowAxis("step", STEP_METRICS),
    unused=unused,
)
