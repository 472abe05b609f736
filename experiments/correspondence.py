"""The correspondence figure (the paper's Table 1 with data): a study over both sides' results.

Runs (or reuses) page_curve, mp_spectrum, typicality, ntk_spectrum, lazy_training and
double_descent at ``scale``, then draws
:func:`typicality_ntk.plot.correspondence.plot_correspondence`.
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
    "lazy_training",
    "double_descent",
)

STUDY = Study(
    "correspondence", lambda cfg: jobs_for(cfg, NAMES), plot_correspondence, schema=StudyConfig
)
