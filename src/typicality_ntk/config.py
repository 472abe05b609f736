"""Typed configuration schema, registered in Hydra's ConfigStore.

The YAML files under ``conf/`` hold values; this module holds the types and the checks. Every check
raises :class:`~typicality_ntk.errors.ConfigError`, whose message is the one line a user sees
(``quantum.n_qubits=0: must be an integer >= 2``). Checks run in ``__post_init__``, which
``OmegaConf.to_object`` calls, so a config is validated by turning it into these dataclasses
(:func:`to_config`). Dataclasses are not frozen: frozen dataclasses block command-line overrides.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from typicality_ntk.errors import ConfigError

__all__ = [
    "PRECISIONS",
    "SAMPLERS",
    "OBSERVABLES",
    "Config",
    "DataCfg",
    "ModelCfg",
    "NtkCfg",
    "OptimCfg",
    "QuantumCfg",
    "StoreCfg",
    "register_configs",
    "to_config",
]

PRECISIONS = ("float32", "float64")
ACTIVATIONS = ("relu", "erf", "tanh")
PARAMETERIZATIONS = ("ntk", "standard")
DATA_SOURCES = ("synthetic", "digits")
INPUT_LAWS = ("sphere", "gaussian")
TEACHERS = ("random_features", "linear")
DIGITS_TASKS = ("regression", "binary")
OPTIMIZERS = ("gd", "sgd", "adam", "lbfgs")
NTK_IMPLEMENTATIONS = ("auto", "jacobian_contraction", "ntk_vector_products")
NTK_BACKENDS = ("ours", "neural_tangents")
#: Samples in scikit-learn's bundled digits set (load_digits).
N_DIGITS = 1797
SCALES = ("small", "large", "tiny")
#: Config groups and experiment-scoped keys; an entry hashes and records only those its
#: experiment ``uses`` (so adding a double-descent key never invalidates a Page-curve entry).
GROUPS = ("quantum", "model", "data", "optim", "ntk", "learner", "ridge")
LEARNERS = ("network", "random_features", "ntk_regression")
SWEEP_MODES = ("auto", "loop", "masked", "bucketed")
SAMPLERS = ("haar", "gue_eigvec", "energy_shell")
OBSERVABLES = ("gue", "z1", "x1")


def _require(ok: bool, key: str, value: object, allowed: str) -> None:
    if not ok:
        raise ConfigError(key, value, allowed)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_int_list(key: str, values: Iterable[Any], lo: int, hi: int | None = None) -> None:
    values = list(values)
    rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
    _require(len(values) > 0, key, values, f"must be a non-empty list of integers {rng}")
    for v in values:
        ok = _is_int(v) and v >= lo and (hi is None or v <= hi)
        _require(ok, key, values, f"must be a non-empty list of integers {rng}")


@dataclass
class StoreCfg:
    """Where results go. ``root`` is relative to the directory ``tntk`` is started from."""

    root: str = "outputs/store"
    recompute: bool = False

    def __post_init__(self) -> None:
        _require(bool(self.root), "store.root", self.root, "must be a non-empty path")


@dataclass
class QuantumCfg:
    """The quantum side: which states are sampled and on which Hilbert spaces.

    Attributes:
        sampler: ``haar`` (normalised complex Gaussian vector), ``gue_eigvec`` (an eigenvector of a
            GUE matrix) or ``energy_shell`` (Haar on the span of the eigenvectors of a mixed-field
            Ising chain with energies in ``[energy - window/2, energy + window/2]``).
        n_qubits: total qubits for ``page_curve`` (d = 2**n_qubits) and the chain length of
            ``energy_shell``.
        cuts: qubits in subsystem A for each cut of ``page_curve``; ``null`` means all 1..n-1.
        alphas: extra Rényi orders, recorded as ``s_renyi_<alpha>`` (0: log-rank, inf: min-entropy);
            ``s_vn`` and ``s_renyi_2`` are always recorded.
        dims: shell dimensions d swept by ``typicality`` (haar and gue_eigvec samplers).
        chain_sizes: chain lengths swept by ``typicality`` with the energy_shell sampler.
        eps: deviations ε at which ``typicality`` tabulates P(|Δ| >= ε) against Eq. 1.
        observable: ``gue`` (a random GUE matrix, fixed by the seed), ``z1`` or ``x1`` (Pauli Z or X
            on the first site, energy_shell only).
        mp_d_a: subsystem dimensions dA swept by ``mp_spectrum``.
        mp_ratios: ratios c = dA/dB swept by ``mp_spectrum`` (dA/c must be an integer).
        h_x, h_z: fields of H = sum Z_i Z_{i+1} + h_x sum X_i + h_z sum Z_i (open chain).
        energy, window: centre and width of the energy shell.
    """

    sampler: str = "haar"
    n_qubits: int = 10
    cuts: list[int] | None = None
    alphas: list[float] = field(default_factory=lambda: [0.0, math.inf])
    dims: list[int] = field(default_factory=lambda: [8, 32, 128, 512])
    chain_sizes: list[int] = field(default_factory=lambda: [6, 8, 10])
    eps: list[float] = field(default_factory=lambda: [0.01, 0.02, 0.05, 0.1])
    observable: str = "gue"
    mp_d_a: list[int] = field(default_factory=lambda: [16, 64, 256])
    mp_ratios: list[float] = field(default_factory=lambda: [0.25, 0.5, 1.0])
    h_x: float = 0.9045
    h_z: float = 0.8090
    energy: float = 0.0
    window: float = 2.0

    def __post_init__(self) -> None:
        k = "quantum."
        _require(
            self.sampler in SAMPLERS,
            k + "sampler",
            self.sampler,
            f"must be one of {', '.join(SAMPLERS)}",
        )
        _require(
            _is_int(self.n_qubits) and 2 <= self.n_qubits <= 30,
            k + "n_qubits",
            self.n_qubits,
            "must be an integer >= 2 (and <= 30)",
        )
        if self.cuts is not None:
            _check_int_list(k + "cuts", self.cuts, 1, self.n_qubits - 1)
        for a in self.alphas:
            _require(
                a >= 0 and not math.isnan(a),
                k + "alphas",
                list(self.alphas),
                "must be a list of Rényi orders >= 0 (inf allowed)",
            )
        _check_int_list(k + "dims", self.dims, 2)
        _check_int_list(k + "chain_sizes", self.chain_sizes, 2, 14)
        for e in self.eps:
            _require(e > 0, k + "eps", list(self.eps), "must be a list of deviations > 0")
        _require(
            self.observable in OBSERVABLES,
            k + "observable",
            self.observable,
            f"must be one of {', '.join(OBSERVABLES)}",
        )
        _require(
            self.observable == "gue" or self.sampler == "energy_shell",
            k + "observable",
            self.observable,
            "z1 and x1 need quantum.sampler=energy_shell; use gue",
        )
        _check_int_list(k + "mp_d_a", self.mp_d_a, 2)
        for c in self.mp_ratios:
            _require(c > 0, k + "mp_ratios", list(self.mp_ratios), "must be ratios dA/dB > 0")
            for d_a in self.mp_d_a:
                d_b = d_a / c
                _require(
                    abs(d_b - round(d_b)) < 1e-9 and round(d_b) >= 1,
                    k + "mp_ratios",
                    list(self.mp_ratios),
                    f"dA/c must be an integer for every dA (dA={d_a})",
                )
        _require(self.window > 0, k + "window", self.window, "must be > 0")


@dataclass
class ModelCfg:
    """The network: an MLP f(x, theta) with ``depth`` hidden layers (paper Sec. II).

    Attributes:
        depth: hidden layers L (>= 1).
        widths: the hidden widths swept by an experiment (each value used for every layer).
        activation: ``relu``, ``erf`` or ``tanh``.
        parameterization: ``ntk`` (weights N(0,1), scaled by sigma_w/sqrt(fan_in) in the forward
            pass) or ``standard`` (weights N(0, sigma_w^2/fan_in)).
        sigma_w, sigma_b: weight and bias scales.
    """

    depth: int = 1
    widths: list[int] = field(default_factory=lambda: [16, 64, 256, 1024])
    activation: str = "relu"
    parameterization: str = "ntk"
    sigma_w: float = 1.4142135623730951
    sigma_b: float = 0.1

    def __post_init__(self) -> None:
        k = "model."
        _require(
            _is_int(self.depth) and self.depth >= 1,
            k + "depth",
            self.depth,
            "must be an integer >= 1",
        )
        _check_int_list(k + "widths", self.widths, 1)
        _require(
            self.activation in ACTIVATIONS,
            k + "activation",
            self.activation,
            f"must be one of {', '.join(ACTIVATIONS)}",
        )
        _require(
            self.parameterization in PARAMETERIZATIONS,
            k + "parameterization",
            self.parameterization,
            f"must be one of {', '.join(PARAMETERIZATIONS)}",
        )
        _require(self.sigma_w > 0, k + "sigma_w", self.sigma_w, "must be > 0")
        _require(self.sigma_b >= 0, k + "sigma_b", self.sigma_b, "must be >= 0")


@dataclass
class DataCfg:
    """Training data, generated from the run's key (no download).

    Attributes:
        source: ``synthetic`` (teacher regression) or ``digits`` (scikit-learn's bundled 8x8
            digits, 1797 images).
        n_train, n_test: N training and test points.
        dim: input dimension n_0 (synthetic; digits have 64).
        inputs: ``sphere`` (|x| = sqrt(n_0)) or ``gaussian`` (x ~ N(0, I)), synthetic only.
        teacher: ``random_features`` (a random one-hidden-layer ReLU net) or ``linear``.
        label_noise: synthetic: std of Gaussian noise added to training labels; digits: fraction
            of training labels replaced by a random class.
        task: digits only: ``regression`` to centred one-hot targets (n_L = 10) or ``binary``
            (digit < 5 vs >= 5 as -1/+1, n_L = 1).
        n_out: outputs n_L of the synthetic teacher.
    """

    source: str = "synthetic"
    n_train: int = 32
    n_test: int = 256
    dim: int = 8
    inputs: str = "sphere"
    teacher: str = "random_features"
    label_noise: float = 0.0
    task: str = "regression"
    n_out: int = 1

    def __post_init__(self) -> None:
        k = "data."
        _require(
            self.source in DATA_SOURCES,
            k + "source",
            self.source,
            f"must be one of {', '.join(DATA_SOURCES)}",
        )
        _require(
            _is_int(self.n_train) and self.n_train >= 1,
            k + "n_train",
            self.n_train,
            "must be an integer >= 1",
        )
        _require(
            _is_int(self.n_test) and self.n_test >= 1,
            k + "n_test",
            self.n_test,
            "must be an integer >= 1",
        )
        _require(
            _is_int(self.dim) and self.dim >= 1, k + "dim", self.dim, "must be an integer >= 1"
        )
        _require(
            self.inputs in INPUT_LAWS,
            k + "inputs",
            self.inputs,
            f"must be one of {', '.join(INPUT_LAWS)}",
        )
        _require(
            self.teacher in TEACHERS,
            k + "teacher",
            self.teacher,
            f"must be one of {', '.join(TEACHERS)}",
        )
        _require(
            self.task in DIGITS_TASKS,
            k + "task",
            self.task,
            f"must be one of {', '.join(DIGITS_TASKS)}",
        )
        _require(
            _is_int(self.n_out) and self.n_out >= 1,
            k + "n_out",
            self.n_out,
            "must be an integer >= 1",
        )
        _require(self.label_noise >= 0, k + "label_noise", self.label_noise, "must be >= 0")
        if self.source == "digits":
            _require(
                self.label_noise <= 1,
                k + "label_noise",
                self.label_noise,
                "is a fraction of labels for digits: must be in [0, 1]",
            )
            _require(
                self.n_train + self.n_test <= N_DIGITS,
                k + "n_train",
                self.n_train,
                f"N larger than the digits set: n_train + n_test must be <= {N_DIGITS}",
            )

    @property
    def outputs(self) -> int:
        """n_L: outputs of the network for this data."""
        if self.source == "digits":
            return 10 if self.task == "regression" else 1
        return self.n_out

    @property
    def input_dim(self) -> int:
        return 64 if self.source == "digits" else self.dim


@dataclass
class OptimCfg:
    """Training: full-batch gradient descent by default (optax).

    Attributes:
        name: ``gd`` (full batch), ``sgd`` (mini-batches of ``batch_size``), ``adam`` or ``lbfgs``.
        lr: learning rate.
        steps: step budget.
        batch_size: mini-batch size for ``sgd`` (null = full batch).
        loss_tol: stop early when train loss / initial loss falls below this (0 = never).
        log_points: loss values recorded per run (log-spaced steps).
    """

    name: str = "gd"
    lr: float = 1.0
    steps: int = 2000
    batch_size: int | None = None
    loss_tol: float = 0.0
    log_points: int = 64

    def __post_init__(self) -> None:
        k = "optim."
        _require(
            self.name in OPTIMIZERS,
            k + "name",
            self.name,
            f"must be one of {', '.join(OPTIMIZERS)}",
        )
        _require(self.lr > 0, k + "lr", self.lr, "must be > 0")
        _require(
            _is_int(self.steps) and self.steps >= 1,
            k + "steps",
            self.steps,
            "must be an integer >= 1",
        )
        if self.batch_size is not None:
            _require(
                _is_int(self.batch_size) and self.batch_size >= 1,
                k + "batch_size",
                self.batch_size,
                "must be an integer >= 1 or null",
            )
        _require(self.loss_tol >= 0, k + "loss_tol", self.loss_tol, "must be >= 0")
        _require(
            _is_int(self.log_points) and self.log_points >= 2,
            k + "log_points",
            self.log_points,
            "must be an integer >= 2",
        )


@dataclass
class NtkCfg:
    """How empirical kernels are computed.

    Attributes:
        implementation: ``auto``, ``jacobian_contraction`` (K = J J^T) or ``ntk_vector_products``
            (jvp/vjp, never materialises J).
        backend: ``ours`` or ``neural_tangents`` (only where neural-tangents imports).
    """

    implementation: str = "auto"
    backend: str = "ours"

    def __post_init__(self) -> None:
        _require(
            self.implementation in NTK_IMPLEMENTATIONS,
            "ntk.implementation",
            self.implementation,
            f"must be one of {', '.join(NTK_IMPLEMENTATIONS)}",
        )
        _require(
            self.backend in NTK_BACKENDS,
            "ntk.backend",
            self.backend,
            f"must be one of {', '.join(NTK_BACKENDS)}",
        )
        if self.backend == "neural_tangents":
            try:
                import neural_tangents  # noqa: F401
            except Exception as err:  # noqa: BLE001 - any import failure means: not usable here
                raise ConfigError(
                    "ntk.backend",
                    self.backend,
                    f"neural-tangents does not import here ({type(err).__name__}); it needs "
                    "jax==0.4.30: see scripts/make_nt_reference.py, or use ntk.backend=ours",
                ) from None


@dataclass
class SweepCfg:
    """How a width sweep is compiled (double_descent): results do not depend on it.

    Attributes:
        mode: ``loop`` (one program per width), ``masked`` (one max-width program, units masked
            per width), ``bucketed`` (a few programs, widths padded to their bucket's largest) or
            ``auto`` (by device and estimated cost).
    """

    mode: str = "auto"

    def __post_init__(self) -> None:
        _require(
            self.mode in SWEEP_MODES,
            "sweep.mode",
            self.mode,
            f"must be one of {', '.join(SWEEP_MODES)}",
        )


@dataclass
class Config:
    """The root of every run's configuration.

    Attributes:
        name: experiment name (set by ``experiment=<name>``).
        module: module holding the experiment's ``EXPERIMENT`` object.
        seed: root of every PRNG key of the run.
        samples: states (or initialisations) per point, vmapped.
        chunk_size: samples per vmapped call, or ``auto`` (chosen from free memory).
        precision: ``float32`` (complex64) or ``float64`` (complex128).
        figures: draw the experiment's figures into the run directory.
        compile_cache: JAX's persistent compilation cache: ``auto`` ($TNTK_COMPILE_CACHE, else
            ~/.cache/typicality_ntk/jax), a directory, or ``off``.
        scale: sizes of a study's jobs (``experiment=paper``): ``small`` (2 CPU cores, minutes)
            ``large`` (a GPU) or ``tiny`` (tests).
        learner: double_descent's learner: ``network`` (the MLP trained with optax),
            ``random_features`` (readout only, min-norm) or ``ntk_regression`` (empirical NTK).
        ridge: ridge added to the kernel (``K + ridge I``); 0 = ridgeless, min-norm.
        sweep: how width sweeps compile (:class:`SweepCfg`).
    """

    name: str = "page_curve"
    module: str = "typicality_ntk.experiments.${name}"
    seed: int = 0
    samples: int = 256
    chunk_size: Any = "auto"
    precision: str = "float32"
    figures: bool = True
    compile_cache: str = "auto"
    scale: str = "small"
    learner: str = "random_features"
    ridge: float = 0.0
    sweep: SweepCfg = field(default_factory=SweepCfg)
    store: StoreCfg = field(default_factory=StoreCfg)
    quantum: QuantumCfg = field(default_factory=QuantumCfg)
    model: ModelCfg = field(default_factory=ModelCfg)
    data: DataCfg = field(default_factory=DataCfg)
    optim: OptimCfg = field(default_factory=OptimCfg)
    ntk: NtkCfg = field(default_factory=NtkCfg)

    def __post_init__(self) -> None:
        _require(
            _is_int(self.seed) and self.seed >= 0, "seed", self.seed, "must be an integer >= 0"
        )
        _require(
            _is_int(self.samples) and self.samples >= 1,
            "samples",
            self.samples,
            "must be an integer >= 1",
        )
        ok = self.chunk_size == "auto" or (_is_int(self.chunk_size) and self.chunk_size >= 1)
        _require(ok, "chunk_size", self.chunk_size, "must be an integer >= 1 or auto")
        _require(
            self.precision in PRECISIONS,
            "precision",
            self.precision,
            f"must be one of {', '.join(PRECISIONS)}",
        )
        _require(self.scale in SCALES, "scale", self.scale, f"must be one of {', '.join(SCALES)}")
        _require(
            self.learner in LEARNERS,
            "learner",
            self.learner,
            f"must be one of {', '.join(LEARNERS)}",
        )
        _require(
            self.ridge >= 0, "ridge", self.ridge, "must be a number >= 0 (0: ridgeless, min-norm)"
        )


def register_configs() -> None:
    """Store the schema as ``base_schema``; ``conf/config.yaml`` lists it first in its defaults."""
    cs = ConfigStore.instance()
    cs.store(name="base_schema", node=Config)


def to_config(cfg: DictConfig) -> Config:
    """Resolve interpolations and validate: raises ConfigError on the first bad value."""
    obj = OmegaConf.to_object(cfg)
    assert isinstance(obj, Config), type(obj)
    return obj
