"""Flatness measures of the training loss around a point, written against the objective interface.

Every measure takes an objective ``obj`` with ``value(w)``, ``value_and_grad(w)`` (flat torch
vectors), ``point``, ``num_params``, ``dtype`` and ``device`` (:class:`landscape.curvature.objective.ModelObjective`
or any closed-form stand-in) and returns a small frozen dataclass: ``value``, its uncertainty (a
Monte Carlo standard error, a bisection bracket, or ``lower_bound = True`` where the value is the
best point a local optimizer found), the settings, and ``to_json()`` (plain JSON types; non-finite
numbers become ``None``).

=============================  ======================================================================
:func:`eps_sharpness`          Keskar et al. 2017: max over a box of the relative loss rise, in %
:func:`adaptive_sharpness_average`  E_δ[L(w + δ)] − L(w), δ ~ N(0, ρ² diag(c²))
:func:`adaptive_sharpness_worst`    max_{‖δ/c‖_p ≤ ρ} L(w + δ) − L(w) (projected gradient ascent)
:func:`pac_bayes_sigma`        Jiang et al. 2019: largest σ with E_u[L(w + u)] − L(w) ≤ target
:func:`ray_width_metric`       Izmailov et al. 2018: distance along random unit rays to a rise of δ
=============================  ======================================================================

.. note::
   Reparameterization (Dinh et al. 2017, "Sharp Minima Can Generalize For Deep Nets"): for a ReLU
   network, multiplying one layer by α > 0 and the next by 1/α leaves the function, and the loss,
   unchanged but changes any measure taken on the raw parameter scale — ε-sharpness (whose box is
   only partly scaled by |x_i| + 1), the non-adaptive average/worst-case sharpness, the non-magnitude-
   aware PAC-Bayes σ and the Euclidean ray width. The adaptive measures (c = |w|, Kwon et al. 2021;
   Andriushchenko et al. 2023) and the magnitude-aware σ' are invariant to such elementwise rescaling
   and are the scale-aware choice for comparing different solutions.

Randomness is drawn on the CPU from ``torch.Generator`` seeded with ``seed``, so the same seed gives
the same result on every device; Monte Carlo draws are regenerated from the seed when reused instead
of being stored (memory stays O(P)).
"""

from landscape.curvature.measures.adaptive import (AverageSharpness, WorstCaseSharpness, adaptive_sharpness_average,
                                          adaptive_sharpness_worst)
from landscape.curvature.measures.keskar import EpsSharpness, eps_sharpness, subspace_basis
from landscape.curvature.measures.pac_bayes import PacBayesSigma, pac_bayes_sigma
from landscape.curvature.measures.rays import RayWidth, ray_width_metric

__all__ = ["EpsSharpness", "AverageSharpness", "WorstCaseSharpness", "PacBayesSigma", "RayWidth",
           "eps_sharpness", "adaptive_sharpness_average", "adaptive_sharpness_worst", "pac_bayes_sigma",
           "ray_width_metric", "subspace_basis"]
