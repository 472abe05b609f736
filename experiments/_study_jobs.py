"""The jobs of the paper's study at each ``scale``: one list of overrides per job label.

A label is an experiment's name, or names a second run of one (:data:`EXPERIMENT_OF`): the
double descent runs four times, random features (``double_descent``), the trained network
(``double_descent_network``, at the longest training time the scale affords), its linearisation
at theta_0 (``double_descent_linearized``, the same gradient descent in closed form) and the
t -> infinity limit (``double_descent_ntk``, NTK regression), the last three on the same widths,
samples and seed, hence the same initialisations.

``small`` finishes in about three minutes on 2 CPU cores (a second run reuses the store and
takes seconds); ``large`` is sized for one GPU; ``tiny`` is for tests. ntk_spectrum and
double_descent share the architecture (depth, activation, input dimension) so that kappa fitted
by the one gives P* for the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from typicality_ntk.config import Config, check_choice

__all__ = ["EXPERIMENT_OF", "JOBS", "SCALES", "StudyConfig", "jobs_for"]

SCALES = ("small", "large", "tiny")


@dataclass
class StudyConfig(Config):
    """A study's own key: ``scale`` sizes its jobs (``small``: 2 CPU cores, minutes; ``large``:
    one GPU; ``tiny``: tests)."""

    scale: str = "small"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("scale", self.scale, SCALES)


#: Labels that are not experiment names: the experiment each one runs.
EXPERIMENT_OF = {
    "double_descent_network": "double_descent",
    "double_descent_linearized": "double_descent",
    "double_descent_ntk": "double_descent",
}


def _network_double_descent(widths: str, samples: int, steps: int) -> dict[str, list[str]]:
    """The three time-resolved double-descent jobs: same widths, samples, steps (and seed)."""
    common = [f"model.widths={widths}", f"samples={samples}", f"optim.steps={steps}"]
    return {
        "double_descent_network": ["learner=network", *common],
        "double_descent_linearized": ["learner=linearized", *common],
        "double_descent_ntk": ["learner=ntk_regression", *common],
    }


_SMALL = {
    "typicality": ["samples=1024", "quantum.dims=[8,32,128,512]"],
    "page_curve": ["quantum.n_qubits=10", "samples=128"],
    "mp_spectrum": ["samples=32", "quantum.mp_d_a=[16,64]", "quantum.mp_ratios=[0.25,0.5,1.0]"],
    "ntk_spectrum": [
        "samples=16",
        "data.n_train=32",
        "model.widths=[1,2,3,4,6,8,12,16,32,64,128,256,512]",
    ],
    "ntk_convergence": [],
    "lazy_training": [],
    "double_descent": [],
    # 1e5 GD steps: ~20 s of training (2 bucketed programs) on 2 cores; the peak has grown
    **_network_double_descent("[1,2,3,4,5,6,7,8,10,12,15,20,30,50,100]", 4, 100_000),
}

_LARGE = {
    "typicality": ["samples=65536", "quantum.dims=[8,32,128,512,2048,8192]"],
    "page_curve": ["quantum.n_qubits=16", "samples=1024"],
    "mp_spectrum": ["samples=256", "quantum.mp_d_a=[64,256,1024]"],
    "ntk_spectrum": [
        "samples=128",
        "data.n_train=128",
        "model.widths=[1,2,4,8,12,14,16,20,24,32,48,64,128,256,512,1024,2048,4096]",
    ],
    "ntk_convergence": ["samples=64"],
    "lazy_training": ["samples=64"],
    "double_descent": ["samples=32"],
    **_network_double_descent(
        "[1,2,3,4,5,6,7,8,10,12,15,20,25,30,40,50,70,100,150,200,300,400]", 32, 1_000_000
    ),
}

#: For tests and smoke runs: every job at toy sizes (seconds each, figures still drawn).
_TINY = {
    "typicality": ["samples=64", "quantum.dims=[8,32]"],
    "page_curve": ["quantum.n_qubits=6", "samples=16"],
    "mp_spectrum": ["samples=4", "quantum.mp_d_a=[16]", "quantum.mp_ratios=[0.25,0.5]"],
    "ntk_spectrum": ["samples=4", "data.n_train=8", "model.widths=[1,2,8,32,64]"],
    "ntk_convergence": ["samples=2", "model.widths=[16,64]", "data.n_train=4"],
    "lazy_training": ["samples=2", "model.widths=[16,64]", "data.n_train=4", "optim.steps=50"],
    "double_descent": ["samples=2", "model.widths=[2,4,8,16]", "data.n_train=8"],
    **{
        label: [*overrides, "data.n_train=8", "data.n_test=16"]
        for label, overrides in _network_double_descent("[1,2,4]", 2, 200).items()
    },
}

JOBS = {"small": _SMALL, "large": _LARGE, "tiny": _TINY}


def jobs_for(cfg, names) -> list[tuple[str, list[str]]]:
    """(label, overrides) of the named jobs at ``cfg.scale`` (a label runs the experiment of
    its name, or :data:`EXPERIMENT_OF`'s)."""
    table = JOBS[cfg.scale]
    return [(name, [f"experiment={EXPERIMENT_OF.get(name, name)}", *table[name]]) for name in names]
