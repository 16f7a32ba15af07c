"""The width of a basin along rays, from the loss sampled on each (Izmailov et al. 2018, Fig. 4).

    width = min { s : L(w + s·d) > L(w) + δ },

refined by linear interpolation between the two bracketing steps; a ray that stays below the threshold up to
the last distance is censored (width = inf). The one implementation, used by ``rays`` (batched through the
engine) and by the ``ray_width`` sharpness measure.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ray_width", "width_summary"]


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
