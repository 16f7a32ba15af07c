r"""The pieces a report is made of, independent of how they are rendered (HTML or Markdown).

A :class:`Section` has a title, an anchor and a list of blocks: :class:`Text` (a paragraph),
:class:`Table`, :class:`Figure` (a PNG file written under the report's ``figures/``),
:class:`Interactive` (a plotly figure, HTML only) and :class:`Provenance` (how a result was made: a
few named facts and the full inputs, folded).

Paragraphs, captions and intros are *markup-light*: ``**bold**`` and ```code``` only, ``\`` escaping
the next character. Anything that comes from a file or a user (labels, folder names, sidecar fields)
goes in through :func:`lit`, so it is shown as typed; every other field (table cells, provenance facts,
titles) is plain text. The renderers escape for HTML and Markdown (:func:`spans` reads markup-light).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union
from landscape.plot._common import clean_text

__all__ = ["Text", "Table", "Figure", "Interactive", "Provenance", "Section", "Block", "fmt", "lit", "spans"]


def lit(text: Any) -> str:
    r"""``text`` as markup-light that shows it as typed: on one line, without control characters,
    ``\``, ``*`` and `````` escaped."""
    return re.sub(r"([\\*`])", r"\\\1", clean_text(text))


_SPAN = re.compile(r"\*\*((?:\\.|[^*\\])+)\*\*|`((?:\\.|[^`\\])+)`|\\(.)|([^*`\\]+|.)", re.S)


def spans(text: str) -> list[tuple[str, str]]:
    """Markup-light → ``[(kind, text), ...]`` with kind ``text``, ``bold`` or ``code`` and escapes resolved."""
    unescape = lambda t: re.sub(r"\\(.)", r"\1", t, flags=re.S)  # noqa: E731
    out: list[tuple[str, str]] = []
    for m in _SPAN.finditer(text):
        bold, code, escaped, plain = m.groups()
        kind, value = (("bold", unescape(bold)) if bold is not None else ("code", unescape(code)) if code is not None
                       else ("text", escaped if escaped is not None else plain))
        if out and out[-1][0] == kind == "text":
            out[-1] = ("text", out[-1][1] + value)
        else:
            out.append((kind, value))
    return out


@dataclass
class Text:
    text: str


@dataclass
class Table:
    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    caption: str = ""


@dataclass
class Figure:
    path: Path  # the PNG, under the report's figures/
    caption: str


@dataclass
class Interactive:
    figure: Any  # a plotly Figure
    caption: str


@dataclass
class Provenance:
    facts: list[tuple[str, str]]
    inputs: dict[str, Any] = field(default_factory=dict)
    source: Optional[Path] = None
    about: str = ""  # what it is the provenance of (shown in the fold's summary)


Block = Union[Text, Table, Figure, Interactive, Provenance]


@dataclass
class Section:
    key: str  # the anchor (and the test's handle): runs, results, curves, planes, lines, rays, sharpness, spectrum
    title: str
    blocks: list[Block] = field(default_factory=list)
    intro: str = ""


def fmt(x: Any, digits: int = 4) -> str:
    """A number for a table: 4 significant digits, ``nan``/``inf`` spelled out, ``–`` for none."""
    if x is None:
        return "–"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, (int, float)):
        if isinstance(x, float) and not math.isfinite(x):
            return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
        return f"{x:.{digits}g}" if isinstance(x, float) else str(x)
    return str(x)
