"""The pieces a report is made of, independent of how they are rendered (HTML or Markdown).

A :class:`Section` has a title, an anchor and a list of blocks: :class:`Text` (a paragraph,
Markdown-light: ``code`` only), :class:`Table`, :class:`Figure` (a PNG file written under the
report's ``figures/``), :class:`Interactive` (a plotly figure, HTML only) and :class:`Provenance`
(how a result was made: a few named facts and the full inputs, folded).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

__all__ = ["Text", "Table", "Figure", "Interactive", "Provenance", "Section", "Block", "fmt"]


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
