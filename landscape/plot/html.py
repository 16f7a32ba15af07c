"""Writing plotly figures as self-contained pages that open offline.

A page inlines plotly.js once and refers to nothing on the network: no
``<script src=...>``, no ``<link href=...>``, no ``@import`` or ``url(http...)``
in styles, no web fonts. :func:`network_references` finds any such reference;
:func:`write_page` refuses to write a page that has one.
"""

from __future__ import annotations

import re
from pathlib import Path
from swa.io import HTML_MARKER, check_replaceable, write_text

__all__ = ["write_page", "network_references", "page_html", "PLOTLY_CONFIG"]

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True,
                 "toImageButtonOptions": {"format": "png", "scale": 2}}

_NETWORK = (
    re.compile(r"<script\b[^>]*\bsrc\s*=", re.I),
    re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//", re.I),
    re.compile(r"@import\b", re.I),
    re.compile(r"url\(\s*[\"']?(?:https?:)?//", re.I),
    re.compile(r"@font-face\b", re.I),
)


def network_references(html: str) -> list[str]:
    """Excerpts of ``html`` that would load something at view time (empty for an offline page)."""
    hits = []
    for pattern in _NETWORK:
        for m in pattern.finditer(html):
            hits.append(html[m.start():m.start() + 80])
    return hits


def page_html(fig, title: str) -> str:
    """The page: plotly.js inlined once, the figure, a ``<title>``, the generator marker (``swa.io.HTML_MARKER``)."""
    html = fig.to_html(include_plotlyjs=True, full_html=True, config=PLOTLY_CONFIG, include_mathjax=False)
    safe = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return html.replace("<head>", f"<head><meta charset=\"utf-8\" />{HTML_MARKER}<title>{safe}</title>", 1)


def write_page(fig, path: Path, title: str, *, overwrite: bool = False) -> Path:
    """Write ``fig`` to ``path`` as one offline HTML file, atomically.

    A file already there is replaced only if it is a page of ours, or with ``overwrite``.
    """
    check_replaceable(path, "html", overwrite)
    html = page_html(fig, title)
    refs = network_references(html)
    if refs:  # would mean a plotly change broke the offline promise
        raise RuntimeError(f"page {path} would load from the network: {refs[0]!r}")
    write_text(html, path)
    return path
