"""Labels are plain text (issue 19): a ``$`` in a label, a folder's name or a sidecar reaches matplotlib
as text, not as mathtext; ``--math-labels`` opts in to math, and a label that is not valid math is then
drawn as plain text instead of failing. Control and bidirectional-override characters are stripped."""

from __future__ import annotations

import json
import re

import pytest

from support import cli
from plot_cases import write_line, write_plane, write_rays, write_run, write_sharpness

BAD = r"$\frac{1}{$"      # an unterminated fraction: mathtext cannot parse it
ALSO_BAD = r"run $\alpha_$"  # a subscript with nothing under it


def _dollar_sidecars(root):
    """Every kind of result, with ``$`` in folder names, sidecar labels, axis labels and the model name."""
    plane = write_plane(root / ALSO_BAD / "plane")
    side = json.loads(plane.with_suffix(".json").read_text())
    side["anchors"] = [{"label": BAD}, {"label": "$x^$"}, {"label": "a $ b"}]
    for p in side["projections"]:
        p["label"] = p["label"] + " $\\beta_$"
    side["axes"] = {"x": r"$\hat u_$", "y": "$$"}
    side["inputs"]["model"]["name"] = r"cnn $\sqrt{$"
    plane.with_suffix(".json").write_text(json.dumps(side))
    write_plane(root / "second $plane" / "plane")
    line = write_line(root / "line $", r"SWA $\frac{$")
    side = json.loads(line.with_suffix(".json").read_text())
    side["axis"] = "t $_$"
    line.with_suffix(".json").write_text(json.dumps(side))
    write_rays(root / "rays", labels=(r"SGD $\x$", "SWA $^$"))
    write_sharpness(root / "sharp", labels=(r"SGD $\frac{$", "SWA $_$"))
    write_run(root / ALSO_BAD, "swa")
    return root


def _texts(svg: str) -> str:
    """The text elements of an SVG written with ``svg.fonttype: none`` (mathtext is drawn as glyphs)."""
    return "\n".join(re.findall(r"<text\b[^>]*>([^<]*)</text>", svg))


def _figure_json(page: str) -> str:
    """The figure's part of a page (after the inlined plotly.js library, which has its own odd characters)."""
    return page[page.rindex("</script>", 0, page.index("Plotly.newPlot")):]


@pytest.mark.slow
def test_dollars_everywhere_are_plain_text(tmp_path, capsys):
    src = _dollar_sidecars(tmp_path / "src")
    code, out, err = cli(capsys, "plot", str(src), "--out", str(tmp_path / "fig"), "--format", "png", "svg")
    assert code == 0, err
    svg = "".join(p.read_text() for p in (tmp_path / "fig").glob("plane*.svg"))
    # drawn as typed (the anchors' labels have a halo, so they are paths in the SVG, not text)
    assert r"$\hat u_$" in _texts(svg) and r"cnn $\sqrt{$" in _texts(svg) and r"SWA $\beta_$" in _texts(svg)
    assert r"SGD $\frac{$" in _texts((tmp_path / "fig" / "sharpness.svg").read_text())
    assert ALSO_BAD in _texts((tmp_path / "fig" / "curves.svg").read_text())
    assert r"SWA $\frac{$" in _texts((tmp_path / "fig" / "interp.svg").read_text())


@pytest.mark.slow  # over 1 s: not in make test-fast
@pytest.mark.parametrize("kind", ["line", "rays", "sharp", "run"])
def test_labels_flag_with_dollars(tmp_path, capsys, kind):
    src = tmp_path / "src"
    n = {"line": 1, "rays": 2, "sharp": 2, "run": 1}[kind]
    {"line": lambda: write_line(src, "SWA"), "rays": lambda: write_rays(src),
     "sharp": lambda: write_sharpness(src, spectrum=False), "run": lambda: write_run(src, "swa")}[kind]()
    code, out, err = cli(capsys, "plot", str(src), "--out", str(tmp_path / "fig"), "--labels",
                         *[BAD] * n, "--format", "svg")
    assert code == 0, err
    assert "Traceback" not in err
    (svg,) = (tmp_path / "fig").glob("*.svg")
    assert BAD in svg.read_text()


def test_run_directory_with_a_dollar(tmp_path, capsys):
    write_run(tmp_path / ALSO_BAD, "swa")
    code, out, err = cli(capsys, "plot", str(tmp_path / ALSO_BAD), "--out", str(tmp_path / "fig"))
    assert code == 0, err
    assert (tmp_path / "fig" / "curves.png").stat().st_size > 5000


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_math_labels_draw_math_and_fall_back_on_bad_math(tmp_path, capsys):
    src = write_line(tmp_path / "src", "SWA")
    code, out, err = cli(capsys, "plot", str(src), "--out", str(tmp_path / "ok"), "--labels", r"$\alpha$",
                         "--math-labels", "--format", "svg")
    assert code == 0, err
    svg = (tmp_path / "ok" / "interp.svg").read_text()
    assert r"$\alpha$" not in _texts(svg)  # rendered as math (glyphs), not as typed
    code, out, err = cli(capsys, "plot", str(src), "--out", str(tmp_path / "bad"), "--labels", BAD,
                         "--math-labels", "--format", "svg")
    assert code == 0, err
    assert "Traceback" not in err
    assert BAD in _texts((tmp_path / "bad" / "interp.svg").read_text())  # invalid math: shown as typed


def test_landscape_and_report_commands_take_math_labels(capsys):
    from landscape.cli import build_parser

    parser = build_parser()
    for command in (["plane", "--run", "r", "--out", "o"], ["interp", "--run", "r", "--out", "o"],
                    ["rays", "--run", "r", "--out", "o"], ["report", "x", "--out", "o"]):
        assert parser.parse_args(command + ["--math-labels"]).math_labels is True
        assert parser.parse_args(command).math_labels is False


def test_control_and_bidi_characters_are_stripped():
    from landscape.plot._common import clean_text

    assert clean_text("a\x00b\u202ec\u2066d\x1b[31me\x7f\u200ff") == "abcd[31mef"
    assert clean_text("one\ntwo\r\nthree\u2028four") == "one two three four"
    assert clean_text("one\ntwo", newlines=True) == "one\ntwo"
    assert clean_text("lone \ud800 surrogate") == "lone  surrogate"


def test_nul_and_bidi_in_labels_are_not_drawn(tmp_path, capsys):
    src = write_line(tmp_path / "src", "SWA")
    code, out, err = cli(capsys, "plot", str(src), "--out", str(tmp_path / "fig"), "--labels", "a\x00b\u202ec",
                         "--format", "svg", "--html")
    assert code == 0, err
    for f in ("interp.svg", "interp.html"):
        text = (tmp_path / "fig" / f).read_text()
        text = _figure_json(text) if f.endswith(".html") else text
        assert "\x00" not in text and "\u202e" not in text and not re.search(r"\\u0000|\\u202e", text, re.I), f
        assert "abc" in text, f
