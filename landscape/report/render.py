"""Rendering the report: one self-contained ``report.html`` and a ``report.md`` beside ``figures/``.

The HTML page inlines plotly.js once (for the interactive surfaces), embeds every PNG as a data URI
and loads nothing from the network (checked with :func:`landscape.plot.html.network_references`),
so it opens offline and can be mailed as one file. The Markdown file links the PNGs under
``figures/`` and folds provenance in ``<details>`` blocks (rendered by GitHub and most viewers).

Labels and names come from files: both renderers pass every one through
:func:`landscape.plot._common.clean_text` (no control or bidirectional-override characters, one line)
and escape it, for HTML (``html.escape``) and for Markdown (backslash escapes, code spans with a
longer fence, percent-encoded image links), so that a label is shown as typed and cannot add markup,
headings or scripts.

Browsers allow about 16 live WebGL contexts per page, and each 3D surface needs one: the report draws
a surface when it scrolls into view and purges it (``Plotly.purge``) when it scrolls away, keeping at
most :data:`MAX_LIVE_SURFACES` live; until then a placeholder with a "show" button holds its place.
"""

from __future__ import annotations

import base64
import html
import json
import re
from datetime import datetime, timezone
from typing import Any, Sequence
from urllib.parse import quote

from landscape.plot._common import clean_text
from landscape.report.blocks import Figure, Interactive, Provenance, Section, Table, Text, spans
from landscape.plot.html import PLOTLY_CONFIG

__all__ = ["render_html", "render_markdown", "MAX_LIVE_SURFACES"]

#: the most 3D surfaces drawn at once (each holds a WebGL context; browsers allow about 16)
MAX_LIVE_SURFACES = 6

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
.surface-slot { height: 560px; position: relative; }
.surface-slot .placeholder { position: absolute; inset: 0; display: flex; align-items: center;
      justify-content: center; background: #f6f8fa; border: 1px dashed #d0d7de; color: #57606a; }
"""

# Surfaces are drawn when near the viewport and purged when far from it, at most MAX live: every
# browser limits the live WebGL contexts of a page (Chromium: 16, then "Too many active WebGL contexts").
_LAZY_JS = """
(function () {
  var MAX = %(max)d, CONFIG = %(config)s, live = [];
  var slots = Array.prototype.slice.call(document.querySelectorAll('.surface-slot'));
  function placeholder(slot) {
    slot.innerHTML = '<div class="placeholder"><button type="button">show the 3D surface</button></div>';
    slot.querySelector('button').onclick = function () { draw(slot); };
  }
  function release(slot) {
    var i = live.indexOf(slot);
    if (i >= 0) live.splice(i, 1);
    var canvases = Array.prototype.slice.call(slot.querySelectorAll('canvas'));
    Plotly.purge(slot);
    canvases.forEach(function (c) {  // give the WebGL context back now, not at garbage collection
      var gl = c.__gl;
      var lose = gl && gl.getExtension && gl.getExtension('WEBGL_lose_context');
      if (lose) lose.loseContext();
    });
    delete slot.dataset.live;
    placeholder(slot);
  }
  function draw(slot) {
    if (slot.dataset.live) return;
    while (live.length >= MAX) {
      var far = live.filter(function (s) { return !s.dataset.near; });
      release(far.length ? far[0] : live[0]);
    }
    slot.dataset.live = '1';
    live.push(slot);
    var spec = JSON.parse(document.getElementById(slot.dataset.spec).textContent);
    slot.innerHTML = '';
    Plotly.newPlot(slot, spec.data, spec.layout, CONFIG);
  }
  // Remember each WebGL context a canvas creates, so that release() can lose it.
  var getContext = HTMLCanvasElement.prototype.getContext;
  HTMLCanvasElement.prototype.getContext = function (kind) {
    var ctx = getContext.apply(this, arguments);
    if (ctx && /webgl/.test(String(kind))) this.__gl = ctx;
    return ctx;
  };
  slots.forEach(placeholder);
  if (!('IntersectionObserver' in window)) { slots.slice(0, MAX).forEach(draw); return; }
  var seen = new IntersectionObserver(function (entries) {
    entries.forEach(function (e) {
      if (e.isIntersecting) { e.target.dataset.near = '1'; draw(e.target); }
      else { delete e.target.dataset.near; if (e.target.dataset.live) release(e.target); }
    });
  }, {rootMargin: '400px 0px'});
  slots.forEach(function (s) { seen.observe(s); });
})();
"""


def _h(text: Any) -> str:
    """Plain text for HTML: cleaned (:func:`clean_text`) and escaped."""
    return html.escape(clean_text(text))


def _inline(text: str) -> str:
    """Markup-light (``**bold**``, ```code```; :func:`landscape.report.blocks.spans`) as HTML."""
    wrap = {"text": "{}", "bold": "<b>{}</b>", "code": "<code>{}</code>"}
    return "".join(wrap[kind].format(_h(value)) for kind, value in spans(text))


def _spec_json(figure) -> str:
    """The plotly figure as JSON that is safe inside ``<script type="application/json">``."""
    return figure.to_json().replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _html_block(block: Any, index: int) -> str:
    if isinstance(block, Text):
        return f"<p>{_inline(block.text)}</p>"
    if isinstance(block, Table):
        head = "".join(f"<th>{_h(h)}</th>" for h in block.header)
        body = "".join("<tr>" + "".join(f"<td>{_h(c)}</td>" for c in row) + "</tr>"
                       for row in block.rows)
        cap = f"<caption>{_inline(block.caption)}</caption>" if block.caption else ""
        return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if isinstance(block, Figure):
        data = base64.b64encode(block.path.read_bytes()).decode("ascii")
        alt = "".join(value for _, value in spans(block.caption))
        return (f'<figure><img alt="{_h(alt)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{_inline(block.caption)}</figcaption></figure>")
    if isinstance(block, Interactive):  # drawn by _LAZY_JS when scrolled into view
        spec = f'<script type="application/json" id="interactive-{index}-spec">{_spec_json(block.figure)}</script>'
        slot = f'<div class="surface-slot" id="interactive-{index}" data-spec="interactive-{index}-spec"></div>'
        return f'<figure class="interactive">{spec}{slot}<figcaption>{_inline(block.caption)}</figcaption></figure>'
    if isinstance(block, Provenance):
        facts = "".join(f"<dt>{_h(k)}</dt><dd>{_h(v)}</dd>" for k, v in block.facts)
        full = html.escape(json.dumps(block.inputs, indent=1, sort_keys=True, default=str)) if block.inputs else ""
        pre = f"<pre>{full}</pre>" if full else ""
        about = f": {_h(block.about)}" if block.about else ""
        return (f'<details class="provenance"><summary>How this was made{about}</summary><dl>{facts}</dl>{pre}'
                "</details>")
    raise TypeError(f"unknown block {type(block).__name__}")


def render_html(sections: Sequence[Section], *, title: str, sources: Sequence[str], versions: dict[str, str]) -> str:
    """The whole page (see the module docstring)."""
    from plotly.offline import get_plotlyjs

    needs_plotly = any(isinstance(b, Interactive) for s in sections for b in s.blocks)
    nav = "".join(f'<a href="#{s.key}">{_h(s.title)}</a>' for s in sections)
    body, index = [], 0
    for s in sections:
        parts = [f'<section id="{s.key}"><h2>{_h(s.title)}</h2>']
        if s.intro:
            parts.append(f"<p>{_inline(s.intro)}</p>")
        for block in s.blocks:
            parts.append(_html_block(block, index))
            index += 1
        parts.append("</section>")
        body.append("\n".join(parts))
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    meta = (f'<p class="meta">Made {when} from {_h(", ".join(sources))}; '
            f'{_h(", ".join(f"{k} {v}" for k, v in versions.items()))}.</p>')
    empty = "" if sections else "<p>No result was found under the given paths.</p>"
    script = f"<script>{get_plotlyjs()}</script>" if needs_plotly else ""
    lazy = ""
    if needs_plotly:
        lazy = f"<script>{_LAZY_JS % {'max': MAX_LIVE_SURFACES, 'config': json.dumps(PLOTLY_CONFIG)}}</script>"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_h(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style>{script}'
            f"</head><body><nav>{nav}</nav><main><h1>{_h(title)}</h1>{meta}{empty}"
            + "\n".join(body) + f"</main>{lazy}</body></html>\n")


_MD_SPECIAL = re.compile(r"[\\`*\[\]<>&#|~$]|(?<!\w)_|_(?!\w)")


def _md(text: Any) -> str:
    """Plain text for Markdown: one line, cleaned, every character with a Markdown or HTML meaning escaped."""
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(), clean_text(text))


def _md_code(text: Any) -> str:
    """``text`` as a code span, fenced by more backticks than it holds (shown exactly, HTML included)."""
    text = clean_text(text)
    if not text.strip():
        return "–"
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_inline(text: str) -> str:
    """Markup-light (:func:`landscape.report.blocks.spans`) as Markdown."""
    out = []
    for kind, value in spans(text):
        out.append(_md(value) if kind == "text" else f"**{_md(value)}**" if kind == "bold" else _md_code(value))
    return "".join(out)


def _md_line(line: str) -> str:
    """A paragraph's line: no indentation (code block) and no list, quote or heading marker at its start."""
    line = line.lstrip()
    line = re.sub(r"^(\d+)([.)])", r"\1\\\2", line)
    return "\\" + line if line[:1] in ("-", "+", "=") else line


def _md_cell(x: Any) -> str:
    return _md(x)


def render_markdown(sections: Sequence[Section], *, title: str, sources: Sequence[str], versions: dict[str, str],
                    figures_rel: str = "figures") -> str:
    """The same report as Markdown; figures linked under ``figures_rel``, interactive plots left to the HTML."""
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# {_md(title)}", "", f"Made {when} from {_md(', '.join(sources))}; "
             + _md(", ".join(f"{k} {v}" for k, v in versions.items()))
             + ". The interactive surfaces are in report.html.", ""]
    if not sections:
        lines += ["No result was found under the given paths.", ""]
    for s in sections:
        lines += [f"## {_md(s.title)}", ""]
        if s.intro:
            lines += [_md_line(_md_inline(s.intro)), ""]
        for block in s.blocks:
            if isinstance(block, Text):
                lines += [_md_line(_md_inline(block.text)), ""]
            elif isinstance(block, Table):
                if block.caption:
                    lines += [f"**{_md_inline(block.caption)}**", ""]
                lines.append("| " + " | ".join(_md_cell(h) for h in block.header) + " |")
                lines.append("|" + "---|" * len(block.header))
                lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
                lines.append("")
            elif isinstance(block, Figure):
                alt = _md("".join(value for _, value in spans(block.caption)))
                link = quote(f"{figures_rel}/{block.path.name}")  # spaces, brackets: percent-encoded
                lines += [f"![{alt}]({link})", "", f"*{_md_inline(block.caption)}*", ""]
            elif isinstance(block, Provenance):
                # Raw HTML: Markdown is not read inside it, so the name is HTML-escaped.
                about = f": {html.escape(clean_text(block.about))}" if block.about else ""
                lines += [f"<details><summary>How this was made{about}</summary>", ""]
                lines += [f"- {_md(k)}: {_md_code(v)}" for k, v in block.facts]
                lines += ["", "</details>", ""]
    return "\n".join(lines)
