"""``report``: every run and result under some directories on one page.

:func:`build_report` finds runs and results (``landscape.plot.results.find_results``), builds the
sections that exist (``landscape.report.sections``) and writes ``OUT/report.html`` (self-contained,
offline), ``OUT/report.md`` and ``OUT/figures/*.png`` (``landscape.report.render``), atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

__all__ = ["build_report", "ReportFiles"]


@dataclass
class ReportFiles:
    html: Path
    markdown: Path
    sections: list[str]


def build_report(paths: Sequence[str | Path], out: str | Path, *, title: Optional[str] = None, dpi: int = 110,
                 progress: Callable[[str], None] = lambda _: None, math_labels: bool = False) -> ReportFiles:
    """Write the report of everything under ``paths`` into ``out``.

    Labels and names are plain text in the figures unless ``math_labels`` (``$...$`` drawn as mathtext).

    Raises:
        UserError: a path that does not exist or holds no run or result, an unreadable result.
    """
    from landscape.plot.html import network_references
    from landscape.plot.results import find_results
    from landscape.report.render import render_html, render_markdown
    from landscape.report.sections import build_sections
    from swa.io import write_text
    from swa.rundir import versions

    out = Path(out)
    results = find_results(paths)
    sections = build_sections(results, out / "figures", dpi=dpi, progress=progress, math_labels=math_labels)
    title = title or "Loss landscape report"
    sources = [str(p) for p in paths]
    v = {k: val for k, val in versions().items() if k in ("swa_landscape", "torch", "numpy", "python")}
    page = render_html(sections, title=title, sources=sources, versions=v)
    refs = network_references(page)
    if refs:  # a plotly change would have broken the offline promise
        raise RuntimeError(f"the report would load from the network: {refs[0]!r}")
    write_text(page, out / "report.html")
    write_text(render_markdown(sections, title=title, sources=sources, versions=v), out / "report.md")
    return ReportFiles(out / "report.html", out / "report.md", [s.key for s in sections])
