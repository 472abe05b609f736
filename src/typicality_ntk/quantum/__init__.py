"""The quantum side: Haar-typical states, reduced spectra, entropies, exact theory.

``typicality_ntk.quantum.theory`` holds the exact formulas (Lubkin, Page, Marchenko-Pastur,
the paper's Eqs. 1 and 2, the exact variances of S_vN and of the purity) that every sampled number
is tested against; ``typicality_ntk.quantum.fluctuations`` sets sampled variances next to them.
"""

from typicality_ntk.quantum._spectra import (
    alpha_tag,
    purity,
    purity_from_state,
    renyi_entropy,
    schmidt_spectrum,
    trace_distance_to_mixed,
    von_neumann_entropy,
)
from typicality_ntk.quantum._spin_chain import (
    energy_shell,
    mixed_field_ising,
    pauli_on_site,
    spectral_range,
)
from typicality_ntk.quantum._states import (
    SAMPLERS,
    draw_state,
    gue_eigvec_state,
    gue_matrix,
    haar_state,
    shell_state,
)
from typicality_ntk.quantum.fluctuations import cut_fluctuations, sample_variance_se

__all__ = [
    "SAMPLERS",
    "alpha_tag",
    "cut_fluctuations",
    "draw_state",
    "energy_shell",
    "spectral_range",
    "gue_eigvec_state",
    "gue_matrix",
    "haar_state",
    "mixed_field_ising",
    "pauli_on_site",
    "purity",
    "purity_from_state",
    "renyi_entropy",
    "sample_variance_se",
    "schmidt_spectrum",
    "shell_state",
    "trace_distance_to_mixed",
    "von_neumann_entropy",
]
