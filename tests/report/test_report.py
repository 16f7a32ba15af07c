"""``swa-landscape report`` (issue 12): one page of whatever exists — every subset of results, NaN/inf —
self-contained (nothing loaded from the network, images inlined), with the numbers of the result files
and the provenance of their sidecars; in headless Chromium it renders each section without a JavaScript
error."""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

import numpy as np
import pytest

from landscape.plot.html import network_references
from landscape.report import build_report

from browser import find_chromium, open_page
from support import cli
from plot_cases import write_line, write_plane, write_rays, write_run, write_sharpness


def _all(d, nonfinite=False):
    write_run(d / "runs" / "sgd", "sgd")
    write_run(d / "runs" / "swa", "swa")
    write_plane(d / "plane", nonfinite=nonfinite)
    write_line(d / "line", "SWA", nonfinite=nonfinite)
    write_rays(d / "rays", nonfinite=nonfinite)
    write_sharpness(d / "sharp")
    return d


def _sections(html: str) -> list[str]:
    return re.findall(r'<section id="(\w+)">', html)


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_full_report_has_every_section_and_is_self_contained(tmp_path, capsys):
    src = _all(tmp_path / "src")
    code, out, err = cli(capsys, "report", str(src), "--out", str(tmp_path / "rep"), "--quiet")
    assert code == 0, err
    html = (tmp_path / "rep" / "report.html").read_text()
    assert _sections(html) == ["runs", "results", "curves", "planes", "lines", "rays", "sharpness", "spectrum"]
    assert network_references(html) == []
    assert html.count("* plotly.js v") == 1  # plotly.js inlined once, for the surface
    figures = sorted(p.name for p in (tmp_path / "rep" / "figures").glob("*.png"))
    assert figures == ["curves.png", "line-line.png", "plane-plane.png", "rays-rays.png", "sharpness.png",
                       "spectrum.png"]
    assert len(re.findall(r'<img alt="[^"]*" src="data:image/png;base64,', html)) == len(figures)  # inlined
    md = (tmp_path / "rep" / "report.md").read_text()
    for fig in (tmp_path / "rep" / "figures").glob("*.png"):
        assert f"(figures/{fig.name})" in md
    # The numbers are the files': the results table holds each run's last epoch, the sharpness table the JSON.
    last = json.loads((src / "runs" / "swa" / "metrics.jsonl").read_text().splitlines()[-1])
    settings_row, row = [line for line in md.splitlines() if line.startswith("| swa ")]
    assert settings_row.startswith("| swa | mlp | digits | swa | 12 |")
    assert f"{last['test_loss']:.4g}" in row and f"{100 * last['test_acc']:.4g}" in row
    assert "| hessian_trace | 50 ± 2 | 25 ± 1 |" in md
    # Provenance from the sidecars: model, data, BN mode of each result.
    assert md.count("How this was made") == 2 + 3 + 1  # two runs, three landscape results, one sharpness file
    assert "cnn_small · digits · BN recompute" in html


@pytest.mark.parametrize("only,expected", [
    ("plane", ["planes"]), ("sharp", ["sharpness", "spectrum"]), ("runs", ["runs", "results", "curves"]),
    ("line", ["lines"]), ("rays", ["rays"]),
])
@pytest.mark.slow  # over 1 s: not in make test-fast
def test_any_subset(tmp_path, only, expected):
    src = _all(tmp_path / "src")
    files = build_report([src / only], tmp_path / "rep")
    assert files.sections == expected
    assert _sections(files.html.read_text()) == expected
    assert ("* plotly.js v" in files.html.read_text()) == (only == "plane")  # no plotly.js without a surface


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_nonfinite_results_are_reported_not_fatal(tmp_path):
    src = _all(tmp_path / "src", nonfinite=True)
    files = build_report([src], tmp_path / "rep")
    assert "planes" in files.sections and "rays" in files.sections
    md = files.markdown.read_text()
    assert "Non-finite values" in md and "in train loss" in md
    for png in (tmp_path / "rep" / "figures").glob("*.png"):
        assert png.stat().st_size > 5000  # drawn, not empty


def test_bad_paths_are_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for args in ([str(tmp_path / "nope")], [str(tmp_path / "empty")]):
        code, _, err = cli(capsys, "report", *args, "--out", str(tmp_path / "rep"))
        assert code != 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    code, _, err = cli(capsys, "report", str(tmp_path), "--out", str(tmp_path / "rep"), "--dpi", "5")
    assert code != 0 and "--dpi" in err


@pytest.mark.slow
def test_report_renders_in_chromium_without_errors(tmp_path):
    chromium, why = find_chromium()
    if chromium is None:
        pytest.skip(why)
    src = _all(tmp_path / "src", nonfinite=True)
    files = build_report([src], tmp_path / "rep", dpi=60)  # the page is under test, not the figures' resolution
    # The surface is drawn when scrolled into view (render._LAZY_JS): scroll to it, then wait for it.
    scrolled = "(document.querySelector('.surface-slot').scrollIntoView({block: 'center'}), true)"
    result = open_page(chromium, files.html, width=900, height=1400,
                       ready=f"{scrolled} && document.querySelector('.js-plotly-plot .main-svg')",
                       evaluate={"sections": "Array.from(document.querySelectorAll('section')).map(s => s.id)",
                                 "visible": "Array.from(document.querySelectorAll('section')).every("
                                            "s => s.getBoundingClientRect().height > 50)",
                                 "images": "Array.from(document.images).every(i => i.complete && i.naturalWidth > 100)",
                                 "surfaces": "document.querySelectorAll('.js-plotly-plot').length"})
    assert result.errors == []
    assert result.values["sections"] == files.sections
    assert result.values["visible"] and result.values["images"] and result.values["surfaces"] == 1
    assert len(result.screenshot) > 10000


def test_runs_table_shows_a_setting_only_where_the_run_uses_it(tmp_path):
    """lr min belongs to cyclic/cosine, SWA lr to the swa schedule, cycle to averaging or a cyclic rate
    (``swa.config.TrainConfig``); elsewhere the cell is "–", not the config's unused default."""
    write_run(tmp_path / "runs" / "sgd", "sgd")  # cosine schedule, no averaging
    write_run(tmp_path / "runs" / "swa", "swa")  # swa schedule, averaging from epoch 6
    build_report([tmp_path / "runs"], tmp_path / "rep", title="t")
    lines = (tmp_path / "rep" / "report.md").read_text().splitlines()
    header = next(line for line in lines if line.startswith("| run | model |"))
    cols = [c.strip() for c in header.strip("|").split("|")]

    def row(run):
        cells = [c.strip() for c in next(line for line in lines if line.startswith(f"| {run} |")).strip("|").split("|")]
        return dict(zip(cols, cells))

    sgd, swa = row("sgd"), row("swa")
    assert (sgd["schedule"], sgd["lr min"], sgd["SWA lr"], sgd["cycle"]) == ("cosine", "0.0005", "–", "–")
    assert (swa["schedule"], swa["lr min"], swa["SWA lr"], swa["cycle"]) == ("swa", "–", "0.02", "1")


# ---------------------------------------------------------------- labels from files are text, not markup (issue 19)
EVIL = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "x\n## injected", "</details>",
        "nul\x00 bidi\u202eevil", "**bold** `code` [link](http://x) | pipe"]


def _evil(d):
    """Every kind of result, with labels and folder names that are HTML, Markdown, newlines and controls."""
    write_run(d / "run one <b>", "swa")
    plane = write_plane(d / "my plane <script>alert(1)</script>")
    side = json.loads(plane.with_suffix(".json").read_text())
    side["anchors"] = [{"label": e} for e in EVIL[:3]]
    for p, e in zip(side["projections"], EVIL):
        p["label"] = e
    side["inputs"]["model"]["name"] = "m\n# title </details>"
    side["inputs"]["command"] = "plane </details> `x` ``y``\n## injected"
    plane.with_suffix(".json").write_text(json.dumps(side))
    write_line(d / "line dir", EVIL[3], start=EVIL[4])
    write_rays(d / "rays", labels=(EVIL[0], EVIL[5]))
    write_sharpness(d / "sharp x", labels=(EVIL[2], EVIL[4]))
    return d


def _unescaped_markup(md: str) -> list[str]:
    """Lines of ``md`` with a raw ``<`` outside code spans, other than the report's own ``<details>``."""
    bad = []
    for line in md.splitlines():
        if re.fullmatch(r"<details><summary>[^<>]*</summary>|</details>|<!-- [\w -]+ -->", line):
            continue
        outside = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", line)  # drop code spans
        if re.search(r"(?<!\\)<", outside):
            bad.append(line)
    return bad


@pytest.mark.slow
def test_report_escapes_labels_in_markdown_and_html(tmp_path, capsys):
    src = _evil(tmp_path / "src")
    code, out, err = cli(capsys, "report", str(src), "--out", str(tmp_path / "rep"), "--quiet")
    assert code == 0, err
    md = (tmp_path / "rep" / "report.md").read_text()
    files = build_report([src], tmp_path / "rep2")
    headings = [line for line in md.splitlines() if re.match(r" {0,3}#{1,6}(\s|$)", line)]
    assert len(headings) == 1 + len(files.sections), headings  # the title and one per section
    assert "<script" in md  # in the provenance's code spans, shown as typed; everywhere else escaped:
    assert _unescaped_markup(md) == []  # no raw "<" outside code spans but the report's own <details>
    lines = md.splitlines()
    opened = [line for line in lines if line.startswith("<details>")]
    assert len(opened) == lines.count("</details>") == md.count("How this was made") == 5  # a run, 4 results
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]", md)
    # Image links work with spaces and brackets in folder names.
    links = re.findall(r"!\[[^\n]*?\]\(([^)\s]+)\)", md)
    assert len(links) == len(list((tmp_path / "rep" / "figures").glob("*.png"))) >= 5
    for link in links:
        assert (tmp_path / "rep" / unquote(link)).is_file(), link
    html = (tmp_path / "rep" / "report.html").read_text()
    page = html[html.index("</script>") + 9:] if "* plotly.js v" in html else html  # past the inlined library
    assert "<script>alert" not in page and "<img src=x" not in page and "run one <b>" not in page
    assert "&lt;script&gt;alert(1)" in page and "run one &lt;b&gt;" in page
    assert not re.search("[\x00\u202e]|\\\\u0000|\\\\u202e", page, re.I)


# ---------------------------------------------------------------- many surfaces, few WebGL contexts (issue 19)
_SCROLL = """(async () => {
  const slots = Array.from(document.querySelectorAll('.surface-slot'));
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const drawn = s => !!(s._fullLayout && s.querySelector('.gl-container canvas'));
  const wait = async s => { for (let k = 0; k < 150 && !drawn(s); k++) await sleep(100); return drawn(s); };
  const shown = [], live = [];
  for (const s of ORDER(slots)) {
    s.scrollIntoView({block: 'center'});
    shown.push(await wait(s));
    live.push(slots.filter(drawn).length);
  }
  const target = slots[TARGET];
  target.scrollIntoView({block: 'center'});
  const last = await wait(target);
  await sleep(1500);
  return {n: slots.length, shown, live, last};
})()"""


@pytest.mark.slow
def test_many_surfaces_are_drawn_when_scrolled_to_with_few_webgl_contexts(tmp_path):
    """One plane more than Chromium allows WebGL contexts: every surface draws when scrolled into view, at most
    MAX_LIVE_SURFACES live at once, and Chromium never warns "Too many active WebGL contexts" (past its limit it
    drops the oldest: a blank surface). Chromium's limit is 16; the test starts it with
    ``--max-active-webgl-contexts`` at MAX_LIVE_SURFACES + 1, the same eviction with half the surfaces to draw
    in software (``test_the_lowered_limit_evicts_without_the_purge`` shows that the lowered limit bites)."""
    from landscape.report.render import MAX_LIVE_SURFACES

    chromium, why = find_chromium()
    if chromium is None:
        pytest.skip(why)
    limit = MAX_LIVE_SURFACES + 1
    n = limit + 1
    for i in range(n):  # small planes, written directly: the report, not the landscape, is under test
        write_plane(tmp_path / "src" / f"plane{i:02d}", alphas=np.linspace(-1, 2, 8), betas=np.linspace(-2, 1.5, 6))
    files = build_report([tmp_path / "src"], tmp_path / "rep", dpi=40)
    html = files.html.read_text()
    assert html.count('class="surface-slot"') == n
    assert not re.search(r'Plotly\.newPlot\(\s*"interactive', html)  # none drawn eagerly
    # One pass down to the last surface (each drawn in turn, the early ones purged), then back to the first:
    # drawn again after its context was released.
    for name, order, target in (("down-then-first", "s => s", "0"),):
        js = _SCROLL.replace("ORDER", f"({order})").replace("TARGET", target)
        result = open_page(chromium, files.html, width=480, height=480,  # fewer pixels to rasterize in software
                           ready="document.querySelector('.surface-slot')",
                           evaluate={"scroll": js}, timeout=300, flags=(f"--max-active-webgl-contexts={limit}",))
        (tmp_path / f"{name}.png").write_bytes(result.screenshot)
        values = result.values["scroll"]
        assert result.errors == [], name
        assert not [c for c in result.console if "WebGL" in c], name
        assert values["n"] == n and all(values["shown"]) and values["last"], (name, values)
        assert max(values["live"]) <= MAX_LIVE_SURFACES, (name, values["live"])


_CONTEXTS = """(async () => {
  const gls = [];
  for (let i = 0; i < COUNT; i++) {
    const c = document.createElement('canvas');
    document.body.appendChild(c);
    const gl = c.getContext('webgl');
    gl.clearColor(0, 0, 1, 1); gl.clear(gl.COLOR_BUFFER_BIT);
    gls.push(gl);
  }
  await new Promise(r => setTimeout(r, 300));
  return gls.map(gl => gl.isContextLost());
})()"""


@pytest.mark.slow
def test_the_lowered_limit_evicts_without_the_purge(tmp_path):
    """The control of the test above: with ``--max-active-webgl-contexts`` at MAX_LIVE_SURFACES + 1, one WebGL
    context more than that (plain canvases, no report) loses the oldest context and Chromium warns, as it does
    at 17 with its default limit. So a page that kept every surface live would fail the test above."""
    from landscape.report.render import MAX_LIVE_SURFACES

    chromium, why = find_chromium()
    if chromium is None:
        pytest.skip(why)
    limit = MAX_LIVE_SURFACES + 1
    page = tmp_path / "canvases.html"
    page.write_text("<!doctype html><html><body></body></html>")
    within = open_page(chromium, page, evaluate={"lost": _CONTEXTS.replace("COUNT", str(limit))}, settle=0.1,
                       flags=(f"--max-active-webgl-contexts={limit}",))
    over = open_page(chromium, page, evaluate={"lost": _CONTEXTS.replace("COUNT", str(limit + 1))}, settle=0.1,
                     flags=(f"--max-active-webgl-contexts={limit}",))
    assert not any(within.values["lost"]) and not [c for c in within.console if "WebGL" in c]
    assert over.values["lost"][0] and not any(over.values["lost"][1:])
    assert [c for c in over.console if "Too many active WebGL contexts" in c], over.console
