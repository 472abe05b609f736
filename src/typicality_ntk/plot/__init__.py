"""Figures from stored results. Plots only draw: inputs are store tables and arrays."""

from typicality_ntk.plot._common import mean_sem, new_figure, save_figure

__all__ = ["mean_sem", "new_figure", "save_figure"]
