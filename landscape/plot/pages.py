"""Interactive 2D pages (plotly): the line through two checkpoints and the rays from points.

They show what the static figures show (:mod:`landscape.plot.line`,
:mod:`landscape.plot.rays`) with hover read-outs and a log/linear switch for the
loss axis; non-finite values are gaps.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from landscape.plot._common import clean_plotly
from landscape.plot.line import LINE_METRICS, end_labels, end_points, line_style
from landscape.plot.rays import BANDS, ray_band, ray_series
from landscape.results.read import LineData, RaysData
from landscape.plot.style import choose_metrics, loss_name_of, method_of, series_styles, title_of

__all__ = ["line_page", "rays_page"]

DASH = {"-": "solid", "--": "dash", ":": "dot", "-.": "dashdot", (0, (8, 3)): "longdash",
        (0, (8, 3, 1, 3)): "longdashdot"}
SYMBOLS = {"o": "circle", "*": "star", "D": "diamond", "s": "square", "^": "triangle-up", "v": "triangle-down",
           "P": "cross", "X": "x", "h": "hexagon"}


def _finite(y: np.ndarray) -> list[Optional[float]]:
    return [float(v) if np.isfinite(v) else None for v in y]


def _scale_buttons(axis: str = "yaxis") -> list[dict]:
    return [{"buttons": [{"label": "log loss axis", "method": "relayout", "args": [{f"{axis}.type": "log"}]},
                         {"label": "linear loss axis", "method": "relayout", "args": [{f"{axis}.type": "linear"}]}],
             "x": 0.0, "xanchor": "left", "y": 1.03, "yanchor": "bottom", "direction": "right",
             "type": "buttons", "showactive": True}]


def line_page(lines: Sequence[LineData], *, metrics: Optional[Sequence[str]] = None, log: bool = True,
              labels: Optional[Sequence[str]] = None):
    """Every line of ``lines``: losses on the left axis, errors/accuracies on the right (plotly Figure)."""
    import plotly.graph_objects as go

    chosen = choose_metrics(metrics, lines[0].values, LINE_METRICS, loss_name=loss_name_of(lines[0].sidecar))
    names = list(labels) if labels else [d.label for d in lines]
    styles = series_styles(names, [method_of(d.end_label) for d in lines])
    twin = any(m.kind != "loss" for m in chosen) and any(m.kind == "loss" for m in chosen)
    axis_of = {m.name: "y2" if twin and m.kind != "loss" else "y" for m in chosen}
    fig = go.Figure()
    for d, name, st in zip(lines, names, styles):
        for m in chosen:
            y = np.where(d.done, m.of(d.values), np.nan)
            fig.add_trace(go.Scatter(
                x=d.t, y=_finite(y), customdata=d.distance, name=f"{name}: {m.label}", mode="lines",
                yaxis=axis_of[m.name],
                line={"color": st.color, "dash": DASH[line_style(m)], "width": 2},
                hovertemplate=f"{name}<br>t %{{x:.3g}} (distance %{{customdata:.3g}})<br>{m.label} %{{y:.4g}}"
                              "<extra></extra>"))
        # The end points on the first metric, with their method's colour and symbol.
        first = chosen[0]
        for t_end, label, value in end_points(d, first):
            mk = series_styles([label])[0]
            fig.add_trace(go.Scatter(
                x=[t_end], y=[value], mode="markers", showlegend=False, name=label, yaxis=axis_of[first.name],
                marker={"color": mk.color, "size": 11, "symbol": SYMBOLS.get(mk.marker, "circle"),
                        "line": {"color": "white", "width": 1}},
                hovertemplate=f"{label} (t = {t_end:g})<br>{first.label} %{{y:.4g}}<extra></extra>"))
    title = title_of(lines[0].sidecar)
    loss_name = loss_name_of(lines[0].sidecar)
    layout = dict(
        title={"text": "Loss along the line a + t·(b − a)" + (f" — {title}" if title else ""), "x": 0.5},
        xaxis={"title": {"text": "t"}},
        yaxis={"title": {"text": f"loss ({loss_name})" if loss_name else "loss"}, "type": "log" if log else "linear"},
        template="plotly_white", height=560, hovermode="closest", margin={"t": 110},
        legend={"orientation": "h", "y": -0.18}, updatemenus=_scale_buttons(),
        shapes=[{"type": "line", "x0": t, "x1": t, "yref": "paper", "y0": 0, "y1": 1,
                 "line": {"color": "#999999", "width": 1}} for t in (0, 1)],
        annotations=[{"x": t, "y": 1.0, "yref": "paper", "text": text, "showarrow": False, "xanchor": "left",
                      "yanchor": "bottom", "font": {"size": 12}} for t, text in end_labels(lines)])
    if twin:
        right = "error / accuracy (%)" if all(m.kind == "error" for m in chosen if m.kind != "loss") else \
            " / ".join(m.label for m in chosen if m.kind != "loss")
        layout["yaxis2"] = {"title": {"text": right}, "overlaying": "y", "side": "right",
                            "showgrid": False, "tickmode": "auto"}
    fig.update_layout(**layout)
    return clean_plotly(fig)  # labels from files and users: no control or bidi characters


def rays_page(rays: Sequence[RaysData], *, metrics: Optional[Sequence[str]] = None, log: bool = True,
              band: str = "minmax", labels: Optional[Sequence[str]] = None):
    """Mean and band over directions per point, one subplot per metric (plotly Figure)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    chosen = choose_metrics(metrics, rays[0].values, loss_name=loss_name_of(rays[0].sidecar))
    series = ray_series(rays, labels)
    styles = series_styles([s.label for s in series])
    fig = make_subplots(rows=1, cols=len(chosen), subplot_titles=[m.label for m in chosen])
    for col, m in enumerate(chosen, start=1):
        for s, st in zip(series, styles):
            b = ray_band(np.where(s.data.done[s.index], m.of(s.data.values)[s.index], np.nan), band)
            x = s.data.distances
            group = s.label
            rgba = _rgba(st.color, 0.18)
            fig.add_trace(go.Scatter(x=x, y=_finite(b.high), mode="lines", line={"width": 0}, legendgroup=group,
                                     showlegend=False, hoverinfo="skip"), row=1, col=col)
            fig.add_trace(go.Scatter(x=x, y=_finite(b.low), mode="lines", line={"width": 0}, fill="tonexty",
                                     fillcolor=rgba, legendgroup=group, showlegend=False, hoverinfo="skip"),
                          row=1, col=col)
            fig.add_trace(go.Scatter(x=x, y=_finite(b.mean), mode="lines", name=s.label, legendgroup=group,
                                     showlegend=col == 1, line={"color": st.color, "width": 2},
                                     hovertemplate=f"{s.label}<br>distance %{{x:.3g}}<br>mean {m.label} %{{y:.4g}}"
                                                   "<extra></extra>"), row=1, col=col)
        if m.kind == "loss":
            fig.update_yaxes(type="log" if log else "linear", row=1, col=col)
        fig.update_xaxes(title_text="distance from the point", row=1, col=col)
    title = title_of(rays[0].sidecar)
    k = rays[0].values["train_loss"].shape[1]
    fig.update_layout(
        title={"text": f"Random rays: mean and {BANDS[band]} ({k} directions)" + (f" — {title}" if title else ""),
               "x": 0.5},
        template="plotly_white", height=540, legend={"orientation": "h", "y": -0.2}, margin={"t": 120},
        updatemenus=_scale_buttons("yaxis") if chosen[0].kind == "loss" else [])
    return clean_plotly(fig)  # labels from files and users: no control or bidi characters


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"
