"""Rendering the report: one self-contained ``report.html`` and a ``report.md`` beside ``figures/``.

The HTML page inlines plotly.js once (for the interactive surfaces), embeds every PNG as a data URI
and loads nothing from the network (checked with :func:`landscape.plot.html.network_references`),
so it opens offline and can be mailed as one file. The Markdown file links the PNGs under
``figures/`` and folds provenance in ``<details>`` blocks (rendered by GitHub and most viewers).
"""

from __future__ import annotations

import base64
import html
import json
import re
from datetime import datetime, timezone
from typing import Any, Sequence

from landscape.report.blocks import Figure, Interactive, Provenance, Section, Table, Text

__all__ = ["render_html", "render_markdown"]

_CSS = """
body { font: 15px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1f2328; margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5em 2em 4em; }
nav { background: #f6f8fa; border-bottom: 1px solid #d0d7de; padding: .6em 2em; position: sticky; top: 0;
      z-index: 10; }
nav a { margin-right: 1.2em; color: #0969da; text-decoration: none; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2em;
      margin-top: 2em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .9em; }
th, td { border: 1px solid #d0d7de; padding: .3em .6em; text-align: right; }
th { background: #f6f8fa; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0; } figure img { max-width: 100%; } figcaption { color: #57606a; font-size: .9em; }
details { margin: .5em 0 1.5em; font-size: .88em; } summary { cursor: pointer; color: #57606a; }
details pre { background: #f6f8fa; padding: .8em; overflow-x: auto; max-height: 24em; }
dl { display: grid; grid-template-columns: max-content auto; gap: .15em 1em; }
dt { color: #57606a; } dd { margin: 0; font-family: ui-monospace, monospace; word-break: break-all; }
.meta { color: #57606a; }
"""


def _inline(text: str) -> str:
    """Escape, then ``code`` and **bold** (the only markup section texts use)."""
    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)


def _html_block(block: Any, index: int) -> str:
    if isinstance(block, Text):
        return f"<p>{_inline(block.text)}</p>"
    if isinstance(block, Table):
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in block.header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                       for row in block.rows)
        cap = f"<caption>{_inline(block.caption)}</caption>" if block.caption else ""
        return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if isinstance(block, Figure):
        data = base64.b64encode(block.path.read_bytes()).decode("ascii")
        return (f'<figure><img alt="{html.escape(block.caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{_inline(block.caption)}</figcaption></figure>")
    if isinstance(block, Interactive):
        from landscape.plot.html import PLOTLY_CONFIG

        div = block.figure.to_html(include_plotlyjs=False, full_html=False, config=PLOTLY_CONFIG,
                                   div_id=f"interactive-{index}", default_height="560px")
        return f'<figure class="interactive">{div}<figcaption>{_inline(block.caption)}</figcaption></figure>'
    if isinstance(block, Provenance):
        facts = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in block.facts)
        full = html.escape(json.dumps(block.inputs, indent=1, sort_keys=True, default=str)) if block.inputs else ""
        pre = f"<pre>{full}</pre>" if full else ""
        about = f": {html.escape(block.about)}" if block.about else ""
        return (f'<details class="provenance"><summary>How this was made{about}</summary><dl>{facts}</dl>{pre}'
                "</details>")
    raise TypeError(f"unknown block {type(block).__name__}")


def render_html(sections: Sequence[Section], *, title: str, sources: Sequence[str], versions: dict[str, str]) -> str:
    """The whole page (see the module docstring)."""
    from plotly.offline import get_plotlyjs

    needs_plotly = any(isinstance(b, Interactive) for s in sections for b in s.blocks)
    nav = "".join(f'<a href="#{s.key}">{html.escape(s.title)}</a>' for s in sections)
    body, index = [], 0
    for s in sections:
        parts = [f'<section id="{s.key}"><h2>{html.escape(s.title)}</h2>']
        if s.intro:
            parts.append(f"<p>{_inline(s.intro)}</p>")
        for block in s.blocks:
            parts.append(_html_block(block, index))
            index += 1
        parts.append("</section>")
        body.append("\n".join(parts))
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    meta = (f'<p class="meta">Made {when} from {html.escape(", ".join(sources))}; '
            f'{html.escape(", ".join(f"{k} {v}" for k, v in versions.items()))}.</p>')
    empty = "" if sections else "<p>No result was found under the given paths.</p>"
    script = f"<script>{get_plotlyjs()}</script>" if needs_plotly else ""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style>{script}'
            f"</head><body><nav>{nav}</nav><main><h1>{html.escape(title)}</h1>{meta}{empty}"
            + "\n".join(body) + "</main></body></html>\n")


def _md_cell(x: Any) -> str:
    return str(x).replace("|", "\\|").replace("\n", " ")


def render_markdown(sections: Sequence[Section], *, title: str, sources: Sequence[str], versions: dict[str, str],
                    figures_rel: str = "figures") -> str:
    """The same report as Markdown; figures linked under ``figures_rel``, interactive plots left to the HTML."""
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# {title}", "", f"Made {when} from {', '.join(sources)}; "
             + ", ".join(f"{k} {v}" for k, v in versions.items()) + ". The interactive surfaces are in report.html.",
             ""]
    if not sections:
        lines += ["No result was found under the given paths.", ""]
    for s in sections:
        lines += [f"## {s.title}", ""]
        if s.intro:
            lines += [s.intro, ""]
        for block in s.blocks:
            if isinstance(block, Text):
                lines += [block.text, ""]
            elif isinstance(block, Table):
                if block.caption:
                    lines += [f"**{block.caption}**", ""]
                lines.append("| " + " | ".join(_md_cell(h) for h in block.header) + " |")
                lines.append("|" + "---|" * len(block.header))
                lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
                lines.append("")
            elif isinstance(block, Figure):
                lines += [f"![{block.caption}]({figures_rel}/{block.path.name})", "", f"*{block.caption}*", ""]
            elif isinstance(block, Provenance):
                about = f": {block.about}" if block.about else ""
                lines += [f"<details><summary>How this was made{about}</summary>", ""]
                lines += [f"- {k}: `{v}`" for k, v in block.facts]
                lines += ["", "</details>", ""]
    return "\n".join(lines)
