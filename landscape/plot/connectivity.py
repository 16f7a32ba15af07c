"""The mode-connectivity figure (Garipov et al. 2018, Fig. 2): a trained curve against the straight line.

Two panels against t: the training loss and the test error (%; the test loss without accuracy) along the
curve (solid) and along the straight
line between the same ends (dashed, grey), the ends marked and labelled at t = 0 and t = 1. The legend gives
each path's barrier, max over t of f(t) − [(1 − t)·f(0) + t·f(1)] (``landscape.compute.curve.barrier``).
Points not yet computed are gaps, and a note says how many.
"""

from __future__ import annotations

import numpy as np

from landscape.plot._common import finish_labels, legend_below, panel_note
from landscape.plot.style import OTHER_COLORS, new_figure, style_context, title_of
from landscape.results.read import CurveData

__all__ = ["connectivity_figure", "CURVE_COLOR", "LINE_COLOR"]

CURVE_COLOR = OTHER_COLORS[0]  # orange: the trained path
LINE_COLOR = OTHER_COLORS[3]   # grey: the straight segment it is compared with
_PANELS = (("train_loss", "training loss"), ("test_acc", "test error (%)"), ("test_loss", "test loss"))


def _values(data: CurveData, key: str, row: int) -> np.ndarray:
    values = np.where(data.done[row], data.values[key][row], np.nan).astype(np.float64)
    return 100.0 - 100.0 * values if key.endswith("_acc") else values


def _legend(data: CurveData, path: str, kind: str, bends) -> str:
    """The path's name and its barriers: "Bezier curve (3 bends): barrier 0.012 in loss, 0.4 points in error"."""
    name = f"{kind}{f' ({bends} bends)' if bends else ''}" if path == "curve" else "straight line"
    b = data.barriers.get(path, {})
    parts = [f"{b['train_loss']:.3g} in training loss" if b.get("train_loss") is not None else "",
             f"{b['test_err']:.3g} points in test error" if b.get("test_err") is not None
             else f"{b['test_loss']:.3g} in test loss" if b.get("test_loss") is not None else ""]
    parts = [p for p in parts if p]
    return f"{name}: barrier {', '.join(parts)}" if parts else name


def connectivity_figure(data: CurveData, *, width: str = "double", math_labels: bool = False):
    """The figure of one ``curve.npz`` (see the module docstring)."""
    kind = {"bezier": "Bezier curve", "polychain": "polygonal chain"}.get(data.kind, data.kind)
    bends = data.sidecar.get("num_bends")
    with style_context():
        fig = new_figure(width, 2.6)
        axes = fig.subplots(1, 2, sharex=True)
        handles, labels = [], []
        right = _PANELS[1] if np.isfinite(data.values["test_acc"]).any() else _PANELS[2]  # regression: test loss
        for ax, (key, ylabel) in zip(axes, (_PANELS[0], right)):
            if not np.isfinite(data.values[key]).any():
                ax.set_axis_off()
                ax.text(0.5, 0.5, "no test data", transform=ax.transAxes, ha="center", va="center")
                continue
            for row, (path, color, style) in enumerate((("curve", CURVE_COLOR, "-"), ("line", LINE_COLOR, "--"))):
                (h,) = ax.plot(data.ts, _values(data, key, row), style, color=color)
                if ax is axes[0]:
                    handles.append(h)
                    labels.append(_legend(data, path, kind, bends))
            ends = _values(data, key, 0)[[0, -1]]
            ax.plot([data.ts[0], data.ts[-1]], ends, "o", color="black", markersize=4, zorder=5)
            for x, y_end, text, ha in ((data.ts[0], ends[0], data.labels[0], "left"),
                                       (data.ts[-1], ends[1], data.labels[1], "right")):
                if np.isfinite(y_end):
                    ax.annotate(text, xy=(x, y_end), xytext=(0, -10), textcoords="offset points", ha=ha,
                                va="top", fontsize=6)
            ax.set_xlabel("t  (position along the path)")
            ax.set_ylabel(ylabel)
            ax.set_xlim(data.ts[0], data.ts[-1])
            ax.margins(y=0.18)
            missing = int((~data.done).sum())
            panel_note(ax, [f"{missing} points not computed yet" if missing else ""])
        legend_below(fig, handles, labels, ncols=1)
        title = title_of(data.sidecar)
        if title:
            fig.suptitle(title, fontsize=8)
    return finish_labels(fig, math_labels)
