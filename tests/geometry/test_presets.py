"""Presets for the published conventions (issue 19): ``--like li2018 | garipov2018 | izmailov2018``, checked
against each paper's own formula, recorded in the sidecar and named in the figure's title."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import landscape
from landscape.plot.style import title_of
from swa.errors import UserError


@pytest.fixture(scope="module")
def mlp_problem():
    """A BN-free MLP, three states and data: BN recomputation changes nothing, so values are the plain loss."""
    g = torch.Generator().manual_seed(3)
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))
    base = {k: v.clone() for k, v in net.state_dict().items()}
    states = [{k: v + 0.3 * torch.randn(v.shape, generator=g) for k, v in base.items()} for _ in range(3)]
    x, y = torch.randn(80, 5, generator=g), torch.randint(0, 3, (80,), generator=g)
    return net, states, (x, y)


def _flat(state):
    return torch.cat([v.reshape(-1).double() for v in state.values()])


def _loss_at(net, template, flat, data):
    """Cross-entropy at the flat parameter vector ``flat``, the slow obvious way."""
    state, i = {}, 0
    for k, v in template.items():
        state[k] = flat[i:i + v.numel()].reshape(v.shape).float()
        i += v.numel()
    net = type(net)(*[m for m in net])  # same modules; load_state_dict replaces the values
    net.load_state_dict(state)
    with torch.no_grad():
        return float(F.cross_entropy(net(data[0]).double(), data[1]))


def test_garipov2018_is_their_plane_in_their_units(mlp_problem):
    net, states, data = mlp_problem
    res = landscape.plane(net, states, data, like="garipov2018", grid=5, settings=landscape.Settings(progress=False))
    # dnn-mode-connectivity's plane.py: u = w2 − w0, v = (w1 − w0) ⟂ u; p = w0 + α·dx·û + β·dy·v̂.
    w0, w1, w2 = (_flat(s) for s in states)
    u = w2 - w0
    dx = u.norm()
    u = u / dx
    v = w1 - w0
    v = v - (v @ u) * u
    dy = v.norm()
    v = v / dy
    np.testing.assert_allclose(res.alphas, np.linspace(-0.2, 1.2, 5))
    np.testing.assert_allclose(res.betas, np.linspace(-0.2, 1.2, 5))
    for i, j in ((0, 0), (2, 3), (4, 1)):
        a, b = res.alphas[i], res.betas[j]
        want = _loss_at(net, states[0], w0 + a * dx * u + b * dy * v, data)
        assert res["train_loss"][i, j] == pytest.approx(want, rel=1e-5)
    anchors = res.store.extra["anchors"]
    np.testing.assert_allclose(anchors[:2], [[0, 0], [1, 0]], atol=1e-9)  # w0 and w2 on the x axis
    assert anchors[2, 1] == pytest.approx(1.0)  # w1 at height one
    side = res.sidecar
    assert side["preset"]["name"] == "garipov2018" and side["preset"]["deviations"] == {"grid": 5}
    assert side["bn_mode"] == "recompute"
    assert [a["label"] for a in side["anchors"]] == ["p0", "p2", "p1"]
    assert "as Garipov et al. 2018" in title_of(side)
    assert side["self_check"]["ok"]


def test_li2018_around_a_point_and_refusals(mlp_problem):
    net, states, data = mlp_problem
    res = landscape.plane(net, data=data, center=states[0], like="li2018", grid=3,
                          settings=landscape.Settings(progress=False))
    side = res.sidecar
    assert side["preset"]["name"] == "li2018" and side["bn_mode"] == "fixed"
    np.testing.assert_allclose(res.alphas, [-1, 0, 1])
    assert side["directions"]["normalization"] == "filter"
    assert side["directions"]["include_bn_and_bias"] is False
    # Without the grid override the paper's 51 points per axis.
    from landscape.geometry.presets import plane_preset

    choice = plane_preset("li2018", around=True, bn=None, grid=None, margin=0.2, x_axis=None, y_axis=None,
                          directions=None, normalization="filter", include_bn_and_bias=False)
    assert (choice.x_axis.lo, choice.x_axis.hi, choice.x_axis.n) == (-1.0, 1.0, 51)
    with pytest.raises(UserError, match="around one checkpoint"):
        landscape.plane(net, states, data, like="li2018", settings=landscape.Settings(progress=False))
    with pytest.raises(UserError, match="sets `bn='fixed'`"):
        landscape.plane(net, data=data, center=states[0], like="li2018",
                        settings=landscape.Settings(bn="recompute", progress=False))
    with pytest.raises(UserError, match="like must be one of"):
        landscape.plane(net, states, data, like="goodfellow2015", settings=landscape.Settings(progress=False))


def test_cli_izmailov2018_records_the_preset(tiny_run, tmp_path, capsys):
    from landscape.cli import main

    out = tmp_path / "plane"
    assert main(["plane", "--run", str(tiny_run.out), "--like", "izmailov2018", "--grid", "2", "--out", str(out),
                 "--device", "cpu", "--quiet", "--no-plot"]) == 0
    side = json.loads((out / "plane.json").read_text())
    assert side["preset"]["name"] == "izmailov2018" and side["bn_mode"] == "recompute"
    with pytest.raises(SystemExit) as exc:
        main(["plane", "--run", str(tiny_run.out), "--like", "izmailov2018", "--bn", "fixed", "--out",
              str(tmp_path / "x"), "--device", "cpu", "--quiet"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--like izmailov2018 sets --bn recompute" in err[0]
