"""The interactive plane: a plotly 3D surface with its contours projected underneath.

z is the chosen metric over the plane coordinates (x, y), clipped at ``vmax`` (the
hover still shows the true values of every metric); NaN is a hole. The trajectory
and the marked checkpoints sit on the surface (their z bilinearly interpolated from
the grid). A dropdown switches between the metrics, each on a log or a linear
scale; on a log scale the surface shows log10 of the value and the colour bar is
labelled in the values themselves.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np

from landscape.plot._common import clean_plotly
from landscape.plot.plane import default_vmax, off_plane_label
from landscape.plot.results import PlaneData
from landscape.plot.style import Metric, available_metrics, series_styles, title_of

__all__ = ["plane_page", "surface_values", "on_surface"]

SYMBOLS_3D = {"o": "circle", "*": "diamond", "D": "square", "s": "cross"}


def surface_values(z: np.ndarray, vmax: float, log: bool) -> np.ndarray:
    """What the surface draws: values clipped at ``vmax`` (+inf too), NaN/-inf as NaN, log10 if ``log``.

    On a log scale values ≤ 0 (a zero error) are raised to half the smallest positive value.
    """
    z = np.asarray(z, dtype=np.float64)
    out = np.where(np.isnan(z) | (z == -np.inf), np.nan, np.minimum(z, vmax))
    if log:
        positive = out[np.isfinite(out) & (out > 0)]
        floor = positive.min() / 2 if positive.size else 1e-12
        out = np.log10(np.where(np.isfinite(out), np.maximum(out, floor), np.nan))
    return out


def on_surface(alphas: np.ndarray, betas: np.ndarray, grid: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of ``grid`` (nx, ny) at the points ``xy`` (n, 2); NaN outside the grid."""
    from scipy.interpolate import RegularGridInterpolator

    if not len(xy):
        return np.zeros(0)
    f = RegularGridInterpolator((alphas, betas), grid, method="linear", bounds_error=False, fill_value=np.nan)
    return f(np.asarray(xy, dtype=np.float64).reshape(-1, 2))


def _colorbar(shown: np.ndarray, log: bool, label: str) -> dict:
    bar = {"title": {"text": label, "side": "right"}, "len": 0.75, "thickness": 14}
    finite = shown[np.isfinite(shown)]
    if log and finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        ticks = np.linspace(lo, hi, 6)
        bar.update(tickvals=ticks.tolist(), ticktext=[f"{10 ** t:.3g}" for t in ticks])
    return bar


def plane_page(data: PlaneData, *, metrics: Optional[Sequence[str]] = None,
               vmax: Optional[Mapping[str, float]] = None, log: bool = True):
    """The interactive plane of ``data`` (a ``plotly.graph_objects.Figure``).

    Args:
        metrics: the metrics offered in the dropdown (default: train loss, test loss, test error,
            those the result has); the first is shown first.
        vmax: per metric name, where the surface is clipped (default
            :func:`landscape.plot.plane.default_vmax`).
        log: start on the log scale.
    """
    import plotly.graph_objects as go

    from swa.errors import UserError

    chosen: list[Metric] = available_metrics(metrics or ["train_loss", "test_loss", "test_err"], data.values)
    if not chosen:
        raise UserError(f"{data.path} has none of {', '.join(metrics or [])} to draw")
    vmax = dict(vmax or {})
    raw = {m.name: np.where(data.done, m.of(data.values), np.nan) for m in chosen}
    # Hover: every offered metric's true value at the grid point, as (ny, nx, M).
    custom = np.stack([raw[m.name].T for m in chosen], axis=-1)
    hover = "x %{x:.3g}, y %{y:.3g}<br>" + "<br>".join(
        f"{m.label} %{{customdata[{k}]:.4g}}" for k, m in enumerate(chosen)) + "<extra></extra>"
    traj = [p for p in data.points if p.kind == "trajectory"]
    others = [p for p in data.points if p.kind != "trajectory"]
    styles = series_styles([p.label for p in others])
    groups = [("trajectory", np.array([[p.x, p.y] for p in traj]).reshape(-1, 2)),
              ("anchors", np.asarray(data.anchors).reshape(-1, 2))]
    groups += [(p.label, np.array([[p.x, p.y]])) for p in others]

    def views(m: Metric, use_log: bool):
        finite = raw[m.name][np.isfinite(raw[m.name])]
        top = vmax.get(m.name, default_vmax(raw[m.name]) if finite.size else 1.0)
        shown = surface_values(raw[m.name], top, use_log)
        lift = 0.01 * (np.nanmax(shown) - np.nanmin(shown)) if np.isfinite(shown).any() else 0.0
        zs = [shown.T] + [on_surface(data.alphas, data.betas, shown, xy) + lift for _, xy in groups]
        title = f"log10 {m.label}" if use_log else m.label
        return zs, shown, title

    zs, shown, ztitle = views(chosen[0], log)
    fig = go.Figure()
    fig.add_trace(go.Surface(
        x=data.alphas, y=data.betas, z=zs[0], customdata=custom, hovertemplate=hover, colorscale="Viridis",
        colorbar=_colorbar(shown, log, chosen[0].label), name=chosen[0].label,
        contours={"z": {"show": True, "usecolormap": True, "project": {"z": True}, "width": 1}}))
    fig.add_trace(go.Scatter3d(x=groups[0][1][:, 0], y=groups[0][1][:, 1], z=zs[1], mode="lines+markers",
                               name="trajectory", line={"color": "#222222", "width": 4},
                               marker={"size": 2.5, "color": "#222222"}, hoverinfo="name"))
    fig.add_trace(go.Scatter3d(x=groups[1][1][:, 0], y=groups[1][1][:, 1], z=zs[2], mode="markers+text",
                               name=data.anchor_kind, text=list(data.anchor_labels), textposition="top center",
                               marker={"size": 4, "color": "black"}, hovertemplate="%{text}<extra></extra>"))
    for p, z, st in zip(others, zs[3:], styles):  # groups[2:] are the others, in order
        fig.add_trace(go.Scatter3d(
            x=[p.x], y=[p.y], z=z, mode="markers", name=off_plane_label(p, data),
            marker={"size": 6, "color": st.color, "symbol": SYMBOLS_3D.get(st.marker, "circle"),
                    "line": {"color": "white", "width": 1}}, hovertemplate=f"{p.label}<extra></extra>"))
    buttons = []
    for m in chosen:
        for use_log in (True, False):
            zs_m, shown_m, title_m = views(m, use_log)
            buttons.append({
                "label": f"{m.label} · {'log' if use_log else 'linear'}", "method": "update",
                "args": [{"z": zs_m, "colorbar": [_colorbar(shown_m, use_log, m.label)] + [None] * (len(zs_m) - 1)},
                         {"scene.zaxis.title.text": title_m}]})
    active = 0 if log else 1
    title = title_of(data.sidecar)
    fig.update_layout(
        title={"text": "Loss landscape on the plane" + (f" — {title}" if title else ""), "x": 0.5},
        scene={"xaxis": {"title": {"text": data.x_label}}, "yaxis": {"title": {"text": data.y_label}},
               "zaxis": {"title": {"text": ztitle}}, "aspectmode": "manual",
               "camera": {"eye": {"x": -1.5, "y": -1.6, "z": 1.1}},
               "aspectratio": {"x": 1.0, "y": float(np.clip(np.ptp(data.betas) / max(np.ptp(data.alphas), 1e-12),
                                                          0.4, 2.5)), "z": 0.7}},
        updatemenus=[{"buttons": buttons, "active": active, "x": 0.0, "xanchor": "left", "y": 1.0,
                      "yanchor": "top", "showactive": True}],
        legend={"x": 0.0, "y": 0.02, "xanchor": "left", "yanchor": "bottom", "bgcolor": "rgba(255,255,255,0.7)"},
        margin={"l": 0, "r": 0, "t": 50, "b": 0}, template="plotly_white", height=700)
    return clean_plotly(fig)  # labels from files and users: no control or bidi characters
