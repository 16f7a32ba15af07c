"""The interactive plane: a plotly 3D surface with its contours projected underneath.

z is the chosen metric over the plane coordinates (x, y), clipped at ``vmax`` (the
hover still shows the true values of every metric); NaN is a hole. The trajectory
and the marked checkpoints sit on the surface (their z bilinearly interpolated from
the grid). A dropdown switches between the metrics, each on a log or a linear
scale; on a log scale the surface shows log10 of the value and the colour bar is
labelled in the values themselves. The camera is the first of a few candidate eyes from which every marker
(anchors, the trajectory's ends, marked points) is in sight on the surface shown first (:func:`choose_eye`),
the old fixed view (-1.5, -1.6, 1.1) first.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np

from landscape.plot._common import clean_plotly
from landscape.plot.plane import default_vmax, off_plane_label
from landscape.results.read import PlaneData
from landscape.plot.style import Metric, available_metrics, loss_name_of, series_styles, title_of
from swa.errors import UserError

__all__ = ["plane_page", "surface_values", "on_surface", "hidden_markers", "choose_eye", "candidate_eyes",
           "DEFAULT_EYE"]

SYMBOLS_3D = {"o": "circle", "*": "diamond", "D": "square", "s": "cross"}
DEFAULT_EYE = (-1.5, -1.6, 1.1)
AUTORANGE_PAD = 1 / 32  # plotly pads an autoranged 3D axis by 1/32 of its data range on each side


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


def candidate_eyes(first: Sequence[float] = DEFAULT_EYE, azimuths: int = 8,
                   elevations: Sequence[float] = (50.0, 70.0)) -> list[tuple[float, float, float]]:
    """Camera eyes to try, in order of preference: ``first``, then at its distance d from the center the
    azimuths φ₀ + k·360°/``azimuths`` (k = ±1, ±2, …: nearest to ``first``'s azimuth φ₀ first) at its
    elevation, then the same azimuths at each of ``elevations`` (degrees above the x–y plane):
    (d cos θ cos φ, d cos θ sin φ, d sin θ). A higher eye looks down on the surface, so it sees over ridges."""
    x, y, z = (float(c) for c in first)
    d, phi0 = float(np.sqrt(x * x + y * y + z * z)), float(np.arctan2(y, x))
    theta0 = float(np.arctan2(z, np.hypot(x, y)))
    order = [0] + [s * k for k in range(1, azimuths // 2 + 1) for s in (1, -1)][:azimuths - 1]
    out = []
    for theta in [theta0] + [np.radians(e) for e in elevations]:
        for k in order:
            phi = phi0 + 2 * np.pi * k / azimuths
            out.append((d * np.cos(theta) * np.cos(phi), d * np.cos(theta) * np.sin(phi), d * np.sin(theta)))
    out[0] = (x, y, z)
    return out


def _scene_box(alphas: np.ndarray, betas: np.ndarray, surface: np.ndarray, markers: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) of the autoranged scene axes: the data of the surface and the markers, padded as plotly pads."""
    zs = np.concatenate([surface[np.isfinite(surface)].ravel(), markers[:, 2]])
    lo = np.array([min(alphas.min(), markers[:, 0].min(initial=np.inf)),
                   min(betas.min(), markers[:, 1].min(initial=np.inf)), zs.min() if zs.size else 0.0])
    hi = np.array([max(alphas.max(), markers[:, 0].max(initial=-np.inf)),
                   max(betas.max(), markers[:, 1].max(initial=-np.inf)), zs.max() if zs.size else 1.0])
    span = np.where(hi > lo, hi - lo, 1.0)
    return lo - AUTORANGE_PAD * span, hi + AUTORANGE_PAD * span


def hidden_markers(eye: Sequence[float], markers: np.ndarray, alphas: np.ndarray, betas: np.ndarray,
                   surface: np.ndarray, aspect: Sequence[float], *, samples: int = 200,
                   near: float = 0.03, tol: float = 2e-3) -> np.ndarray:
    """Which ``markers`` the surface hides from the camera ``eye``: a bool per marker.

    Plotly draws the scene in scaled coordinates: each axis's autorange [lo, hi] (data of the surface and
    the markers, padded by 1/32) maps onto [−a/2, a/2] for its ``aspect`` ratio a, s = (v − mid)/(hi − lo)·a,
    and ``eye`` is a point of that space looking at its origin. A marker M is hidden when the straight segment
    from the eye E to it passes under the surface: some sample P = E + t·(M − E), t ∈ [0, 1), farther than
    ``near`` from M (the marker sits just above the surface, lifted by 1% of the z range), has a scaled height
    more than ``tol`` below the surface's, bilinearly interpolated at P's (x, y) inside the grid (a NaN hole
    and the outside of the grid hide nothing). Markers with a NaN coordinate (not drawn) count as visible.

    Args:
        eye: the camera eye (x, y, z) in scaled coordinates.
        markers: (n, 3) data coordinates (x, y, z as drawn).
        alphas, betas, surface: the grid and the drawn heights (nx, ny), ``surface[i, j]`` at (alphas[i], betas[j]).
        aspect: the scene's aspect ratio (x, y, z).
    """
    markers = np.asarray(markers, dtype=np.float64).reshape(-1, 3)
    surface = np.asarray(surface, dtype=np.float64)
    drawn = np.isfinite(markers).all(axis=1)
    lo, hi = _scene_box(alphas, betas, surface, markers[drawn])
    scale = np.asarray(aspect, dtype=np.float64) / (hi - lo)
    mid = (lo + hi) / 2
    E = np.asarray(eye, dtype=np.float64)
    hidden = np.zeros(len(markers), dtype=bool)
    t = np.linspace(0.0, 1.0, samples, endpoint=False)
    for n in np.flatnonzero(drawn):
        M = (markers[n] - mid) * scale
        P = E + t[:, None] * (M - E)
        far = np.linalg.norm(P - M, axis=1) > near
        data_xy = P[:, :2] / scale[:2] + mid[:2]
        under = on_surface(alphas, betas, surface, data_xy)
        height = (under - mid[2]) * scale[2]
        hidden[n] = bool(np.any(far & np.isfinite(height) & (P[:, 2] < height - tol)))
    return hidden


def choose_eye(markers: np.ndarray, alphas: np.ndarray, betas: np.ndarray, surface: np.ndarray,
               aspect: Sequence[float], candidates: Optional[Sequence[Sequence[float]]] = None
               ) -> tuple[tuple[float, float, float], int]:
    """The first of ``candidates`` (default :func:`candidate_eyes`) from which no marker is hidden
    (:func:`hidden_markers`), else the one that hides the fewest (the earliest of those); and how many it hides."""
    best, best_hidden = None, None
    for eye in candidates if candidates is not None else candidate_eyes():
        n = int(hidden_markers(eye, markers, alphas, betas, surface, aspect).sum())
        if best_hidden is None or n < best_hidden:
            best, best_hidden = tuple(float(c) for c in eye), n
        if n == 0:
            break
    return best, int(best_hidden or 0)


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


    chosen: list[Metric] = available_metrics(metrics or ["train_loss", "test_loss", "test_err"], data.values,
                                             loss_name_of(data.sidecar))
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
    aspect = (1.0, float(np.clip(np.ptp(data.betas) / max(np.ptp(data.alphas), 1e-12), 0.4, 2.5)), 0.7)
    placed = [np.column_stack([xy, z]) for (_, xy), z in zip(groups, zs[1:])]
    markers = np.concatenate([placed[0][[0, -1]] if len(placed[0]) else placed[0], *placed[1:]])  # trajectory: its ends
    eye, _ = choose_eye(markers, data.alphas, data.betas, shown, aspect)
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
               "camera": {"eye": dict(zip("xyz", eye))},
               "aspectratio": dict(zip("xyz", aspect))},
        updatemenus=[{"buttons": buttons, "active": active, "x": 0.0, "xanchor": "left", "y": 1.0,
                      "yanchor": "top", "showactive": True}],
        legend={"x": 0.0, "y": 0.02, "xanchor": "left", "yanchor": "bottom", "bgcolor": "rgba(255,255,255,0.7)"},
        margin={"l": 0, "r": 0, "t": 50, "b": 0}, template="plotly_white", height=700)
    return clean_plotly(fig)  # labels from files and users: no control or bidi characters
