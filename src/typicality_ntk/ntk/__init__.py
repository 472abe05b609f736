"""Neural tangent kernels: finite-width (empirical, paper Eq. 3) and infinite-width (analytic).

* :func:`make_mlp` builds a fully connected network in NTK or standard parameterisation as a pure
  ``(init_fn, apply_fn)`` pair (flax linen).
* :func:`empirical_ntk` / :func:`make_ntk_fn` compute the empirical NTK of any pure
  ``apply_fn(params, x) -> (batch, n_out)``, laid out sample-major as an
  ``(N1 * n_out, N2 * n_out)`` matrix; :func:`jacobian` gives ``J`` with ``K = J J^T``. Three
  implementations (:class:`NtkImplementation`): Jacobian contraction, NTK-vector products, and
  ``structured``, which never forms a Jacobian: per dense layer ``z = c h W + s b`` it sums
  ``(c^2 h.h' + s^2) (g.g')`` over Grams of layer inputs ``h`` and output cotangents
  ``g = df/dz`` (flax ``nn.Dense`` / :func:`make_mlp` layers and
  ``functools.partial(MaskedMLP.apply, width=...)``; :class:`StructureError` otherwise).
  ``auto`` takes it whenever it applies, else the measured cost model of
  :func:`select_implementation`.
* :func:`infinite_width_kernels` gives the closed-form NNGP and NTK (ReLU, erf) that
  neural-tangents' ``stax`` computes.
* neural-tangents' empirical API, :func:`empirical_ntk_fn`, :func:`empirical_nngp_fn`,
  :func:`empirical_kernel_fn`, :func:`linearize`, :func:`taylor_expand` and
  :mod:`~typicality_ntk.ntk.predict` (``gradient_descent_mse``), with nt's signatures and layout,
  so ``from typicality_ntk import ntk as nt`` runs an nt script (on :func:`make_ntk_fn`).
"""

from typicality_ntk.ntk import predict  # nt.predict works after the import change
from typicality_ntk.ntk._analytic import ANALYTIC_ACTIVATIONS, infinite_width_kernels
from typicality_ntk.ntk._empirical import (
    NtkImplementation,
    empirical_ntk,
    jacobian,
    make_ntk_fn,
    select_implementation,
)
from typicality_ntk.ntk._mlp import ACTIVATIONS, PARAMETERIZATIONS, MLPSpec, make_mlp, n_params
from typicality_ntk.ntk._nt_api import (
    empirical_kernel_fn,
    empirical_nngp_fn,
    empirical_ntk_fn,
    linearize,
    taylor_expand,
)
from typicality_ntk.ntk._structured import StructureError

__all__ = [
    "ACTIVATIONS",
    "ANALYTIC_ACTIVATIONS",
    "PARAMETERIZATIONS",
    "MLPSpec",
    "NtkImplementation",
    "StructureError",
    "empirical_kernel_fn",
    "empirical_nngp_fn",
    "empirical_ntk",
    "empirical_ntk_fn",
    "infinite_width_kernels",
    "jacobian",
    "linearize",
    "make_mlp",
    "make_ntk_fn",
    "n_params",
    "predict",
    "select_implementation",
    "taylor_expand",
]
