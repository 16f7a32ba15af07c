"""Helpers the figure modules share: non-finite values, notes inside panels, legends, clipping of lines,
and text from files and users made safe to show (:func:`clean_text`, :func:`finish_labels`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

__all__ = ["Clipped", "clip_for_line", "panel_note", "legend_below", "plural", "clean_text", "finish_labels",
           "clean_plotly"]

# Characters no page or figure should copy from a label: C0 and C1 controls and DEL (tab and line breaks are
# handled apart), the bidirectional embeddings, overrides and isolates that reorder the text around them
# (Trojan Source, CVE-2021-42574) and the invisible marks, and lone surrogates (not encodable as UTF-8).
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e"
                     "\u2060-\u2069\ufeff\ud800-\udfff]")
_BREAKS = re.compile("\r\n|[\r\n\t\u2028\u2029\x0b\x0c\x85]")


def clean_text(text: Any, newlines: bool = False) -> str:
    """``str(text)`` without control, bidirectional-override and invisible characters.

    The one sanitizer every renderer uses (figures, interactive pages, ``report.html``, ``report.md``).

    Args:
        text: a label, a name, anything shown.
        newlines: keep ``\n`` (figures: multi-line notes); otherwise every line break and tab becomes a
            space, so that a label stays on its line (Markdown, HTML attributes).
    """
    s = str(text)
    if newlines:
        s = s.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
        s = _BREAKS.sub(lambda m: m.group() if m.group() == "\n" else " ", s)
    else:
        s = _BREAKS.sub(" ", s)
    return _UNSAFE.sub("", s)


def _valid_math(text: str, prop) -> bool:
    from matplotlib.mathtext import MathTextParser

    try:
        MathTextParser("path").parse(text, dpi=72, prop=prop)
    except ValueError:  # mathtext's parse errors
        return False
    return True


def finish_labels(fig, math_labels: bool = False):
    """Make every text of ``fig`` that is not a tick label plain text: titles, axis labels, legends,
    annotations and notes show exactly what was given (a ``$`` is a dollar, not mathtext).

    With ``math_labels``, text with ``$...$`` is drawn as mathtext where it parses, and as plain text
    where it does not (so that a bad label cannot fail the figure). Control and bidirectional-override
    characters are removed either way (:func:`clean_text`). Returns ``fig``.
    """
    from matplotlib.axis import Axis, Tick
    from matplotlib.cbook import is_math_text
    from matplotlib.text import Text

    numeric: set[int] = set()  # tick labels and offsets come from formatters (log ticks use mathtext)
    for tick in fig.findobj(Tick):
        numeric.update(id(t) for t in tick.findobj(Text))
    numeric.update(id(axis.offsetText) for axis in fig.findobj(Axis))
    for t in fig.findobj(Text):
        if id(t) in numeric:
            continue
        text = t.get_text()
        cleaned = clean_text(text, newlines=True)
        if cleaned != text:
            t.set_text(cleaned)
        t.set_parse_math(bool(math_labels and is_math_text(cleaned)
                              and _valid_math(cleaned, t.get_fontproperties())))
    return fig


def clean_plotly(fig):
    """``fig`` (a plotly Figure), changed in place: :func:`clean_text` applied to every string in it (names,
    hover templates, titles, annotations, text arrays), so that nothing a label carries reaches the page raw.
    Returns ``fig``."""
    changes: list[tuple[tuple, Any]] = []

    def walk(x, path: tuple) -> None:
        if isinstance(x, str):
            cleaned = clean_text(x, newlines=True)
            if cleaned != x:
                changes.append((path, cleaned))
        elif isinstance(x, dict):
            for k, v in x.items():
                if k != "template":  # plotly's own styling
                    walk(v, path + (k,))
        elif isinstance(x, (list, tuple)) and any(isinstance(v, (dict, list, tuple)) for v in x):
            for k, v in enumerate(x):
                walk(v, path + (k,))
        elif isinstance(x, (list, tuple)) and any(isinstance(v, str) for v in x):
            cleaned = [clean_text(v, newlines=True) if isinstance(v, str) else v for v in x]
            if cleaned != list(x):
                changes.append((path, cleaned))
        elif isinstance(x, np.ndarray) and x.dtype.kind in "OSU":
            flat = [clean_text(v, newlines=True) if isinstance(v, str) else v for v in x.reshape(-1)]
            if flat != list(x.reshape(-1)):
                changes.append((path, np.array(flat, dtype=object).reshape(x.shape)))

    walk(fig.to_plotly_json(), ())
    for path, value in changes:
        target, rest = (fig.data[path[1]], path[2:]) if path[0] == "data" else (fig.layout, path[1:])
        key = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in rest).lstrip(".")
        target[key] = value
    return fig


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
