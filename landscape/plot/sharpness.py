"""Sharpness side by side: one small panel per metric, one bar per checkpoint, and the spectral density.

Each metric row of ``sharpness.json`` gets a panel with one bar per checkpoint (its
method's colour) and an error bar of its stored uncertainty: a standard error
(Monte Carlo, Hutch++), the residual ‖Hv − λv‖ (Lanczos eigenvalues), the standard
deviation over directions (ray width) or the bisection bracket (PAC-Bayes σ). The
panel title says which way is flatter, and marks optimizer-based values, which are
lower bounds. Top-k Hessian eigenvalues are grouped by index. The spectral density
from stochastic Lanczos quadrature is a figure of its own (:func:`spectrum_figure`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from landscape.plot._common import finish_labels, legend_below
from landscape.results.read import SharpnessData
from landscape.plot.style import WIDTHS, new_figure, series_styles, style_context, title_of
from swa.errors import UserError

__all__ = ["sharpness_figure", "panel_grid", "spectrum_figure", "sharpness_rows", "merge_sharpness", "FLATTER_WHEN_HIGHER"]

SPECTRUM = "hessian_spectrum"
FLATTER_WHEN_HIGHER = ("pac_bayes", "ray_width")  # every other metric: higher = sharper
UNCERTAINTY_TEXT = {
    "standard_error": "standard error", "Monte Carlo standard error": "standard error",
    "residual_norm": "residual ‖Hv − λv‖", "relative_change": "relative change at stop",
    "standard deviation over the uncensored rays": "std over rays",
    "width of the final bisection bracket": "bisection bracket",
}
PRETTY = {
    "hessian_top_eigenvalues": "Hessian top eigenvalues", "hessian_top_eigenvalues_power":
    "Hessian top eigenvalues (power)", "hessian_trace": "Hessian trace (Hutch++)",
    "hessian_trace_hutchinson": "Hessian trace (Hutchinson)", "eps_sharpness": "ε-sharpness",
    "adaptive_average": "adaptive average", "adaptive_worst_l2": "adaptive worst ℓ2",
    "adaptive_worst_linf": "adaptive worst ℓ∞", "average": "average", "worst_l2": "worst ℓ2",
    "worst_linf": "worst ℓ∞", "pac_bayes_sigma": "PAC-Bayes σ", "pac_bayes_sigma_magnitude": "PAC-Bayes σ′ (magnitude)",
    "ray_width": "ray width",
}
_SYMBOLS = {"rho": "ρ", "eps": "ε"}


def pretty_row(row: str) -> str:
    """``"eps_sharpness[eps=0.001, subspace 100]"`` → ``"ε-sharpness ε=0.001, subspace 100"``."""
    base, _, rest = row.partition("[")
    params = rest.rstrip("]")
    for key, sym in _SYMBOLS.items():
        params = re.sub(rf"\b{key}=", f"{sym}=", params)
    return PRETTY.get(base, base) + (f" {params}" if params else "")


def _uncertainty_text(kind: str) -> str:
    for key, text in UNCERTAINTY_TEXT.items():
        if kind.startswith(key):
            return text
    return kind


@dataclass
class _Entry:
    label: str
    metrics: dict[str, Any]


def merge_sharpness(docs: Sequence[SharpnessData], labels: Optional[Sequence[str]] = None) -> list[_Entry]:
    """Every checkpoint of every file, in order; labels repeated across files get the folder's name."""
    entries = [_Entry(lab, d.results[lab].get("metrics", {})) for d in docs for lab in d.labels]
    sources = [d.path.parent.name for d in docs for _ in d.labels]
    if labels:
        if len(labels) != len(entries):
            raise UserError(f"`labels` gives {len(labels)} labels for {len(entries)} checkpoints")
        for e, lab in zip(entries, labels):
            e.label = lab
    elif len({e.label for e in entries}) < len(entries):
        for e, src in zip(entries, sources):
            e.label = f"{src}: {e.label}"
    return entries


def sharpness_rows(entries: Sequence[_Entry]) -> list[str]:
    """The metric rows to draw, in the order first seen (the spectrum is drawn separately)."""
    rows: list[str] = []
    for e in entries:
        for row, value in e.metrics.items():
            if row != SPECTRUM and row not in rows and isinstance(value, dict):
                rows.append(row)
    return rows


def _number(x: Any) -> float:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else np.nan


def _title(row: str, results: list[dict]) -> str:
    higher = "flatter" if row.startswith(FLATTER_WHEN_HIGHER) else "sharper"
    bound = any(r.get("lower_bound") for r in results)
    return f"{pretty_row(row)}\n(higher = {higher}{'; lower bound' if bound else ''})"


def panel_grid(panels: int, width: str) -> tuple[int, int, float]:
    """``(columns, rows, inches)`` of a figure of ``panels`` metric panels at ``width`` (``single``/``double``).

    A full row has ``C`` = 3 panels (double) or 2 (single), each ``WIDTHS[width] / C`` inches wide. The
    rows are ``R = ⌈n / C⌉`` and the columns balanced over them, ``⌈n / R⌉`` (4 panels: 2 × 2, not 3 + 1);
    with fewer columns than ``C`` the figure shrinks to ``max(WIDTHS["single"], columns · WIDTHS[width] / C)``:
    one metric is one column of a paper wide, two take two thirds of a double-column figure, and no row is
    mostly empty panel slots.
    """
    if width not in WIDTHS:
        raise UserError(f"unknown `width={width!r}`; choose from {', '.join(WIDTHS)}")
    full = 3 if width == "double" else 2
    panels = max(1, panels)
    cols = -(-panels // -(-panels // full))
    inches = max(WIDTHS["single"], cols * WIDTHS[width] / full) if cols < full else WIDTHS[width]
    return cols, -(-panels // cols), inches


def sharpness_figure(docs: Sequence[SharpnessData], *, labels: Optional[Sequence[str]] = None,
                     width: str = "double", math_labels: bool = False):
    """Every metric of every checkpoint in ``docs``, side by side (a matplotlib Figure); labels are plain
    text unless ``math_labels`` (see :func:`landscape.plot._common.finish_labels`).

    Raises:
        UserError: no metric to draw (only the spectrum was computed, or nothing).
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    entries = merge_sharpness(docs, labels)
    rows = sharpness_rows(entries)
    if not rows:
        raise UserError(f"{docs[0].path} has no scalar sharpness metric to compare")
    styles = series_styles([e.label for e in entries])
    cols, nrows, inches = panel_grid(len(rows), width)
    kinds: set[str] = set()
    with style_context():
        fig = new_figure(width, 1.55 * nrows + (0.6 if nrows > 1 else 0.75))
        fig.set_size_inches(inches, fig.get_figheight())
        axes = fig.subplots(nrows, cols, squeeze=False).reshape(-1)
        for ax, row in zip(axes, rows):
            results = [e.metrics.get(row) or {} for e in entries]
            ax.set_title(_title(row, results), fontsize=7)
            values = [r.get("value") for r in results]
            uncs = [r.get("uncertainty") for r in results]
            for r, u in zip(results, uncs):
                drawn = np.isfinite([_number(a) for a in (u if isinstance(u, list) else [u])]).any()
                if r.get("uncertainty_kind") and drawn:
                    kinds.add(_uncertainty_text(str(r["uncertainty_kind"])))
            if any(isinstance(v, list) for v in values):  # top-k eigenvalues: grouped by index
                k = max(len(v) for v in values if isinstance(v, list))
                bar_w = 0.8 / len(entries)
                for i, (v, u, st) in enumerate(zip(values, uncs, styles)):
                    v = list(v or []) + [None] * (k - len(v or []))
                    u = list(u or []) + [None] * (k - len(u or []))
                    x = np.arange(k) + (i - (len(entries) - 1) / 2) * bar_w
                    ax.bar(x, [_number(a) for a in v], bar_w, color=st.color, hatch=st.hatch, edgecolor="white",
                           linewidth=0, yerr=[_number(a) for a in u], error_kw=dict(lw=0.7, capsize=1.5))
                ax.set_xticks(np.arange(k), [f"λ{j + 1}" for j in range(k)])
            else:
                x = np.arange(len(entries))
                ax.bar(x, [_number(v) for v in values], 0.7, color=[st.color for st in styles],
                       hatch=[st.hatch for st in styles], edgecolor="white", linewidth=0,
                       yerr=[_number(u) for u in uncs], error_kw=dict(lw=0.7, capsize=2))
                ax.set_xticks([])
                for xi, v in zip(x, values):
                    if not np.isfinite(_number(v)):
                        ax.text(xi, 0, "–", ha="center", va="bottom", fontsize=7)
            ax.tick_params(axis="y", labelsize=6.5)
            ax.margins(y=0.12)
        for ax in axes[len(rows):]:
            ax.set_visible(False)
        handles = [Patch(facecolor=st.color, hatch=st.hatch, edgecolor="white", linewidth=0) for st in styles]
        texts = [e.label for e in entries]
        if kinds:
            handles.append(Line2D([], [], color="0.2", lw=0.7, marker="_", ms=5))
            texts.append("error bars: " + ", ".join(sorted(kinds)))
        title = title_of(docs[0].doc)
        if title:
            fig.suptitle(title, fontsize=8)
        legend_below(fig, handles, texts, ncols=2 if inches >= 4.5 else 1)
    return finish_labels(fig, math_labels)


def spectrum_figure(docs: Sequence[SharpnessData], *, labels: Optional[Sequence[str]] = None,
                    width: str = "double", math_labels: bool = False):
    """The SLQ spectral density of every checkpoint that has one, overlaid; ``None`` if none has."""
    from matplotlib.lines import Line2D

    entries = [e for e in merge_sharpness(docs, labels) if isinstance(e.metrics.get(SPECTRUM), dict)]
    if not entries:
        return None
    styles = series_styles([e.label for e in entries])
    with style_context():
        fig = new_figure(width, 2.6 if width == "double" else 2.4)
        ax = fig.subplots()
        floor = np.inf
        for e, st in zip(entries, styles):
            spec = e.metrics[SPECTRUM]
            grid = np.asarray(spec.get("grid", []), dtype=np.float64)
            dens = np.asarray([_number(v) for v in spec.get("value", [])], dtype=np.float64)
            if grid.shape != dens.shape or not grid.size:
                continue
            positive = dens[dens > 0]
            if positive.size:
                floor = min(floor, positive.max() * 1e-6)
            ax.plot(grid, np.where(dens > 0, dens, np.nan), color=st.color, ls=st.linestyle, lw=1.2)
        ax.set_yscale("log")
        if np.isfinite(floor):
            ax.set_ylim(bottom=floor)
        ax.set_xlabel("Hessian eigenvalue")
        ax.set_ylabel("density (SLQ)")
        ax.set_title("Hessian spectral density (stochastic Lanczos quadrature)")
        legend_below(fig, [Line2D([], [], color=st.color, ls=st.linestyle) for st in styles],
                     [e.label for e in entries])
    return finish_labels(fig, math_labels)
