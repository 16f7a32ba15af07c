"""The rays figure (Izmailov et al. 2018, Fig. 4): loss and error along random rays from each point.

For each point and each metric, the curve is the mean over the K directions of the
value at distance s, with a band: the min–max over directions (``band="minmax"``)
or the mean ± one standard deviation (``band="std"``, ddof = 1); the legend says
which. Non-finite values (a diverged far end) are left out of a step's statistics
and counted in a note. On the train-loss panel the mean width at δ (the distance
where the loss first exceeds its value at the point by δ, see
:func:`landscape.geometry.rays.ray_width`) is marked per point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from landscape.plot._common import finish_labels, legend_below, line_top, panel_note, plural
from landscape.results.read import RaysData
from landscape.plot.style import choose_metrics, loss_name_of, new_figure, series_styles, style_context, title_of
from swa.errors import UserError

__all__ = ["rays_figure", "ray_band", "RayBand", "BANDS", "ray_series"]

BANDS = {"minmax": "min–max over directions", "std": "mean ± 1 std over directions"}


@dataclass
class RayBand:
    """Per step: the mean over directions and the band's ``low``/``high``; ``excluded`` non-finite values."""

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    excluded: int


def ray_band(values: np.ndarray, band: str = "minmax") -> RayBand:
    """Mean and band over the directions (axis 0) of ``values`` (K, S), non-finite values left out.

    ``minmax``: [min, max]; ``std``: mean ∓ the sample standard deviation (ddof = 1; 0 for one value).
    A step without a finite value is NaN.
    """
    if band not in BANDS:
        raise UserError(f"unknown `band={band!r}`; choose from {', '.join(BANDS)}")
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    count = ok.sum(axis=0)
    safe = np.where(ok, v, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, safe.sum(axis=0) / np.maximum(count, 1), np.nan)
        if band == "minmax":
            low = np.where(count > 0, np.where(ok, v, np.inf).min(axis=0), np.nan)
            high = np.where(count > 0, np.where(ok, v, -np.inf).max(axis=0), np.nan)
        else:
            sq = np.where(ok, (v - mean) ** 2, 0.0).sum(axis=0)
            std = np.where(count > 1, np.sqrt(sq / np.maximum(count - 1, 1)), 0.0)
            low, high = mean - std, mean + std
    return RayBand(mean=mean, low=low, high=high, excluded=int((~ok).sum()))


@dataclass
class _Series:
    label: str
    data: RaysData
    index: int


def ray_series(rays: Sequence[RaysData], labels: Optional[Sequence[str]] = None) -> list[_Series]:
    """Every point of every file, labelled; labels repeated across files get the file's folder name."""
    series = [_Series(lab, d, i) for d in rays for i, lab in enumerate(d.labels)]
    names = [s.label for s in series]
    if labels:
        if len(labels) != len(series):
            raise UserError(f"`labels` gives {len(labels)} labels for {len(series)} ray origins")
        for s, lab in zip(series, labels):
            s.label = lab
    elif len(set(names)) < len(names):
        for s in series:
            s.label = f"{s.data.path.parent.name}: {s.label}"
    return series


def rays_figure(rays: Sequence[RaysData], *, metrics: Optional[Sequence[str]] = None, log: bool = True,
                band: str = "minmax", labels: Optional[Sequence[str]] = None, width: str = "double",
                math_labels: bool = False):
    """Rays from every point of every file of ``rays`` on shared axes (a matplotlib Figure).

    Args:
        rays: rays results (:func:`landscape.results.read.read_rays`).
        metrics: one panel per metric (default: train loss and test error; test loss for regression).
        log: log scale for losses.
        band: ``minmax`` or ``std`` (see :func:`ray_band`).
        labels: one label per ray origin, over all files in order.
        width: ``double`` (panels side by side) or ``single`` (stacked).
        math_labels: draw ``$...$`` in labels as mathtext (default: every label is plain text).
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    chosen = choose_metrics(metrics, rays[0].values, loss_name=loss_name_of(rays[0].sidecar))
    series = ray_series(rays, labels)
    styles = series_styles([s.label for s in series])
    n = len(chosen)
    with style_context():
        if width == "double":
            fig = new_figure(width, 2.9)
            axes = fig.subplots(1, n, squeeze=False).reshape(-1)
        else:
            fig = new_figure(width, 2.2 * n + 0.8)
            axes = fig.subplots(n, 1, squeeze=False).reshape(-1)
        width_text: dict[str, str] = {}
        for ax, m in zip(axes, chosen):
            use_log = log and m.kind == "loss"
            bands = [ray_band(np.where(s.data.done[s.index], m.of(s.data.values)[s.index], np.nan), band)
                     for s in series]
            top = line_top([b.high for b in bands] + [b.mean for b in bands], use_log)
            excluded = 0
            for s, st, b in zip(series, styles, bands):
                x = s.data.distances
                lo, hi = np.clip(b.low, None, top), np.clip(b.high, None, top)
                if use_log:
                    lo = np.where(lo > 0, lo, np.nan)
                ax.fill_between(x, lo, hi, color=st.color, alpha=0.18, lw=0)
                ax.plot(x, b.mean, color=st.color, ls=st.linestyle, lw=1.3)
                excluded += b.excluded
                if m.name == "train_loss" and s.data.width is not None:
                    w = s.data.width[s.index]
                    finite = w[np.isfinite(w)]
                    delta = s.data.delta
                    if finite.size:
                        mean_w = float(finite.mean())
                        ax.axvline(mean_w, color=st.color, ls=(0, (2, 2)), lw=0.9)
                        if delta is not None and np.isfinite(b.mean[0]):
                            ax.plot([mean_w], [b.mean[0] + delta], marker="o", ms=3.5, color=st.color,
                                    mec="white", mew=0.5, zorder=5)
                        sd = f" ± {finite.std(ddof=1):.2g}" if finite.size > 1 else ""
                        text = f"width {mean_w:.3g}{sd}"
                    else:
                        text = f"width > {x[-1]:.3g}"
                    censored = int((~np.isfinite(w)).sum())
                    if censored and finite.size:
                        text += f", {censored} of {w.size} rays > {x[-1]:.3g}"
                    width_text[s.label] = text + (f" (δ = {delta:g})" if delta is not None else "")
            if use_log:
                ax.set_yscale("log")
            ax.set_ylabel(m.label)
            unit = rays[0].normalization
            ax.set_xlabel("distance from the point (weight space)" if unit == "unit" else
                          f"step along a {unit}-normalized direction")
            notes = [f"{plural(excluded, 'non-finite value')} left out"] if excluded else []
            panel_note(ax, notes)
        handles = [Line2D([], [], color=st.color, ls=st.linestyle, lw=1.5) for st in styles]
        texts = [s.label + (f": {width_text[s.label]}" if s.label in width_text else "") for s in series]
        k = rays[0].values["train_loss"].shape[1]
        handles.append(Patch(facecolor="0.5", alpha=0.3))
        texts.append(f"band: {BANDS[band]} ({k} directions)")
        if width_text:
            handles.append(Line2D([], [], color="0.3", ls=(0, (2, 2)), lw=0.9, marker="o", ms=3))
            texts.append("mean width at δ")
        title = title_of(rays[0].sidecar)
        if title:
            fig.suptitle(title, fontsize=8)
        legend_below(fig, handles, texts, ncols=2 if width == "double" else 1)
    return finish_labels(fig, math_labels)
