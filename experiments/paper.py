"""The paper reproduction (the main job): every experiment's figures plus the correspondence.

``tntk experiment=paper`` (scale=small: about three minutes on 2 CPU cores, seconds when the
store already holds the results) or ``tntk experiment=paper scale=large`` (one GPU).
"""

from __future__ import annotations

from experiments._study_jobs import StudyConfig, jobs_for
from typicality_ntk.plot.correspondence import plot_correspondence
from typicality_ntk.sweep import Study

NAMES = (
    "typicality",
    "page_curve",
    "mp_spectrum",
    "ntk_spectrum",
    "ntk_convergence",
    "lazy_training",
    "double_descent",
    "double_descent_network",
    "double_descent_linearized",
    "double_descent_ntk",
)

STUDY = Study("paper", lambda cfg: jobs_for(cfg, NAMES), plot_correspondence, schema=StudyConfig)
