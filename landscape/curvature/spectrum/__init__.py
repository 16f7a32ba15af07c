"""Spectral estimators of a symmetric operator H (the Hessian): top eigenvalues, trace, spectral density.

Everything here is written against the operator interface of :mod:`landscape.curvature.hessian`
(``shape``, ``dtype``, ``device``, ``matvec`` on flat torch vectors, ``to_scipy``), never against
a model, so :class:`~landscape.curvature.hessian.HessianOperator` and
:class:`~landscape.curvature.hessian.DenseOperator` are interchangeable. Randomness comes from a CPU
``torch.Generator`` seeded with ``seed`` (the same draws on every device); results are small frozen
dataclasses whose ``to_json()`` holds plain JSON types (non-finite floats become ``null``).

* :func:`top_eigenvalues_lanczos` — implicitly restarted Lanczos (ARPACK ``eigsh``, which='LA'):
  the k largest algebraic eigenvalues, with residual norms ‖Hv − λv‖ as the uncertainty.
* :func:`top_eigenvalues_power` — power iteration with Hotelling deflation,
  H_j = H − Σ_{i<j} λ_i v_i v_iᵀ, as PyHessian does (Yao et al. 2020, "PyHessian: Neural Networks
  Through the Lens of the Hessian"): the k largest in *magnitude*.
* :func:`trace_hutchinson` — tr H ≈ (1/m) Σ_i z_iᵀ H z_i, z_i Rademacher (Hutchinson 1989);
  Var(zᵀHz) = 2(‖H‖_F² − Σ_i H_ii²).
* :func:`trace_hutchpp` — Hutch++ (Meyer, Musco, Musco, Woodruff 2021, "Hutch++: Optimal
  Stochastic Trace Estimation"): exact trace on a sketched top subspace plus Hutchinson on the rest.
* :func:`spectral_density_slq` — stochastic Lanczos quadrature (Lin, Saad, Yang 2016,
  "Approximating Spectral Densities of Large Matrices"; Ghorbani, Krishnan, Xiao 2019, "An
  Investigation into Neural Net Optimization via Hessian Eigenvalue Density"):
  φ(t) = (1/P) Σ_i δ(t − λ_i) ≈ (1/R) Σ_r Σ_j τ_rj δ(t − θ_rj), smoothed by a Gaussian.

.. note:: Raw Hessian eigenvalues, trace and density are not invariant to reparameterizations that
   leave the network function unchanged (Dinh et al. 2017, "Sharp Minima Can Generalize For Deep
   Nets"): compare them only between models of one architecture and parameterization.
"""

from landscape.curvature.spectrum._common import PROBES
from landscape.curvature.spectrum.density import spectral_density_slq
from landscape.curvature.spectrum.eigenvalues import top_eigenvalues_lanczos, top_eigenvalues_power
from landscape.curvature.spectrum.results import Eigenvalues, SpectralDensity, TraceEstimate
from landscape.curvature.spectrum.trace import trace_hutchinson, trace_hutchpp

__all__ = ["Eigenvalues", "TraceEstimate", "SpectralDensity", "PROBES", "top_eigenvalues_lanczos",
           "top_eigenvalues_power", "trace_hutchinson", "trace_hutchpp", "spectral_density_slq"]
