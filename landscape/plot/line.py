"""The line figure (Izmailov et al. 2018, Fig. 5; the MNIST fine-tuning study's Fig. 2).

Loss and error along a + t·(b − a) against t: losses on the left axis (log scale
by default), errors or accuracies on a twin axis on the right, one colour per line
(the method of its end point) and one line style per metric; the end points t = 0
and t = 1 are marked and labelled. With one line (or lines of equal length) a top
axis gives the distance from a, t·‖b − a‖, in weight-space units. +inf and values
far above the rest are clipped to the top of the axis and drawn as ▲; NaN is a gap;
the figure says how many points were clipped or missing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional, Sequence

import numpy as np

from landscape.plot._common import clip_for_line, finish_labels, legend_below, line_top, panel_note, plural
from landscape.results.read import LineData
from landscape.plot.style import (OTHER_COLORS, Metric, choose_metrics, halo, loss_name_of, method_of, new_figure,
                                  series_styles, style_context, title_of)

__all__ = ["line_figure", "LINE_METRICS", "METRIC_STYLES", "EXTRA_STYLES", "line_style", "end_points", "end_labels"]

METRIC_STYLES = {"train_loss": "-", "test_loss": "--", "train_err": "-.", "test_err": ":", "train_acc": "-.",
                 "test_acc": ":"}
EXTRA_STYLES = {"train": (0, (8, 3)), "test": (0, (8, 3, 1, 3))}  # a forward_fn's metrics: long dashes


def line_style(m: Metric):
    """The line style of metric ``m``: :data:`METRIC_STYLES`, or :data:`EXTRA_STYLES` by split for a
    ``forward_fn``'s own metric."""
    return METRIC_STYLES.get(m.name) or EXTRA_STYLES["train" if m.name.startswith("train_") else "test"]


LINE_METRICS = ("train_loss", "test_loss", "test_err")


def end_points(d: LineData, m: Metric) -> list[tuple[float, str, float]]:
    """``(t, label, value)`` at t = 0 and t = 1 of the line, where the grid has them and the value is finite."""
    y = np.where(d.done, m.of(d.values), np.nan)
    out = []
    for t_end, label in ((0.0, d.start_label),) + (() if d.through_one else ((1.0, d.end_label),)):
        hit = np.flatnonzero(np.isclose(d.t, t_end, atol=1e-9))
        if len(hit) and np.isfinite(y[hit[0]]):
            out.append((t_end, label, float(y[hit[0]])))
    return out


def end_labels(lines: Sequence[LineData]) -> list[tuple[float, str]]:
    """What t = 0 and t = 1 are called: the shared start / end label, or "start" / "end" if they differ."""
    starts, ends = {d.start_label for d in lines}, {d.end_label for d in lines}
    out = [(0.0, next(iter(starts)) if len(starts) == 1 else "start")]
    if not all(d.through_one for d in lines):
        out.append((1.0, next(iter(ends)) if len(ends) == 1 else "end"))
    return out


def _axis_values(lines: Sequence[LineData], metrics: Sequence[Metric]) -> list[np.ndarray]:
    return [np.where(d.done, m.of(d.values), np.nan) for d in lines for m in metrics]


def line_figure(lines: Sequence[LineData], *, metrics: Optional[Sequence[str]] = None, log: bool = True,
                labels: Optional[Sequence[str]] = None, width: str = "double", math_labels: bool = False):
    """One panel with every line of ``lines`` overlaid (a :class:`~matplotlib.figure.Figure`).

    Args:
        lines: interp results (:func:`landscape.results.read.read_line`).
        metrics: metric names (default :data:`LINE_METRICS`, those the result has): losses on the left
            axis, errors, accuracies and a ``forward_fn``'s own metrics on the right.
        log: log scale for the losses.
        labels: one label per line (default ``"start → end"``).
        width: ``double`` (7 in) or ``single`` (3.3 in).
        math_labels: draw ``$...$`` in labels as mathtext (default: every label is plain text).
    """
    from matplotlib.lines import Line2D

    chosen = choose_metrics(metrics, lines[0].values, LINE_METRICS, loss_name=loss_name_of(lines[0].sidecar))
    names = list(labels) if labels else [d.label for d in lines]
    styles = series_styles(names, [method_of(d.end_label) for d in lines])
    # Line style shows the metric here, so two lines of one method (SWA cyclical and constant) would look
    # alike: later ones of a colour already used take the next free colour of the other palette.
    free = [c for c in OTHER_COLORS if c not in {st.color for st in styles}]
    used: set[str] = set()
    for i, st in enumerate(styles):
        if st.color in used and free:
            styles[i] = replace(st, color=free.pop(0))
        used.add(styles[i].color)
    left = [m for m in chosen if m.kind == "loss"]
    right = [m for m in chosen if m.kind != "loss"]
    with style_context():
        fig = new_figure(width, 3.0 if width == "double" else 2.9)
        ax = fig.subplots()
        axes = {"loss": ax}
        if right:
            axes["error"] = ax.twinx() if left else ax
            if left:
                axes["error"].spines["right"].set_visible(True)
        notes = []
        for kind, group in (("loss", left), ("error", right)):
            if not group:
                continue
            target = axes[kind]
            use_log = log and kind == "loss"
            top = line_top(_axis_values(lines, group), use_log)
            clipped = missing = 0
            for d, st in zip(lines, styles):
                for m in group:
                    c = clip_for_line(m.of(d.values), d.done, top if top is not None else np.inf)
                    target.plot(d.t, c.y, color=st.color, ls=line_style(m), lw=1.2)
                    if c.over.any():
                        target.plot(d.t[c.over], c.y[c.over], ls="", marker="^", ms=3.5, color=st.color)
                    clipped += int(c.over.sum())
                    missing += int(c.missing.sum())
            if use_log:
                target.set_yscale("log")
            target.set_ylabel(" / ".join(m.label for m in group) if len(group) < 3 else
                              ("loss" if kind == "loss" else "error (%)" if all(m.kind == "error" for m in group)
                               else "value"))
            if clipped:
                notes.append(f"{plural(clipped, 'point')} off the {kind} scale (▲)")
            if missing:
                notes.append(f"{plural(missing, 'point')} missing ({kind})")
        # End points: vertical guides and a marker on the first metric of each line.
        first = chosen[0]
        anchor_ax = axes["loss" if first.kind == "loss" else "error"]
        for t_end, _ in end_labels(lines):
            ax.axvline(t_end, color="0.6", lw=0.6, ls="-", zorder=0)
        for d in lines:
            for t_end, label, value in end_points(d, first):
                mk = series_styles([label])[0]
                anchor_ax.plot([t_end], [value], ls="", marker=mk.marker, color=mk.color, mec="white",
                               mew=0.6, ms=9 if mk.marker == "*" else 5, zorder=6)
        for t_end, text in end_labels(lines):
            ax.annotate(text, (t_end, 1.0), xycoords=("data", "axes fraction"), xytext=(2, -3),
                        textcoords="offset points", ha="left", va="top", fontsize=6.5, path_effects=halo(),
                        zorder=9)
        ax.set_xlabel(lines[0].x_label if len({d.x_label for d in lines}) == 1 else "t")
        lengths = np.array([d.length for d in lines])
        if np.allclose(lengths, lengths[0], rtol=1e-6):
            length = float(lengths[0])
            sec = ax.secondary_xaxis("top", functions=(lambda t: t * length, lambda s: s / length))
            sec.set_xlabel("distance from " + ("the center" if lines[0].through_one else "a") + "  (weight space)")
            sec.tick_params(labelsize=6.5)
        panel_note(ax, notes)
        handles = [Line2D([], [], color=st.color, lw=1.6) for st in styles]
        texts = [f"{n}  (‖b − a‖ = {d.length:.3g})" if len(lines) > 1 else n for n, d in zip(names, lines)]
        handles += [Line2D([], [], color="0.2", ls=line_style(m), lw=1.2) for m in chosen]
        texts += [m.label for m in chosen]
        title = title_of(lines[0].sidecar)
        if title:
            fig.suptitle(title, fontsize=8)
        legend_below(fig, handles, texts, ncols=3 if width == "double" else 2)
    return finish_labels(fig, math_labels)
