"""Figures from stored results. Plots only draw: inputs are store tables and arrays."""

from typicality_ntk.plot._common import mean_sem, new_figure, save_figure
from typicality_ntk.plot.peaks import PeakInterval, peak_interval, peak_interval_over

__all__ = [
    "PeakInterval",
    "mean_sem",
    "new_figure",
    "peak_interval",
    "peak_interval_over",
    "save_figure",
]
