"""The sharpness figure's size follows its number of panels (issue 20: one metric was two-thirds blank)."""

from __future__ import annotations

import json

import pytest

from landscape.results.read import read_sharpness
from landscape.plot.sharpness import panel_grid, sharpness_figure
from landscape.plot.style import WIDTHS
from swa.errors import UserError
from tests.plot_cases import write_sharpness

ROWS = ("hessian_top_eigenvalues", "hessian_trace", "eps_sharpness[eps=0.001, full]", "pac_bayes_sigma")


def _doc(tmp_path, keep):
    """A ``sharpness.json`` of two checkpoints with only the metric rows ``keep``, read back."""
    path = write_sharpness(tmp_path, spectrum=False)
    doc = json.loads(path.read_text())
    for res in doc["results"].values():
        res["metrics"] = {k: v for k, v in res["metrics"].items() if k in keep}
    path.write_text(json.dumps(doc))
    return read_sharpness(path)


def _panel_share(fig):
    """The visible panels' share of the figure's area, after layout; and the number of hidden axes."""
    fig.canvas.draw()
    visible = [ax for ax in fig.axes if ax.get_visible()]
    area = sum(ax.get_position().width * ax.get_position().height for ax in visible)
    return area, len(fig.axes) - len(visible)


@pytest.mark.parametrize("width", ["double", "single"])
def test_one_metric_is_one_compact_panel(tmp_path, width):
    fig = sharpness_figure([_doc(tmp_path, ROWS[:1])], width=width)
    w, h = fig.get_size_inches()
    assert w == pytest.approx(WIDTHS["single"])  # a paper's column, not the double width
    share, hidden = _panel_share(fig)
    assert hidden == 0
    assert share > 0.35  # the old layout: one panel of three at 7 in, about 0.2 of the figure
    assert [ax.get_title().split("\n")[0] for ax in fig.axes] == ["Hessian top eigenvalues"]


def test_two_and_four_metrics(tmp_path):
    two = sharpness_figure([_doc(tmp_path / "two", ROWS[:2])])
    assert two.get_size_inches()[0] == pytest.approx(2 * WIDTHS["double"] / 3)
    assert _panel_share(two)[1] == 0 and len(two.axes) == 2
    four = sharpness_figure([_doc(tmp_path / "four", ROWS)])  # 2 × 2, not 3 + 1 with two empty slots
    assert four.get_size_inches()[0] == pytest.approx(2 * WIDTHS["double"] / 3)
    share, hidden = _panel_share(four)
    assert len(four.axes) == 4 and hidden == 0 and share > 0.35
    three = sharpness_figure([_doc(tmp_path / "three", ROWS[:3])])
    assert three.get_size_inches()[0] == pytest.approx(WIDTHS["double"]) and len(three.axes) == 3
    # one panel of the compact figure is as wide as one of a full row, or wider
    one = sharpness_figure([_doc(tmp_path / "one", ROWS[:1])])
    one.canvas.draw()
    assert one.axes[0].get_window_extent().width >= 0.95 * three.axes[0].get_window_extent().width


def test_panel_grid():
    assert panel_grid(1, "double") == (1, 1, WIDTHS["single"])
    assert panel_grid(2, "double") == (2, 1, pytest.approx(WIDTHS["double"] * 2 / 3))
    assert panel_grid(3, "double") == (3, 1, WIDTHS["double"])
    assert panel_grid(4, "double") == (2, 2, pytest.approx(WIDTHS["double"] * 2 / 3))
    assert panel_grid(5, "double") == (3, 2, WIDTHS["double"])
    assert panel_grid(7, "double") == (3, 3, WIDTHS["double"])
    assert panel_grid(1, "single") == (1, 1, WIDTHS["single"])
    assert panel_grid(3, "single") == (2, 2, WIDTHS["single"])
    with pytest.raises(UserError, match="unknown `width='wide'`"):
        panel_grid(1, "wide")
