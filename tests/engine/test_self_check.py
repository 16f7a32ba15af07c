"""Results that check themselves (issue 19): every plane, line and ray result re-evaluates the points it is built
from by a plain forward pass, records the difference in its sidecar under ``self_check``, prints it in the summary
line, and warns past 1e-4 naming the likely cause."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import landscape
from landscape.engine.self_check import TOLERANCE, describe_check

from support import small_bn_problem


def _net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


@pytest.fixture(scope="module")
def problem():
    """A small BN net, three states of it (with their own running statistics) and data."""
    return small_bn_problem()


def _slow_metrics(net: nn.Module, state: dict, data: dict, bn: str) -> list[float]:
    """Loss and accuracy the slow obvious way: load, (recompute BN over the whole training set in one batch), eval."""
    model = _net()
    model.load_state_dict(state)
    if bn == "recompute":
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.reset_running_stats()
                m.momentum = None
        model.train()
        with torch.no_grad():
            model(data["train"][0])
    model.eval()
    out = []
    with torch.no_grad():
        for x, y in (data["train"], data["test"]):
            logits = model(x).double()
            out += [float(F.cross_entropy(logits, y)), float((logits.argmax(1) == y).double().mean())]
    return out


@pytest.mark.parametrize("bn", ["fixed", "recompute", "interpolate"])
def test_plane_records_its_anchors_against_a_plain_pass(problem, bn):
    net, states, data = problem
    res = landscape.plane(net, states, data, grid=3, settings=landscape.Settings(bn=bn, progress=False))
    check = res.sidecar["self_check"]
    assert check["ok"] and check["max_rel_diff"] <= TOLERANCE
    assert [p["label"] for p in check["points"]] == ["p0", "p1", "p2"]
    # The recorded reference is what a slow loop gives (p0 for every mode: fixed uses p0's buffers there).
    ref = check["points"][0]["reference"]
    want = _slow_metrics(net, states[0], data, bn)
    np.testing.assert_allclose([ref["train_loss"], ref["train_acc"], ref["test_loss"], ref["test_acc"]], want,
                               rtol=1e-5)
    assert "self-check" in res.summary_line()


def test_fixed_bn_checks_other_anchors_with_the_first_points_buffers(problem):
    net, states, data = problem
    res = landscape.plane(net, states, data, grid=3, settings=landscape.Settings(bn="fixed", progress=False))
    ref = res.sidecar["self_check"]["points"][1]["reference"]
    mixed = {**states[1], **{k: v for k, v in states[0].items() if "running" in k}}
    np.testing.assert_allclose(ref["train_loss"], _slow_metrics(net, mixed, data, "fixed")[0], rtol=1e-5)


def test_line_rays_and_planes_around_one_point_check_themselves(problem, tmp_path):
    net, states, data = problem
    line = landscape.interpolate(net, states[0], states[1], data, t=(0.0, 1.0, 3),
                                 settings=landscape.Settings(bn="fixed", progress=False), out=tmp_path / "line")
    check = json.loads((tmp_path / "line" / "interp.json").read_text())["self_check"]
    assert [p["coords"] for p in check["points"]] == [[0.0], [1.0]] and check["ok"]
    # The engine's value at t = 0 is the grid's own first value.
    assert check["points"][0]["engine"]["train_loss"] == pytest.approx(line["train_loss"][0], rel=1e-6)
    rays = landscape.rays(net, states[:2], data, rays=landscape.Rays(directions=2, steps=3),
                          settings=landscape.Settings(progress=False))
    assert [p["label"] for p in rays.sidecar["self_check"]["points"]] == ["point 0", "point 1"]
    around = landscape.plane(net, data=data, center=states[2], directions="random", grid=3,
                             settings=landscape.Settings(progress=False))
    assert around.sidecar["self_check"]["points"][0]["coords"] == [0.0, 0.0]
    pca = landscape.plane(net, data=data, trajectory=states,
                          directions=landscape.Directions("pca", pca_center="mean"), grid=3,
                          settings=landscape.Settings(progress=False))
    assert pca.sidecar["self_check"]["ok"]  # the trajectory's mean, not a checkpoint


class _Noisy(nn.Module):
    """A layer left stochastic in eval mode: the kind of train/eval difference the check exists to catch."""

    def forward(self, x):
        return x + 0.5 * torch.randn_like(x)


def test_a_model_that_differs_between_passes_warns_with_a_cause(problem, capsys):
    _, states, data = problem
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), _Noisy(), nn.ReLU(), nn.Linear(8, 3))
    sd = [{k: v + 0.1 * torch.randn_like(v) for k, v in net.state_dict().items()} for _ in range(3)]
    res = landscape.plane(net, sd, data, grid=2, settings=landscape.Settings(progress=False))
    check = res.sidecar["self_check"]
    assert not check["ok"] and check["max_rel_diff"] > TOLERANCE
    err = capsys.readouterr().err
    assert "self-check" in err and "train/eval difference" in err
    assert "see the warning" in describe_check(check)


def test_a_bn_subset_is_named_as_the_cause(problem, capsys):
    net, states, data = problem
    res = landscape.interpolate(net, states[0], states[1], data, t=(0.0, 1.0, 2),
                                settings=landscape.Settings(bn="recompute", bn_samples=10, progress=False))
    assert not res.sidecar["self_check"]["ok"]
    assert "--bn-samples" in capsys.readouterr().err


def test_cli_sidecars_and_summary_carry_the_check(tiny_run, tmp_path, capsys):
    from landscape.cli import main

    out = tmp_path / "plane"
    assert main(["plane", "--run", str(tiny_run.out), "--out", str(out), "--grid", "2", "--device", "cpu",
                 "--quiet", "--no-plot"]) == 0
    printed = capsys.readouterr().out
    side = json.loads((out / "plane.json").read_text())
    assert side["self_check"]["ok"], side["self_check"]
    assert "self-check" in printed
    # A finished result run again keeps its check (nothing recomputed, nothing rewritten).
    before = (out / "plane.json").stat().st_mtime_ns
    assert main(["plane", "--run", str(tiny_run.out), "--out", str(out), "--grid", "2", "--device", "cpu",
                 "--quiet", "--no-plot"]) == 0
    assert (out / "plane.json").stat().st_mtime_ns == before


def test_the_check_can_be_left_out_to_time_the_engine(problem, capsys):
    _, _, data = problem
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), _Noisy(), nn.ReLU(), nn.Linear(8, 3))  # would fail the check
    start = dict(net.state_dict())
    res = landscape.interpolate(net, start, {k: v + 1 for k, v in start.items()}, data, t=(0.0, 1.0, 2),
                                settings=landscape.Settings(progress=False, self_check=False))
    assert res.sidecar["self_check"] == {"skipped": True}
    assert "self-check" not in capsys.readouterr().err and "self-check" not in res.summary_line()
