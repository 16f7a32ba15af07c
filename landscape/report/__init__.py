"""``report``: every run and result under some directories on one page.

:func:`build_report` finds runs and results (``landscape.results.read.find_results``), builds the
sections that exist (``landscape.report.sections``) and writes ``OUT/report.html`` (self-contained,
offline), ``OUT/report.md`` and ``OUT/figures/*.png`` (``landscape.report.render``), atomically, each
marked as written by this toolkit; any other file in their place is replaced only with ``overwrite``
(``swa.io.check_replaceable``), and a symbolic link at ``OUT/figures`` is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence
from landscape.plot.html import network_references
from landscape.results.read import find_results
from landscape.report.render import render_html, render_markdown
from landscape.report.sections import build_sections
from swa.errors import UserError
from swa.io import HTML_MARKER, TEXT_MARKER, check_replaceable, write_text
from swa.rundir import versions

__all__ = ["build_report", "ReportFiles"]


@dataclass
class ReportFiles:
    html: Path
    markdown: Path
    sections: list[str]


def build_report(paths: Sequence[str | Path], out: str | Path, *, title: Optional[str] = None, dpi: int = 110,
                 progress: Callable[[str], None] = lambda _: None, math_labels: bool = False,
                 overwrite: bool = False) -> ReportFiles:
    """Write the report of everything under ``paths`` into ``out``.

    Labels and names are plain text in the figures unless ``math_labels`` (``$...$`` drawn as mathtext).

    Files already in ``out`` are replaced only if this toolkit wrote them (same kind), or with ``overwrite``.

    Raises:
        UserError: a path that does not exist or holds no run or result, an unreadable result; a file in the
            way that we did not write (without ``overwrite``); ``out/figures`` a symbolic link.
    """
    out = Path(out)
    html_path, md_path, figures = out / "report.html", out / "report.md", out / "figures"
    if figures.is_symlink():  # writing through it would put files outside --out
        raise UserError(f"{figures} is a symbolic link; the report writes only inside {out}: remove the link or "
                        "choose another `out`")
    check_replaceable(html_path, "html", overwrite)  # before drawing anything
    check_replaceable(md_path, "md", overwrite)
    results = find_results(paths)
    sections = build_sections(results, figures, dpi=dpi, progress=progress, math_labels=math_labels,
                              overwrite=overwrite)
    title = title or "Loss landscape report"
    sources = [str(p) for p in paths]
    v = {k: val for k, val in versions().items() if k in ("swa_landscape", "torch", "numpy", "python")}
    page = render_html(sections, title=title, sources=sources, versions=v)
    refs = network_references(page)
    if refs:  # a plotly change would have broken the offline promise
        raise RuntimeError(f"the report would load from the network: {refs[0]!r}")
    page = page.replace("<head>", f"<head>{HTML_MARKER}", 1)
    if HTML_MARKER not in page:
        raise RuntimeError("the report page has no <head> to mark as ours")
    markdown = f"{TEXT_MARKER}\n" + render_markdown(sections, title=title, sources=sources, versions=v)
    check_replaceable(html_path, "html", overwrite)  # again: drawing took a while
    check_replaceable(md_path, "md", overwrite)
    write_text(page, html_path)
    write_text(markdown, md_path)
    return ReportFiles(html_path, md_path, [s.key for s in sections])
