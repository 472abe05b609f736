"""The jobs of the paper's study at each ``scale``: one list of overrides per experiment.

``small`` finishes in about ten minutes on 2 CPU cores (a second run reuses the store and takes
seconds); ``large`` is sized for one GPU; ``tiny`` is for tests. ntk_spectrum and double_descent
share the architecture (depth, activation, input dimension) so that kappa fitted by the one gives
P* for the other.
"""

from __future__ import annotations

__all__ = ["JOBS", "jobs_for"]

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
}

JOBS = {"small": _SMALL, "large": _LARGE, "tiny": _TINY}


def jobs_for(cfg, names) -> list[tuple[str, list[str]]]:
    """(label, overrides) of the named experiments at ``cfg.scale``."""
    table = JOBS[cfg.scale]
    return [(name, [f"experiment={name}", *table[name]]) for name in names]
