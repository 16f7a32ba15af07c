"""Width of the basin along random unit rays (Izmailov et al. 2018)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np
import torch

from landscape.engine.evaluator import AffineFamily
from landscape.geometry.rays import ray_distances, ray_family, ray_width, width_summary
from landscape.curvature.measures._common import _SEED_MAX, _check_obj, _generator, _int, _real, _Result, _setting
from landscape.geometry.directions import random_directions

__all__ = ["RayWidth", "ray_width_metric"]


@dataclass(frozen=True)
class RayWidth(_Result):
    """Mean ± std (ddof=1) over the uncensored rays of the width; ``widths`` holds every ray (inf: censored)."""

    measure: ClassVar[str] = "ray_width"
    uncertainty_kind: ClassVar[str] = "standard deviation over the uncensored rays (ddof=1)"
    value: Optional[float]  #: None when every ray is censored
    std: Optional[float]
    censored: int
    widths: tuple[float, ...]
    loss: float
    directions: int = _setting()
    max_distance: float = _setting()
    steps: int = _setting()
    delta: float = _setting()
    seed: int = _setting()

    @property
    def uncertainty(self) -> Optional[float]:
        return self.std


def _unit_directions(obj, k: int, seed: int) -> torch.Tensor:
    if hasattr(obj, "space"):
        d = random_directions(obj.space, obj.point.detach().float().cpu(), k, normalization="unit", seed=seed)
        d = d.to(obj.dtype)
    else:
        d = torch.randn(k, obj.num_params, generator=_generator(seed), dtype=obj.dtype)
    return (d / d.norm(dim=1, keepdim=True)).to(obj.device)


def _losses(obj, family: AffineFamily, rows: np.ndarray) -> np.ndarray:
    """L at the family's points ``rows``: ``obj.values`` (a model objective: through the engine's session), else
    ``obj.value`` point by point (an objective with no ``values``, e.g. an analytic one)."""
    if hasattr(obj, "values"):
        return obj.values(family, rows)
    with torch.no_grad():
        params, _ = family.weights(rows)
    return np.array([obj.value(p) for p in params], dtype=np.float64)


def ray_width_metric(obj, directions: int = 10, max_distance: float = 20.0, steps: int = 21, delta: float = 0.1,
                     seed: int = 0) -> RayWidth:
    """Width of the basin along random unit rays (Izmailov et al. 2018, "Averaging Weights Leads to Wider
    Optima and Better Generalization", Fig. 4):

        width(d) = min { s : L(w + s d) > L(w) + δ },   ‖d‖₂ = 1,

    on the grid s ∈ linspace(0, max_distance, steps) (the points of :func:`landscape.geometry.rays.ray_family`,
    as the ``rays`` computation's, evaluated in one call of ``obj.values`` where the objective has it),
    linearly interpolated between the bracketing steps (:func:`landscape.geometry.rays.ray_width`); rays
    that never cross are censored. Summary
    (:func:`landscape.geometry.rays.width_summary`): mean ± std (ddof=1) over the uncensored rays. Directions
    are :func:`landscape.geometry.directions.random_directions` (``normalization="unit"``) when ``obj`` has a
    ``space``, else seeded Gaussians; both are renormalized to unit norm in ``obj.dtype``. Near a
    minimum with Hessian H, width(d) ≈ √(2δ / dᵀ H d).

    .. note:: Euclidean distance is not reparameterization-invariant (Dinh et al. 2017).

    Args:
        obj: the objective.
        directions: number of rays K, >= 1. Default ``10``.
        max_distance: > 0. Default ``20.0``.
        steps: grid points S, >= 2. Default ``21``.
        delta: the rise δ > 0. Default ``0.1``.
        seed: an int in [0, 2**63). Default ``0``.

    Returns:
        :class:`RayWidth` (K·S loss evaluations).

    Raises:
        ValueError: an argument out of range. TypeError: an argument of the wrong type.
    """
    _check_obj(obj)
    directions = _int("directions", directions, 1)
    max_distance = _real("max_distance", max_distance)
    steps = _int("steps", steps, 2)
    delta = _real("delta", delta)
    seed = _int("seed", seed, 0, _SEED_MAX)
    w = obj.point.detach()
    f0 = obj.value(w)
    dirs = _unit_directions(obj, directions, seed)
    distances = ray_distances(max_distance, steps)
    family = ray_family(w, dirs, distances)
    losses = np.empty((directions, steps))
    losses[:, 0] = f0  # s = 0 is the point itself
    rows = np.arange(directions * steps).reshape(directions, steps)[:, 1:]
    losses[:, 1:] = _losses(obj, family, rows.ravel()).reshape(directions, steps - 1)
    widths = ray_width(distances, losses, delta)
    summary = width_summary(widths)
    return RayWidth(value=summary["mean"], std=summary["std"], censored=summary["censored"],
                    widths=tuple(float(v) for v in widths), loss=f0, directions=directions,
                    max_distance=max_distance, steps=steps, delta=delta, seed=seed)
