"""The directions of a plane around one point are reused by a resumed run only when everything they depend on
is the same (issue 22: resume keys built in one place, `landscape.engine.task.resume_key`).

Before, the Hessian directions' request left out the data: a plane recomputed into the same directory with
other data and `overwrite=True` reused the Hessian directions of the old data. The reference is a fresh
computation on the new data in an empty directory.
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn

import landscape
from landscape.compute.directions import load_directions
from landscape.engine.task import resume_key
from landscape.engine.weights import ParamSpace

SILENT = dict(progress=False, device="cpu", log=lambda _: None)


def _problem(seed: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 5, generator=g)
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).long()
    return x, y


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 2))


def _hessian_plane(net, data, out, **settings):
    landscape.plane(net, data=data, center={"w": net.state_dict()}, directions="hessian", grid=3, out=out,
                    settings=landscape.Settings(**SILENT, **settings))
    return load_directions(out / "directions.pt", ParamSpace.of(net))


@pytest.mark.slow  # three Hessian planes (over 1 s): not in make test-fast
def test_hessian_directions_follow_the_data_under_overwrite(tmp_path):
    net = _net()
    old = _hessian_plane(net, _problem(1), tmp_path / "plane")
    again = _hessian_plane(net, _problem(2), tmp_path / "plane", overwrite=True)
    fresh = _hessian_plane(net, _problem(2), tmp_path / "fresh")
    assert not torch.allclose(old.abs(), fresh.abs(), atol=1e-3)  # other data, other top eigenvectors
    assert torch.equal(again, fresh)
    request = json.loads((tmp_path / "plane" / "plane.json").read_text())["directions_request"]
    assert request["about"]["data"] == json.loads((tmp_path / "fresh" / "plane.json").read_text())[
        "directions_request"]["about"]["data"]


@pytest.mark.slow
def test_same_request_resumes_with_the_saved_directions(tmp_path):
    net, data = _net(), _problem(1)
    first = _hessian_plane(net, data, tmp_path)
    lines = []
    landscape.plane(net, data=data, center={"w": net.state_dict()}, directions="hessian", grid=3, out=tmp_path,
                    settings=landscape.Settings(**{**SILENT, "log": lines.append}))
    assert any("directions: reusing" in line for line in lines)
    assert torch.equal(load_directions(tmp_path / "directions.pt", ParamSpace.of(net)), first)


def test_resume_key_merges_parts_in_order_and_adds_selection():
    net = _net()
    space = ParamSpace.of(net, r"^2\.")
    key = resume_key({"command": "x", "a": 1}, {"a": (2, 3)}, space=space)
    assert key == {"command": "x", "a": [2, 3], "params": space.selection}
    assert resume_key({"a": 1}, space=ParamSpace.of(net)) == {"a": 1}  # no selection: no key
