"""The one sweep runner: every experiment, quantum or NTK, goes through it."""

from typicality_ntk.sweep._experiment import Experiment, Point, RowAxis
from typicality_ntk.sweep._loading import experiment_config, load_experiment
from typicality_ntk.sweep._precision import complex_dtype, precision_scope, real_dtype
from typicality_ntk.sweep._runner import Runner, RunResult, freeze_static, run, sample_keys
from typicality_ntk.sweep._study import Study, job_overrides

__all__ = [
    "Experiment",
    "Point",
    "RowAxis",
    "RunResult",
    "Runner",
    "Study",
    "complex_dtype",
    "experiment_config",
    "freeze_static",
    "job_overrides",
    "load_experiment",
    "precision_scope",
    "real_dtype",
    "run",
    "sample_keys",
]
