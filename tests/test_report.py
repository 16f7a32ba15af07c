"""``swa-landscape report`` (issue 12): one page of whatever exists — every subset of results, NaN/inf —
self-contained (nothing loaded from the network, images inlined), with the numbers of the result files
and the provenance of their sidecars; in headless Chromium it renders each section without a JavaScript
error."""

from __future__ import annotations

import json
import re

import pytest

from landscape.plot.html import network_references
from landscape.report import build_report

from browser import find_chromium, open_page
from conftest import cli
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
def test_any_subset(tmp_path, only, expected):
    src = _all(tmp_path / "src")
    files = build_report([src / only], tmp_path / "rep")
    assert files.sections == expected
    assert _sections(files.html.read_text()) == expected
    assert ("* plotly.js v" in files.html.read_text()) == (only == "plane")  # no plotly.js without a surface


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
    files = build_report([src], tmp_path / "rep")
    result = open_page(chromium, files.html, height=1400, ready="document.querySelector('.js-plotly-plot .main-svg')",
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
