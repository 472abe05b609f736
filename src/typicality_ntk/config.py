"""Typed configuration of the shared groups; an experiment's own keys live in its module.

The YAML files under ``conf/`` hold values; this module holds the types and the checks of what
every experiment shares: the common keys (seed, samples, chunk_size, precision, store, ...) and
the groups ``quantum`` (the ensemble), ``model``, ``data``, ``optim`` and ``ntk``. An experiment
adds its own keys by subclassing :class:`Config` (and a group's dataclass where its keys sit in a
group, e.g. ``quantum.cuts``) in its own module and naming the subclass as its ``schema``.

Every check raises :class:`~typicality_ntk.errors.ConfigError`, whose message is the one line a
user sees (``quantum.n_qubits=0: must be an integer >= 2``). Checks run in ``__post_init__``,
which ``OmegaConf.to_object`` calls, so a config is validated by turning it into the experiment's
schema (:func:`to_config`). Dataclasses are not frozen: frozen dataclasses block overrides.

Hydra composes untyped values: ``base_values`` (the defaults of :class:`Config`, registered by
:func:`register_configs`), then ``conf/config.yaml``, the group presets and the experiment's
YAML. Hydra's struct mode still rejects an override of a key no file defines (a typo);
:func:`to_config` then types and checks the keys of the experiment's schema and drops the rest.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, ValidationError

from typicality_ntk.errors import ConfigError

__all__ = [
    "GROUPS",
    "PRECISIONS",
    "SAMPLERS",
    "Config",
    "DataCfg",
    "ModelCfg",
    "NtkCfg",
    "OptimCfg",
    "QuantumCfg",
    "StoreCfg",
    "check_choice",
    "check_int_list",
    "non_semantic_keys",
    "own_keys",
    "register_configs",
    "require",
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
NTK_IMPLEMENTATIONS = ("auto", "jacobian_contraction", "ntk_vector_products", "structured")
#: Samples in scikit-learn's bundled digits set (load_digits).
N_DIGITS = 1797
#: The shared groups; an entry hashes and records only those its experiment ``uses`` (so a
#: ``model.*`` change never invalidates a Page-curve entry). Keys of an experiment's own schema
#: outside these groups are always recorded.
GROUPS = ("quantum", "model", "data", "optim", "ntk")
SAMPLERS = ("haar", "gue_eigvec", "energy_shell")


def require(ok: bool, key: str, value: object, allowed: str) -> None:
    """Raise ``ConfigError(key, value, allowed)`` unless ``ok`` (the one-line check)."""
    if not ok:
        raise ConfigError(key, value, allowed)


def check_choice(key: str, value: object, choices: Iterable[str]) -> None:
    """``value`` must be one of ``choices``."""
    choices = tuple(choices)
    require(value in choices, key, value, f"must be one of {', '.join(choices)}")


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_int_list(key: str, values: Iterable[Any], lo: int, hi: int | None = None) -> None:
    """A non-empty list of integers in ``[lo, hi]`` (``hi=None``: no upper bound)."""
    values = list(values)
    rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
    require(len(values) > 0, key, values, f"must be a non-empty list of integers {rng}")
    for v in values:
        ok = _is_int(v) and v >= lo and (hi is None or v <= hi)
        require(ok, key, values, f"must be a non-empty list of integers {rng}")


@dataclass
class StoreCfg:
    """Where results go. ``root`` is relative to the directory ``tntk`` is started from."""

    root: str = "outputs/store"
    recompute: bool = False

    def __post_init__(self) -> None:
        require(bool(self.root), "store.root", self.root, "must be a non-empty path")


@dataclass
class QuantumCfg:
    """The quantum ensemble: which states are sampled (shared by every quantum experiment).

    Experiments add their own keys to this group by subclassing it (``page_curve``:
    ``quantum.cuts``, ``quantum.alphas``; ``typicality``: ``quantum.dims``, ...).

    Attributes:
        sampler: ``haar`` (normalised complex Gaussian vector), ``gue_eigvec`` (an eigenvector of a
            GUE matrix) or ``energy_shell`` (Haar on the span of the eigenvectors of a mixed-field
            Ising chain with energies in ``[energy - window/2, energy + window/2]``).
        n_qubits: total qubits (d = 2**n_qubits), the chain length of ``energy_shell``.
        h_x, h_z: fields of H = sum Z_i Z_{i+1} + h_x sum X_i + h_z sum Z_i (open chain).
        energy, window: centre and width of the energy shell.
    """

    sampler: str = "haar"
    n_qubits: int = 10
    h_x: float = 0.9045
    h_z: float = 0.8090
    energy: float = 0.0
    window: float = 2.0

    def __post_init__(self) -> None:
        k = "quantum."
        check_choice(k + "sampler", self.sampler, SAMPLERS)
        require(
            _is_int(self.n_qubits) and 2 <= self.n_qubits <= 30,
            k + "n_qubits",
            self.n_qubits,
            "must be an integer >= 2 (and <= 30)",
        )
        require(math.isfinite(self.h_x), k + "h_x", self.h_x, "must be a finite number")
        require(math.isfinite(self.h_z), k + "h_z", self.h_z, "must be a finite number")
        require(math.isfinite(self.energy), k + "energy", self.energy, "must be a finite number")
        require(
            self.window > 0 and math.isfinite(self.window), k + "window", self.window, "must be > 0"
        )

    def check_shell(self, chain_lengths: Iterable[int]) -> None:
        """With the ``energy_shell`` sampler: the shell must meet the spectrum of every chain
        (bounds from Lanczos, milliseconds), so a run with an empty shell stops before compute."""
        if self.sampler != "energy_shell":
            return
        from typicality_ntk.quantum import spectral_range

        lo, hi = self.energy - self.window / 2, self.energy + self.window / 2
        for n in chain_lengths:
            e_min, e_max = spectral_range(int(n), float(self.h_x), float(self.h_z))
            require(
                hi >= e_min and lo <= e_max,
                "quantum.energy",
                self.energy,
                f"the shell [{lo:g}, {hi:g}] misses the spectrum [{e_min:.4g}, {e_max:.4g}] of "
                f"the {n}-site chain; move quantum.energy or widen quantum.window",
            )

    def unused_keys(self) -> dict[str, str]:
        """Keys of this group that the other settings make meaningless: key -> why (a user who
        sets one on the command line gets that line as an error)."""
        if self.sampler == "energy_shell":
            return {}
        why = f"applies to quantum=energy_shell only (this run samples {self.sampler} states)"
        return dict.fromkeys(("h_x", "h_z", "energy", "window"), why)


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
        require(
            _is_int(self.depth) and self.depth >= 1,
            k + "depth",
            self.depth,
            "must be an integer >= 1",
        )
        check_int_list(k + "widths", self.widths, 1)
        require(
            self.activation in ACTIVATIONS,
            k + "activation",
            self.activation,
            f"must be one of {', '.join(ACTIVATIONS)}",
        )
        require(
            self.parameterization in PARAMETERIZATIONS,
            k + "parameterization",
            self.parameterization,
            f"must be one of {', '.join(PARAMETERIZATIONS)}",
        )
        require(self.sigma_w > 0, k + "sigma_w", self.sigma_w, "must be > 0")
        require(self.sigma_b >= 0, k + "sigma_b", self.sigma_b, "must be >= 0")


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
        require(
            self.source in DATA_SOURCES,
            k + "source",
            self.source,
            f"must be one of {', '.join(DATA_SOURCES)}",
        )
        require(
            _is_int(self.n_train) and self.n_train >= 1,
            k + "n_train",
            self.n_train,
            "must be an integer >= 1",
        )
        require(
            _is_int(self.n_test) and self.n_test >= 1,
            k + "n_test",
            self.n_test,
            "must be an integer >= 1",
        )
        require(_is_int(self.dim) and self.dim >= 1, k + "dim", self.dim, "must be an integer >= 1")
        require(
            self.inputs in INPUT_LAWS,
            k + "inputs",
            self.inputs,
            f"must be one of {', '.join(INPUT_LAWS)}",
        )
        require(
            self.teacher in TEACHERS,
            k + "teacher",
            self.teacher,
            f"must be one of {', '.join(TEACHERS)}",
        )
        require(
            self.task in DIGITS_TASKS,
            k + "task",
            self.task,
            f"must be one of {', '.join(DIGITS_TASKS)}",
        )
        require(
            _is_int(self.n_out) and self.n_out >= 1,
            k + "n_out",
            self.n_out,
            "must be an integer >= 1",
        )
        require(self.label_noise >= 0, k + "label_noise", self.label_noise, "must be >= 0")
        if self.source == "digits":
            require(
                self.label_noise <= 1,
                k + "label_noise",
                self.label_noise,
                "is a fraction of labels for digits: must be in [0, 1]",
            )
            require(
                self.n_train + self.n_test <= N_DIGITS,
                k + "n_train",
                self.n_train,
                f"N larger than the digits set: n_train + n_test must be <= {N_DIGITS}",
            )

    def unused_keys(self) -> dict[str, str]:
        """Keys of this group that the other settings make meaningless: key -> why."""
        if self.source == "digits":
            why = "applies to synthetic data only (data=digits has 64 pixels and 10 classes)"
            return dict.fromkeys(("dim", "inputs", "teacher", "n_out"), why)
        return {"task": "applies to data=digits only (synthetic data is a teacher regression)"}

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
        lr: learning rate: a number > 0, or ``auto`` (``gd`` and ``sgd`` only): per width,
            a shared fraction of the largest stable step of the linearised network at theta_0,
            ``LR_SAFETY * 2 B / max_samples lambda_max(K_0 restricted to B examples)``
            (:func:`typicality_ntk.ntk.train.auto_learning_rate`); adam and lbfgs have no such
            bound and need a number.
        steps: step budget.
        batch_size: mini-batch size for ``sgd`` (null = full batch).
        loss_tol: stop early when train loss / initial loss falls below this (0 = never).
        log_points: loss values recorded per run (log-spaced steps).
    """

    name: str = "gd"
    lr: Any = "auto"  # a float, or "auto"
    steps: int = 2000
    batch_size: int | None = None
    loss_tol: float = 0.0
    log_points: int = 64

    def __post_init__(self) -> None:
        k = "optim."
        require(
            self.name in OPTIMIZERS,
            k + "name",
            self.name,
            f"must be one of {', '.join(OPTIMIZERS)}",
        )
        if self.lr == "auto":
            require(
                self.name in ("gd", "sgd"),
                k + "lr",
                self.lr,
                f"auto is a stability bound of gd and sgd only: give {self.name} a number",
            )
        else:
            try:
                self.lr = float(self.lr)
            except (TypeError, ValueError):
                raise ConfigError(k + "lr", self.lr, "must be a number > 0 or auto") from None
            require(self.lr > 0, k + "lr", self.lr, "must be > 0")
        require(
            _is_int(self.steps) and self.steps >= 1,
            k + "steps",
            self.steps,
            "must be an integer >= 1",
        )
        if self.batch_size is not None:
            require(
                _is_int(self.batch_size) and self.batch_size >= 1,
                k + "batch_size",
                self.batch_size,
                "must be an integer >= 1 or null",
            )
        require(self.loss_tol >= 0, k + "loss_tol", self.loss_tol, "must be >= 0")
        require(
            _is_int(self.log_points) and self.log_points >= 2,
            k + "log_points",
            self.log_points,
            "must be an integer >= 2",
        )
        # steps 0..steps hold at most steps + 1 records: a larger default is clamped (one asked
        # for on the command line is refused by _overrides.check_applicable)
        self.log_points = min(self.log_points, self.steps + 1)


@dataclass
class NtkCfg:
    """How empirical kernels are computed.

    Attributes:
        implementation: ``auto`` (structured where the model allows, else by cost),
            ``jacobian_contraction`` (K = J J^T), ``ntk_vector_products`` (jvp/vjp, never
            materialises J) or ``structured`` (per-layer Grams of inputs and cotangents; dense
            layers only).
    """

    implementation: str = "auto"

    def __post_init__(self) -> None:
        check_choice("ntk.implementation", self.implementation, NTK_IMPLEMENTATIONS)


@dataclass
class Config:
    """The root of every run's configuration: the keys every experiment shares.

    Attributes:
        name: experiment name (set by ``experiment=<name>``).
        module: module holding the experiment's ``EXPERIMENT`` (or a study's ``STUDY``); by
            default the top-level ``experiments`` package's module of that name.
        seed: root of every PRNG key of the run.
        samples: states (or initialisations) per point, vmapped.
        chunk_size: samples per vmapped call, or ``auto`` (chosen from free memory).
        precision: ``float32`` (complex64) or ``float64`` (complex128).
        figures: draw the experiment's figures into the run directory.
        compile_cache: JAX's persistent compilation cache: ``auto`` ($TNTK_COMPILE_CACHE, else
            ~/.cache/typicality_ntk/jax), a directory, or ``off``.
    """

    name: str = ""  # set by conf/experiment/<name>.yaml
    module: str = "experiments.${name}"
    seed: int = 0
    samples: int = 256
    chunk_size: Any = "auto"
    precision: str = "float32"
    figures: bool = True
    compile_cache: str = "auto"
    store: StoreCfg = field(default_factory=StoreCfg)
    quantum: QuantumCfg = field(default_factory=QuantumCfg)
    model: ModelCfg = field(default_factory=ModelCfg)
    data: DataCfg = field(default_factory=DataCfg)
    optim: OptimCfg = field(default_factory=OptimCfg)
    ntk: NtkCfg = field(default_factory=NtkCfg)

    def __post_init__(self) -> None:
        require(_is_int(self.seed) and self.seed >= 0, "seed", self.seed, "must be an integer >= 0")
        require(
            _is_int(self.samples) and self.samples >= 1,
            "samples",
            self.samples,
            "must be an integer >= 1",
        )
        ok = self.chunk_size == "auto" or (_is_int(self.chunk_size) and self.chunk_size >= 1)
        require(ok, "chunk_size", self.chunk_size, "must be an integer >= 1 or auto")
        check_choice("precision", self.precision, PRECISIONS)
        require(bool(self.module), "module", self.module, "must be a dotted module path")
        require(bool(self.name), "name", self.name, "must be set (experiment=<name> sets it)")


#: Name of the untyped defaults node that ``conf/config.yaml`` lists first.
BASE_VALUES = "base_values"


def register_configs() -> None:
    """Store :class:`Config`'s defaults as the untyped ``base_values`` node.

    Untyped, so that an experiment's YAML may add its own keys anywhere (``learner``,
    ``quantum.cuts``); types and checks are applied afterwards by :func:`to_config`.
    """
    values = OmegaConf.to_container(OmegaConf.structured(Config), resolve=False)
    ConfigStore.instance().store(name=BASE_VALUES, node=OmegaConf.create(values))


def _fields(schema: type) -> dict[str, Any]:
    """Dataclass fields of ``schema``: name -> nested dataclass type (or None for a leaf)."""
    out = {}
    for f in dataclasses.fields(schema):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        out[f.name] = type(default) if dataclasses.is_dataclass(default) else None
    return out


def _restrict(values: Mapping[str, Any], schema: type, prefix: str = "") -> dict[str, Any]:
    """The part of ``values`` that ``schema`` holds (nested); other keys are dropped, except at
    the root, where a key no schema knows is an error (a group may carry keys another
    experiment owns, e.g. from a ``+quantum.<key>=`` added for a study)."""
    fields, out = _fields(schema), {}
    for key, value in values.items():
        if key not in fields:
            if not prefix and key not in GROUPS:
                raise ConfigError(key, value, f"not a key of this experiment ({schema.__name__})")
            continue
        sub = fields[key]
        out[key] = (
            _restrict(value, sub, f"{prefix}{key}.")
            if sub and isinstance(value, Mapping)
            else value
        )
    return out


def _type_error(err: ValidationError, values: Mapping[str, Any] | None = None) -> ConfigError:
    key = getattr(err, "full_key", "") or "config"
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    if "is not a ListConfig" in text:  # a scalar where the schema has a list: quantum.cuts=5
        value: Any = values or {}
        for part in key.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        shown = (
            "null" if value is None else str(value).lower() if isinstance(value, bool) else value
        )
        return ConfigError(key, shown, f"must be a list, e.g. [{shown}]")
    m = re.search(r"Value '([^']*)' (?:of type '(\w+)' )?could not be converted to (\w+)", text)
    if m:
        return ConfigError(key, m.group(1), f"must be {m.group(3).lower()}")
    m = re.search(r"Value '([^']*)'", text)
    return ConfigError(key, m.group(1) if m else "", text)


def to_config(cfg: DictConfig | Mapping[str, Any], schema: type | None = None) -> Config:
    """Resolve, keep the keys of ``schema`` (default :class:`Config`), type and check them.

    Raises:
        ConfigError: on the first bad value (a wrong type included), naming its dotted key.
    """
    schema = Config if schema is None else schema
    if not (isinstance(schema, type) and issubclass(schema, Config)):
        raise TypeError(f"an experiment's schema must subclass Config, got {schema!r}")
    if isinstance(cfg, DictConfig):
        values = OmegaConf.to_container(cfg, resolve=True)
    else:
        values = dict(cfg)
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), _restrict(values, schema))
        obj = OmegaConf.to_object(merged)
    except ValidationError as err:
        raise _type_error(err, values) from None
    except ConfigKeyError as err:
        key = getattr(err, "full_key", "") or "config"
        raise ConfigError(key, "", str(err).splitlines()[0]) from None
    assert isinstance(obj, schema), type(obj)
    return obj


def non_semantic_keys(schema: type) -> tuple[str, ...]:
    """Root keys of ``schema`` declared ``field(..., metadata={"semantic": False})``: they never
    change a result (e.g. how a sweep compiles), so store entries are shared across them."""
    return tuple(f.name for f in dataclasses.fields(schema) if not f.metadata.get("semantic", 1))


@dataclass
class _Empty:
    """No keys: the base of a node an experiment adds as a whole (``sweep``)."""


def own_keys(schema: type, base: type | None = None, prefix: str = "") -> list[str]:
    """Dotted names of the keys ``schema`` adds to ``base`` (default :class:`Config`)."""
    base = Config if base is None else base
    mine, theirs = _fields(schema), _fields(base)
    out = []
    for key, sub in mine.items():
        if key not in theirs:
            out += [prefix + key] if sub is None else own_keys(sub, _Empty, f"{prefix}{key}.")
        elif sub is not None and theirs[key] is not None and sub is not theirs[key]:
            out += own_keys(sub, theirs[key], f"{prefix}{key}.")
    return out
