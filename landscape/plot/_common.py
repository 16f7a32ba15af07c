"""Helpers the figure modules share: non-finite values, notes inside panels, legends, clipping of lines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

__all__ = ["Clipped", "clip_for_line", "panel_note", "legend_below", "plural"]


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@dataclass
class Clipped:
    """Values of a line made drawable: ``y`` with +inf (and values above ``top``) set to ``top``.

    Attributes:
        y: the values to draw; NaN and -inf stay NaN (gaps).
        over: where the value was clipped (drawn at ``top`` with a marker).
        missing: where the value is NaN, -inf or not computed (a gap).
    """

    y: np.ndarray
    over: np.ndarray
    missing: np.ndarray


def clip_for_line(values: np.ndarray, done: Optional[np.ndarray], top: float) -> Clipped:
    """Clip +inf and values above ``top`` to ``top``; NaN, -inf and points not computed become gaps."""
    v = np.asarray(values, dtype=np.float64)
    missing = np.isnan(v) | (v == -np.inf)
    if done is not None:
        missing |= ~np.asarray(done, dtype=bool)
    over = ~missing & (v > top)
    y = np.where(missing, np.nan, np.where(over, top, v))
    return Clipped(y=y, over=over, missing=missing)


def line_top(arrays: Sequence[np.ndarray], log: bool) -> Optional[float]:
    """Where a line panel's values are clipped: above the largest finite value (×3 on a log axis)."""
    finite = [a[np.isfinite(a)] for a in arrays]
    finite = [f for f in finite if f.size]
    if not finite:
        return None
    hi = max(float(f.max()) for f in finite)
    lo = min(float(f.min()) for f in finite)
    if log and hi > 0:
        return hi * 3.0
    return hi + 0.1 * max(hi - lo, abs(hi), 1e-12)


def panel_note(ax, lines: Sequence[str]) -> None:
    """Small text in the lower left of a panel (what was masked, clipped or not yet computed)."""
    lines = [line for line in lines if line]
    if lines:
        ax.text(0.02, 0.03, "\n".join(lines), transform=ax.transAxes, fontsize=6, va="bottom", ha="left",
                zorder=10, bbox=dict(boxstyle="round,pad=0.25", facecolor="white", edgecolor="0.7", alpha=0.85,
                                     linewidth=0.5))


def legend_below(fig, handles, labels, ncols: Optional[int] = None) -> None:
    """One legend for the whole figure, under the panels."""
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=ncols or min(len(handles), 4),
                   handlelength=1.8, columnspacing=1.2)
