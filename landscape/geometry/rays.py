"""The width of a basin along rays, from the loss sampled on each (Izmailov et al. 2018, Fig. 4).

    width = min { s : L(w + s·d) > L(w) + δ },

refined by linear interpolation between the two bracketing steps; a ray that stays below the threshold up to
the last distance is censored (width = inf). The one implementation, used by ``rays`` (batched through the
engine) and by the ``ray_width`` sharpness measure; so are the ray points both evaluate, :func:`ray_family`:
the distances s = linspace(0, max_distance, steps) (:func:`ray_distances`) and the K·S points w + s_i·d_j.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from landscape.engine.evaluator import AffineFamily

__all__ = ["ray_distances", "ray_family", "ray_width", "width_summary"]


def ray_distances(max_distance: float, steps: int) -> np.ndarray:
    """The distances along every ray: s = linspace(0, ``max_distance``, ``steps``), float64, s_0 = 0."""
    return np.linspace(0.0, max_distance, steps)


def ray_family(base: torch.Tensor, directions: torch.Tensor, distances: np.ndarray,
               buffer_base: Optional[torch.Tensor] = None,
               frozen: Optional[dict[str, torch.Tensor]] = None) -> AffineFamily:
    """The K·S points w + s_i·d_j of the rays ``directions`` (K, P) from ``base`` w (P,) at ``distances`` (S,),
    as an :class:`~landscape.engine.evaluator.AffineFamily`: row j·S + i holds the coordinates s_i·e_j, so that
    the points are built on the device a chunk at a time (one fused multiply-add per element,
    :meth:`AffineFamily.weights`). ``buffer_base`` (B,): every point's buffers (none by default); ``frozen``:
    the parameters outside the space."""
    k, steps = directions.shape[0], len(distances)
    coords = np.zeros((k, steps, k))
    for j in range(k):
        coords[j, :, j] = distances
    buffers = base.new_zeros(0) if buffer_base is None else buffer_base
    return AffineFamily(base, directions, coords.reshape(-1, k), buffers, None, dict(frozen or {}))


def ray_width(distances: np.ndarray, losses: np.ndarray, delta: float) -> np.ndarray:
    """Width along each ray: first distance where ``losses > losses[..., 0] + delta`` (linearly interpolated).

    Args:
        distances: (S,) increasing, ``distances[0] == 0``.
        losses: (..., S) loss along each ray; NaN/inf count as above the threshold.
        delta: the rise δ > 0.

    Returns:
        (...,) widths; ``inf`` where the threshold is never crossed.
    """
    losses = np.asarray(losses, dtype=np.float64)
    threshold = losses[..., :1] + delta
    above = ~(losses <= threshold)  # NaN and inf are above
    above[..., 0] = False
    out = np.full(losses.shape[:-1], np.inf)
    for idx in np.ndindex(*losses.shape[:-1]):
        hits = np.flatnonzero(above[idx])
        if not len(hits):
            continue
        s = hits[0]
        lo, hi = losses[idx][s - 1], losses[idx][s]
        thr = threshold[idx][0]
        if np.isfinite(hi) and hi > lo:
            frac = (thr - lo) / (hi - lo)
            out[idx] = distances[s - 1] + frac * (distances[s] - distances[s - 1])
        else:
            out[idx] = distances[s]
    return out


def width_summary(widths: np.ndarray) -> dict:
    """Mean and standard deviation (ddof=1) over the uncensored rays, and how many were censored."""
    finite = widths[np.isfinite(widths)]
    return {"mean": float(finite.mean()) if len(finite) else None,
            "std": float(finite.std(ddof=1)) if len(finite) > 1 else None,
            "censored": int((~np.isfinite(widths)).sum()), "rays": int(widths.size)}
