"""The plane figure (Izmailov et al. 2018, Fig. 1 and 3; Garipov et al. 2018's ``plane_plot.py`` style).

One panel per metric (train loss and test error by default; train and test loss
for regression): filled contours and contour lines over the plane coordinates (x, y)
in weight-space distance, equal aspect (a plane far from square is stretched to a readable
panel, and its v̂ axis label says by how much). Levels are spaced logarithmically above the
minimum,

    levels_k = v_min + (v_max − v_min) · r^((n−1−k)/(n−2)),  k = 1 … n−1,

with r = LOG_FLOOR[kind] (so they crowd near the minimum, where the basin is; less so
for errors, which move in steps of one test sample) or linearly with ``log=False``;
values above ``vmax`` (and +inf) fill one more band whose colour-bar tick reads
"> vmax"; NaN is left blank. The anchors are marked and labelled, the trajectory is a
polyline through its projected points in order, and other projected checkpoints
(SGD final, SWA, PSWA) have their method's marker; a point far from the plane says
how far.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np

from landscape.plot._common import finish_labels, legend_below, panel_note, plural
from landscape.results.read import Marked, PlaneData
from landscape.plot.style import CMAP, Metric, choose_metrics, halo, loss_name_of, new_figure, series_styles, \
    style_context, title_of

__all__ = ["plane_figure", "plane_levels", "default_vmax", "off_plane_label", "N_LEVELS", "LOG_FLOOR",
           "FAR_FROM_PLANE"]

N_LEVELS = 9
# The lowest level above the minimum, as a fraction of (vmax − vmin), per metric kind.
LOG_FLOOR = {"loss": 3e-3, "error": 5e-2, "extra": 5e-2}
FAR_FROM_PLANE = 0.05   # a projected point farther than this fraction of the plot's extent is annotated


def default_vmax(values: np.ndarray) -> float:
    """``min(max, 10 × median)`` of the finite values (median ≤ 0: the maximum).

    Keeps a diverged corner from flattening the colour scale of the basin.
    """
    finite = values[np.isfinite(values)]
    hi, med = float(finite.max()), float(np.median(finite))
    return min(hi, 10.0 * med) if med > 0 else hi


def plane_levels(values: np.ndarray, vmax: Optional[float] = None, log: bool = True,
                 n: int = N_LEVELS, floor: float = LOG_FLOOR["loss"]) -> np.ndarray:
    """``n`` increasing contour levels from the smallest finite value to ``vmax``.

    Args:
        values: the grid (non-finite entries ignored; at least one must be finite).
        vmax: the top level (default :func:`default_vmax`); below the minimum it is raised to it.
        log: levels spaced logarithmically above the minimum (see the module docstring), else linearly.
        n: number of levels.
        floor: with ``log``, the lowest level above the minimum as a fraction of the range.
    """
    finite = values[np.isfinite(values)]
    vmin = float(finite.min())
    top = default_vmax(values) if vmax is None else float(vmax)
    if not top > vmin:  # a flat grid, or vmax at or below the minimum
        top = vmin + max(abs(vmin) * 1e-3, 1e-9)
    if not log:
        return np.linspace(vmin, top, n)
    offsets = (top - vmin) * floor ** (np.arange(n - 2, -1, -1) / (n - 2))
    return np.concatenate([[vmin], vmin + offsets])


def _panel(fig, ax, data: PlaneData, m: Metric, vmax: Optional[float], log: bool) -> None:
    from matplotlib.colors import BoundaryNorm

    import matplotlib

    z = np.where(data.done, m.of(data.values), np.nan)
    ax.set_title(m.label)
    finite = np.isfinite(z)
    if not finite.any():
        panel_note(ax, [f"no finite {m.label} on this plane"])
        return
    levels = plane_levels(z, vmax, log and m.log, floor=LOG_FLOOR[m.kind])  # accuracies: linear
    top = levels[-1]
    over = (z > top) & ~np.isnan(z)  # includes +inf
    blank = ~finite & ~over          # NaN, -inf, not computed
    bounds = levels
    shown = z.copy()
    if over.any():
        bounds = np.append(levels, top + (levels[-1] - levels[-2]))
        shown[over] = 0.5 * (bounds[-2] + bounds[-1])
    cmap = matplotlib.colormaps[CMAP]
    norm = BoundaryNorm(bounds, cmap.N)
    masked = np.ma.masked_invalid(shown).T  # contour wants (ny, nx)
    cs = ax.contourf(data.alphas, data.betas, masked, levels=bounds, cmap=cmap, norm=norm, zorder=0)
    ax.contour(data.alphas, data.betas, masked, levels=levels[1:], colors="white", linewidths=0.4, alpha=0.7,
               zorder=1)
    ticks = list(levels)
    labels = [f"{v:.3g}" for v in levels]
    if over.any():
        ticks.append(0.5 * (bounds[-2] + bounds[-1]))
        labels.append(f"> {top:.3g}")
    cb = fig.colorbar(cs, ax=ax, ticks=ticks, shrink=0.95, pad=0.02, aspect=25)
    cb.ax.set_yticklabels(labels)
    cb.ax.tick_params(labelsize=6, length=2)
    cb.outline.set_linewidth(0.4)
    notes = []
    n_blank_computed = int((blank & data.done).sum())
    if n_blank_computed:
        notes.append(f"{plural(n_blank_computed, 'point')} non-finite (blank)")
    if (~data.done).any():
        notes.append(f"{int(data.done.sum())} of {data.done.size} points computed")
    if isinstance(data.sidecar.get("note"), str):  # what the computation says about the plane (a curve in it)
        notes.append(data.sidecar["note"])
    if over.any():
        notes.append(f"{int(over.sum())} > {top:.3g} ({int(np.isposinf(z).sum())} inf)" if np.isposinf(z).any()
                     else f"{int(over.sum())} > {top:.3g}")
    panel_note(ax, notes)


def off_plane_label(p: Marked, data: PlaneData) -> str:
    """``p.label``, with its distance from the plane added when that exceeds ``FAR_FROM_PLANE`` of the extent."""
    extent = max(np.ptp(data.alphas), np.ptp(data.betas), 1e-12)
    return p.label + (f" ({p.distance:.2g} off plane)" if p.distance > FAR_FROM_PLANE * extent else "")


def _markers(ax, data: PlaneData, handles: dict) -> None:
    from matplotlib.lines import Line2D

    traj = [p for p in data.points if p.kind == "trajectory"]
    if traj:
        ax.plot([p.x for p in traj], [p.y for p in traj], color="0.1", lw=0.8, marker=".", ms=3, zorder=3)
        handles.setdefault("trajectory", Line2D([], [], color="0.1", lw=0.8, marker=".", ms=3))
    for (x, y), label in zip(data.anchors, data.anchor_labels):
        ax.scatter([x], [y], s=22, c="black", edgecolors="white", linewidths=0.6, zorder=5)
        ax.annotate(label, (x, y), xytext=(4, 4), textcoords="offset points", fontsize=6.5, zorder=6,
                    path_effects=halo())
    if len(data.anchors):
        handles.setdefault(data.anchor_kind, Line2D([], [], ls="", marker="o", ms=4.5, color="black", mec="white",
                                                    mew=0.6))
    others = [p for p in data.points if p.kind != "trajectory"]
    for p, st in zip(others, series_styles([p.label for p in others])):
        size = 90 if st.marker == "*" else 36
        ax.scatter([p.x], [p.y], s=size, marker=st.marker, c=st.color, edgecolors="white", linewidths=0.7,
                   zorder=7)
        label = off_plane_label(p, data)
        if label != p.label:
            ax.annotate(f"{p.distance:.2g} off", (p.x, p.y), xytext=(5, -9), textcoords="offset points",
                        fontsize=6, color=st.color, zorder=8, path_effects=halo())
        handles.setdefault(label, Line2D([], [], ls="", marker=st.marker, ms=8 if st.marker == "*" else 5.5,
                                         color=st.color, mec="white", mew=0.7))


def plane_figure(data: PlaneData, *, metrics: Optional[Sequence[str]] = None,
                 vmax: Optional[Mapping[str, float]] = None, log: bool = True, width: str = "double",
                 math_labels: bool = False):
    """The plane figure of ``data`` (a :class:`~matplotlib.figure.Figure`, not yet saved).

    Args:
        data: a plane result (:func:`landscape.results.read.read_plane`).
        metrics: metric names, one panel each (default: train loss and test error; train and test
            loss for regression).
        vmax: per metric name, the value above which the colour saturates (default :func:`default_vmax`).
        log: log-spaced contour levels (else linear).
        width: ``double`` (7 in, panels side by side) or ``single`` (3.3 in, panels stacked).
        math_labels: draw ``$...$`` in labels as mathtext (default: every label is plain text).
    """
    chosen = choose_metrics(metrics, data.values, loss_name=loss_name_of(data.sidecar))
    vmax = dict(vmax or {})
    true_ratio = float(np.ptp(data.betas) / max(np.ptp(data.alphas), 1e-12))
    ratio = float(np.clip(true_ratio, 0.35, 2.2))
    # A plane far from square (nearly collinear anchors) would be a thin strip at equal aspect:
    # it fills a clipped panel instead, and the v̂ label says by how much that axis is stretched.
    stretch = ratio / true_ratio if true_ratio > 0 else 1.0
    n = len(chosen)
    with style_context():
        if width == "double":
            cols = min(n, 2)
            rows = -(-n // cols)
            panel_w = (7.0 - 1.5 * cols) / cols  # less the colour bar and the tick labels
            fig = new_figure(width, rows * (panel_w * ratio + 0.5) + 0.75)
        else:
            cols, rows = 1, n
            fig = new_figure(width, n * (1.9 * ratio + 0.5) + 0.85)
        axes = fig.subplots(rows, cols, squeeze=False).reshape(-1)
        handles: dict = {}
        for ax, m in zip(axes, chosen):
            _panel(fig, ax, data, m, vmax.get(m.name), log)
            _markers(ax, data, handles)
            ax.set_xlim(data.alphas[0], data.alphas[-1])
            ax.set_ylim(data.betas[0], data.betas[-1])
            if abs(stretch - 1.0) < 1e-9:
                ax.set_aspect("equal", adjustable="box")
                ax.set_ylabel(data.y_label)
            else:
                ax.set_box_aspect(ratio)
                ax.set_ylabel(f"{data.y_label} (×{stretch:.2g})")
            ax.set_xlabel(data.x_label)
        for ax in axes[n:]:
            ax.set_visible(False)
        title = title_of(data.sidecar)
        if title:
            fig.suptitle(title, fontsize=8)
        legend_below(fig, list(handles.values()), list(handles), ncols=min(len(handles), 4 if width == "double"
                                                                              else 2))
    return finish_labels(fig, math_labels)
