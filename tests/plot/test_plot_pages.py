"""Interactive pages (landscape.plot.surface, .pages, .html): what the surface shows against the grid, the
offline promise, and a real browser: headless Chromium opens each page from disk, logs no JavaScript error and
renders a plot (a non-blank screenshot)."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

from landscape.plot.html import network_references, page_html, write_page
from landscape.plot.pages import line_page, rays_page
from landscape.results.read import read_line, read_plane, read_rays
from landscape.plot.surface import on_surface, plane_page, surface_values

from browser import find_chromium, open_page
from plot_cases import write_line, write_plane, write_rays
from support import png_pixels


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """The three pages written from results with NaN/inf regions and a non-square negative grid."""
    d = tmp_path_factory.mktemp("pages")
    plane = read_plane(write_plane(d / "p", nonfinite=True))
    lines = [read_line(write_line(d / m, m, length=1 + i, nonfinite=i == 0)) for i, m in enumerate(("SGD", "SWA"))]
    rays = read_rays(write_rays(d / "r", nonfinite=True))
    return {
        "plane": write_page(plane_page(plane), d / "plane.html", "plane"),
        "interp": write_page(line_page(lines), d / "interp.html", "line"),
        "rays": write_page(rays_page([rays]), d / "rays.html", "rays"),
    }


def test_surface_is_the_grid_transposed_and_clipped(tmp_path):
    data = read_plane(write_plane(tmp_path, nonfinite=True))
    fig = plane_page(data, metrics=["train_loss", "test_err"], vmax={"train_loss": 2.0}, log=False)
    surf = fig.data[0]
    z = np.array(surf.z, dtype=float)
    train = data.values["train_loss"]
    assert z.shape == (len(data.betas), len(data.alphas))
    for i, j in [(0, 0), (3, 7), (14, 10), (5, 2)]:
        expected = train[i, j]
        if np.isnan(expected):
            assert np.isnan(z[j, i])
        else:
            assert z[j, i] == pytest.approx(min(expected, 2.0))
    # Hover data keeps the true (unclipped) values of every metric.
    custom = np.array(surf.customdata, dtype=float)
    np.testing.assert_array_equal(custom[..., 0], train.T)
    np.testing.assert_allclose(custom[..., 1], 100 * (1 - data.values["test_acc"].T))
    # A dropdown entry per metric and scale.
    labels = [b["label"] for b in fig.layout.updatemenus[0].buttons]
    assert labels == ["train loss · log", "train loss · linear", "test error (%) · log", "test error (%) · linear"]


def test_surface_values_log_and_floor():
    z = np.array([[0.0, 1.0], [100.0, np.inf], [np.nan, -np.inf]])
    out = surface_values(z, vmax=10.0, log=True)
    np.testing.assert_allclose(out[:2], np.log10([[0.5, 1.0], [10.0, 10.0]]))
    assert np.isnan(out[2]).all()


def test_markers_sit_on_the_surface():
    """Bilinear interpolation is exact for a function linear in x and y."""
    a, b = np.linspace(-1, 2, 7), np.linspace(-3, 0, 5)
    grid = 2.0 + 0.5 * a[:, None] - 1.5 * b[None, :]
    xy = np.array([[0.13, -2.2], [1.9, -0.1], [5.0, 0.0]])
    z = on_surface(a, b, grid, xy)
    np.testing.assert_allclose(z[:2], 2.0 + 0.5 * xy[:2, 0] - 1.5 * xy[:2, 1])
    assert np.isnan(z[2])


def test_pages_are_offline_and_inline_plotly_once(pages):
    for path in pages.values():
        html = path.read_text(encoding="utf-8")
        assert network_references(html) == []
        assert len(re.findall(r"plotly\.js v\d", html)) == 1
        assert html.count("Plotly.newPlot") == 1
        assert "<title>" in html


def test_network_references_are_found():
    bad = ['<script src="https://cdn.plot.ly/plotly.min.js"></script>', '<link rel="stylesheet" href="//x.org/a.css">',
           "<style>@import url(https://fonts.googleapis.com/css?family=Roboto);</style>",
           "<style>@font-face { font-family: X; src: url(x.woff) }</style>"]
    for html in bad:
        assert network_references(html), html


def test_write_page_refuses_network_pages(tmp_path, monkeypatch):
    import landscape.plot.html as html_mod

    monkeypatch.setattr(html_mod, "page_html", lambda fig, title: '<script src="https://x/p.js"></script>')
    with pytest.raises(RuntimeError, match="network"):
        write_page(None, tmp_path / "p.html", "t")
    assert not (tmp_path / "p.html").exists()


def test_page_html_escapes_the_title():
    import plotly.graph_objects as go

    assert "<title>a &lt;b&gt;</title>" in page_html(go.Figure(), "a <b>")


# ---------------------------------------------------------------- the browser
@pytest.fixture(scope="module")
def chromium():
    path, why = find_chromium(install=True)
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the browser tests, but {why}")
        pytest.skip(f"browser tests need Chromium: {why}")
    return path


READY = "document.querySelector('.js-plotly-plot') && document.querySelector('.js-plotly-plot')._fullLayout"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["plane", "interp", "rays"])
def test_page_renders_in_chromium(chromium, pages, name, tmp_path):
    result = open_page(chromium, pages[name], ready=READY, width=800, height=600, evaluate={  # fewer pixels to draw
        "svg": "document.querySelectorAll('.main-svg').length",
        "webgl": "document.querySelectorAll('canvas').length",
        "traces": "document.querySelector('.js-plotly-plot').data.length"})
    assert result.errors == [], result.errors
    px = png_pixels(result.screenshot)
    assert px.std() > 0.05, "blank screenshot"
    assert result.values["svg"] >= 1 and result.values["traces"] >= 3
    if name == "plane":  # the 3D surface is drawn with WebGL: some of the canvas is not white
        assert result.values["webgl"] >= 1
        assert (px.mean(axis=2) < 0.6).mean() > 0.02
    (tmp_path / f"{name}.png").write_bytes(result.screenshot)


@pytest.mark.slow
def test_browser_check_catches_errors(chromium, tmp_path):
    page = tmp_path / "bad.html"
    page.write_text("<html><body><p>x</p><script>console.error('boom'); missingFunction();</script></body></html>")
    result = open_page(chromium, page, settle=0.2)
    assert any("boom" in e for e in result.errors)
    assert any("missingFunction" in e for e in result.errors)


def test_line_page_marks_the_end_points(tmp_path):
    line = read_line(write_line(tmp_path, "SWA", start="SGD final"))
    fig = line_page([line])
    ends = [t for t in fig.data if t.mode == "markers"]
    assert [(t.x[0], t.name) for t in ends] == [(0.0, "SGD final"), (1.0, "SWA")]
    t = np.asarray(line.t)
    for trace in ends:
        i = int(np.flatnonzero(np.isclose(t, trace.x[0]))[0])
        assert trace.y[0] == pytest.approx(line.values["train_loss"][i])
    assert ends[1].marker.symbol == "star" and ends[0].marker.symbol == "circle"
