"""Neural tangent kernels: finite-width (empirical, paper Eq. 3) and infinite-width (analytic).

* :func:`make_mlp` builds a fully connected network in NTK or standard parameterisation as a pure
  ``(init_fn, apply_fn)`` pair (flax linen).
* :func:`empirical_ntk` / :func:`make_ntk_fn` compute the empirical NTK of any pure
  ``apply_fn(params, x) -> (batch, n_out)``, laid out sample-major as an
  ``(N1 * n_out, N2 * n_out)`` matrix; :func:`jacobian` gives ``J`` with ``K = J J^T``.
* :func:`infinite_width_kernels` gives the closed-form NNGP and NTK (ReLU, erf) that
  neural-tangents' ``stax`` computes.
"""

from typicality_ntk.ntk._analytic import ANALYTIC_ACTIVATIONS, infinite_width_kernels
from typicality_ntk.ntk._empirical import (
    NtkImplementation,
    empirical_ntk,
    jacobian,
    make_ntk_fn,
    select_implementation,
)
from typicality_ntk.ntk._mlp import ACTIVATIONS, PARAMETERIZATIONS, MLPSpec, make_mlp, n_params

__all__ = [
    "ACTIVATIONS",
    "ANALYTIC_ACTIVATIONS",
    "PARAMETERIZATIONS",
    "MLPSpec",
    "NtkImplementation",
    "empirical_ntk",
    "infinite_width_kernels",
    "jacobian",
    "make_mlp",
    "make_ntk_fn",
    "n_params",
    "select_implementation",
]
