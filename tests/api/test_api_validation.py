"""Issue 19: the Python API validates as the command line does, through the same validators, before any work;
degenerate planes (zero or parallel directions, coincident anchors) are refused; the sharpness API's quirks."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
import torch.nn as nn

import landscape
from landscape.geometry.grid import Axis, GeometryError, check_direction_pair, check_grid, parse_axis
from landscape.curvature.sharpness import DEFAULT_METRICS, parse_metrics
from landscape.engine.weights import ParamSpace
from swa.errors import UserError


EVAL = dict(progress=False, device="cpu", log=lambda _: None)  # no bar, no info lines


def _num_params(model):
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------ axes and grids: one validator
@pytest.mark.parametrize("value,match", [
    ((1, 1, 3), r"`x` \(1, 1, 3\): min must be below max"),
    ((2, 1, 3), r"min must be below max"),
    ((0, math.nan, 3), r"`x` \(0, nan, 3\): min and max must be finite"),
    ((-math.inf, 1, 3), r"finite"),
    ((0, 1, 1), r"`x` \(0, 1, 1\): needs at least 2 points"),
    ((0, 1, 2.5), r"points must be an integer"),
    ((0, 1), r"`x` must be \(min, max, points\)"),
    ("0:1:3", r"`x` must be \(min, max, points\)"),
])
def test_plane_axes_are_checked(small_mlp, value, match):
    model, states, data = small_mlp
    with pytest.raises(ValueError, match=match):
        landscape.plane(model, states, data, grid=landscape.Grid(x=value, y=(0, 1, 3)),
                        settings=landscape.Settings(**EVAL))


@pytest.mark.parametrize("grid", [0, 1, -5, 2.5, "5", True])
def test_plane_grid_is_checked(small_mlp, grid):
    model, states, data = small_mlp
    match = rf"^`grid` must be (at least 2|an integer >= 2), got {re.escape(repr(grid))}$"
    with pytest.raises(ValueError, match=match):
        landscape.plane(model, states, data, grid=grid, settings=landscape.Settings(**EVAL))
    with pytest.raises(ValueError, match=match):  # around a point: the same check
        landscape.plane(model, data=data, center=states[0], grid=grid, settings=landscape.Settings(**EVAL))


@pytest.mark.parametrize("margin", [-0.1, math.nan, math.inf, "0.2"])
def test_plane_margin_is_checked(small_mlp, margin):
    model, states, data = small_mlp
    with pytest.raises(ValueError, match=r"`margin` must be a finite number >= 0"):
        landscape.plane(model, states, data, grid=landscape.Grid(points=3, margin=margin),
                        settings=landscape.Settings(**EVAL))


def test_axis_checks_itself_and_cli_and_api_share_it():
    for lo, hi, n in ((1, 1, 3), (0, math.nan, 3), (0, 1, 1)):
        with pytest.raises(GeometryError):
            Axis(lo, hi, n)
    with pytest.raises(GeometryError, match=r"--x '1:1:3': min must be below max"):
        parse_axis("1:1:3", "--x")
    with pytest.raises(UserError, match=r"--grid must be at least 2, got 0"):
        check_grid(0, "--grid")
    assert check_grid(None, "grid") is None and check_grid(np.int64(5), "grid") == 5
    assert isinstance(check_grid(np.int64(5), "grid"), int)
    assert issubclass(UserError, ValueError)


@pytest.mark.parametrize("t,match", [
    ([0.0, math.nan], r"`t` must be a non-empty 1-D array of finite numbers"),
    ([], r"`t` must be a non-empty 1-D array"),
    ([[0.0, 1.0], [2.0, 3.0]], r"`t` must be a non-empty 1-D array"),
    ("abc", r"`t` must be a non-empty 1-D array"),
    (Axis(0, 1, 2), None),
])
def test_interpolate_t_is_checked(small_mlp, t, match):
    model, states, data = small_mlp
    if match is None:  # an Axis is fine
        assert len(landscape.interpolate(model, states[0], states[1], data, t=t,
                                         settings=landscape.Settings(**EVAL)).t) == 2
        return
    with pytest.raises(ValueError, match=match):
        landscape.interpolate(model, states[0], states[1], data, t=t, settings=landscape.Settings(**EVAL))


@pytest.mark.parametrize("kwargs,match", [
    ({"directions": 0}, r"`directions` must be at least 1, got 0"),
    ({"directions": 2.5}, r"`directions` must be an integer >= 1, got 2.5"),
    ({"directions": "random"}, r"`directions` must be an integer >= 1, got 'random'"),
    ({"steps": 1}, r"`steps` must be at least 2, got 1"),
    ({"steps": 3.0}, r"`steps` must be an integer >= 2, got 3.0"),
    ({"max_distance": math.nan}, r"`max_distance` must be a finite number > 0, got nan"),
    ({"max_distance": -1.0}, r"`max_distance` must be a finite number > 0, got -1.0"),
    ({"delta": 0.0}, r"`delta` must be a finite number > 0, got 0.0"),
    ({"delta": -0.1}, r"`delta` must be a finite number > 0, got -0.1"),
    ({"delta": math.nan}, r"`delta` must be a finite number > 0, got nan"),
    ({"delta": math.inf}, r"`delta` must be a finite number > 0, got inf"),
    ({"normalization": "bogus"}, r"`normalization` must be one of filter, layer, none, unit, got 'bogus'"),
])
def test_rays_arguments_are_checked_with_their_api_names(small_mlp, kwargs, match):
    """``landscape.Rays`` is checked when built (before any work), naming the Python argument."""
    model, states, data = small_mlp
    with pytest.raises(ValueError, match=rf"^{match}$") as exc:
        landscape.rays(model, [states[0]], data, rays=landscape.Rays(**kwargs), settings=landscape.Settings(**EVAL))
    assert "--" not in str(exc.value)  # the API's spelling, not the command line's


@pytest.mark.parametrize("number,match", [(0, r"`directions` must be at least 1, got 0"),
                                          (2.5, r"`directions` must be an integer >= 1, got 2.5")])
def test_rays_given_as_a_number_is_checked_as_the_directions(small_mlp, number, match):
    model, states, data = small_mlp
    with pytest.raises(ValueError, match=rf"^{match}$"):
        landscape.rays(model, [states[0]], data, rays=number, settings=landscape.Settings(**EVAL))


def test_settings_name_the_api_argument():
    """``landscape.Settings`` is checked when built, naming the Python argument wherever it is built."""
    with pytest.raises(ValueError, match=r"^`batch_size` must be a positive integer, got 0$"):
        landscape.Settings(batch_size=0)
    with pytest.raises(ValueError, match=r"^`max_points` must be a positive integer, got -1$"):
        landscape.Settings(max_points=-1)


def test_former_keywords_name_their_new_form(small_mlp):
    """A keyword of the former API is one TypeError that names its new form, before any work."""
    model, states, data = small_mlp
    with pytest.raises(TypeError, match=r"^plane\(\) no longer takes bn=, x=, hessian_samples=, task=: pass "
                       r"settings=landscape.Settings\(bn='fixed'\), grid=landscape.Grid\(x=\(0, 1, 2\)\), "
                       r"directions=landscape.Directions\(hessian_samples=8\), "
                       r"loss=landscape.Loss\(task='classification'\)$"):
        landscape.plane(model, states, data, bn="fixed", x=(0, 1, 2), hessian_samples=8, task="classification")
    with pytest.raises(TypeError, match=r"^sharpness\(\) no longer takes samples=: pass "
                       r"settings=landscape.Settings\(samples=10\)$"):
        landscape.sharpness(model, states[:1], data, samples=10)
    with pytest.raises(TypeError, match=r"^rays\(\) no longer takes trainable_only=: pass "
                       r"params=landscape.Params\(trainable_only=True\)$"):
        landscape.rays(model, states[:1], data, trainable_only=True)


@pytest.mark.parametrize("call,new", [
    (lambda m, s, d: landscape.plane(m, s, d, labels=["a", "b", "c"]),
     r"^plane\(\) no longer takes labels=: pass points=\{label: point, \.\.\.\}$"),
    (lambda m, s, d: landscape.sharpness(m, s[:2], d, labels=["a", "b"]),
     r"^sharpness\(\) no longer takes labels=: pass points=\{label: point, \.\.\.\}$"),
    (lambda m, s, d: landscape.interpolate(m, s[0], s[1], d, log=print),
     r"^interpolate\(\) no longer takes log=: pass settings=landscape.Settings\(log=\.\.\.\)$"),
    (lambda m, s, d: landscape.plane(m, s, d, log=lambda _: None),
     r"^plane\(\) no longer takes log=: pass settings=landscape.Settings\(log=\.\.\.\)$"),
    (lambda m, s, d: landscape.rays(m, s[:1], d, max_distance=1.0),
     r"^rays\(\) no longer takes max_distance=: pass rays=landscape.Rays\(max_distance=1.0\)$"),
    (lambda m, s, d: landscape.rays(m, s[:1], d, directions=2, steps=3, log=print, labels=["a"]),
     r"^rays\(\) no longer takes directions=, steps=, log=, labels=: pass rays=landscape.Rays\(directions=2, "
     r"steps=3\), settings=landscape.Settings\(log=\.\.\.\), points=\{label: point, \.\.\.\}$"),
])
def test_labels_log_and_ray_keywords_name_their_new_form(small_mlp, call, new):
    """``labels=``, ``log=`` and the rays' own keywords (issue 22) are one TypeError naming the new form."""
    model, states, data = small_mlp
    with pytest.raises(TypeError, match=new):
        call(model, states, data)


def test_params_choose_the_space_by_name_and_by_requires_grad():
    """``landscape.Params``: ``match`` and ``trainable_only`` together select exactly the names a plain loop over
    ``named_parameters`` keeps; ``params=`` given just a regex is ``Params(match=regex)``."""
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2), nn.Linear(2, 2))
    net[0].weight.requires_grad_(False)
    want = [n for n, p in net.named_parameters() if p.requires_grad and ("0." in n or "2." in n)]
    space = ParamSpace.of(net, landscape.Params(match=r"^[02]\.", trainable_only=True))
    assert list(space.param_names) == want == ["0.bias", "2.weight", "2.bias"]
    assert ParamSpace.of(net, r"^[02]\.").param_names == ParamSpace.of(net, landscape.Params(r"^[02]\.")).param_names
    assert space.describe()["selection"] == "'^[02]\\\\.' (trainable only)"


def test_sharpness_refuses_settings_that_do_not_apply(small_mlp):
    model, states, data = small_mlp
    with pytest.raises(ValueError, match=r"^`bn` must be 'fixed' .* or 'recompute' for sharpness, got 'interpolate'$"):
        landscape.sharpness(model, states[:1], data, settings=landscape.Settings(bn="interpolate"))
    with pytest.raises(ValueError, match=r"^`chunk`, `precision` do\(es\) not apply to sharpness"):
        landscape.sharpness(model, states[:1], data, settings=landscape.Settings(chunk=2, precision="bf16"))


# ------------------------------------------------------------------ degenerate planes
def _pair(model, kind):
    gen = torch.Generator().manual_seed(1)
    d = torch.randn(2, _num_params(model), generator=gen)
    if kind == "zero":
        d[1] = 0
    elif kind == "parallel":
        d[1] = -3 * d[0]
    elif kind == "almost parallel":
        d[1] = d[0] + 1e-9 * d[1]
    return d


def _as_dict(model, d):
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    out = {}
    for axis, row in zip("xy", d):
        parts, offset = {}, 0
        for name, shape in zip(names, shapes):
            parts[name] = row[offset:offset + shape.numel()].reshape(shape).clone()
            offset += shape.numel()
        out[axis] = parts
    return out


@pytest.mark.parametrize("kind,match", [("zero", r"direction 2 is zero"), ("parallel", r"parallel"),
                                        ("almost parallel", r"parallel")])
@pytest.mark.parametrize("form", ["tensor", "dict", "file"])
def test_zero_or_parallel_directions_are_refused(small_mlp, tmp_path, kind, match, form):
    model, states, data = small_mlp
    d = _pair(model, kind)
    given = {"tensor": d, "dict": _as_dict(model, d), "file": tmp_path / "dirs.pt"}[form]
    if form == "file":
        torch.save(_as_dict(model, d), given)
    with pytest.raises(ValueError, match=match) as exc:
        landscape.plane(model, data=data, center=states[0], directions=given, grid=3,
                        settings=landscape.Settings(**EVAL))
    assert len(str(exc.value).splitlines()) == 1
    if form == "file":
        assert "dirs.pt" in str(exc.value)


def test_check_direction_pair():
    gen = torch.Generator().manual_seed(0)
    d = torch.randn(2, 50, generator=gen)
    check_direction_pair(d, "directions")  # independent: fine
    with pytest.raises(GeometryError, match=r"directions: direction 1 is zero"):
        check_direction_pair(torch.stack([torch.zeros(50), d[1]]), "directions")
    with pytest.raises(GeometryError, match=r"directions: the two directions are parallel \(\|cos\| = 1"):
        check_direction_pair(torch.stack([d[0], 2 * d[0]]), "directions")
    with pytest.raises(GeometryError, match=r"NaN or inf"):
        check_direction_pair(torch.stack([d[0], torch.full((50,), math.nan)]), "directions")


def test_coincident_and_collinear_anchors_are_refused_naming_the_points(small_mlp):
    model, states, data = small_mlp
    with pytest.raises(GeometryError, match=r"p0 and p1 hold the same weights"):
        landscape.plane(model, [states[0], states[0], states[1]], data, grid=3,
                        settings=landscape.Settings(**EVAL))
    with pytest.raises(GeometryError, match=r"a and c hold the same weights"):
        landscape.plane(model, {"a": states[0], "b": states[1], "c": states[0]}, data, grid=3,
                        settings=landscape.Settings(**EVAL))
    mid = {k: (states[0][k] + states[1][k]) / 2 if v.dtype.is_floating_point else v for k, v in states[0].items()}
    with pytest.raises(GeometryError, match=r"p0, p1 and p2 are collinear"):
        landscape.plane(model, [states[0], states[1], mid], data, grid=3,
                        settings=landscape.Settings(**EVAL))


# ------------------------------------------------------------------ sharpness
def test_parse_metrics_takes_a_string_and_refuses_nothing():
    assert parse_metrics(None) == DEFAULT_METRICS
    assert parse_metrics("hessian_trace") == ("hessian_trace",)
    assert parse_metrics("hessian_trace, eps_sharpness") == ("hessian_trace", "eps_sharpness")
    assert parse_metrics(["hessian_trace,pac_bayes"]) == ("hessian_trace", "pac_bayes")
    for nothing in ([], "", [""], ",", ()):
        with pytest.raises(UserError, match=r"no metric given; choose from .*hessian_trace"):
            parse_metrics(nothing)
    with pytest.raises(UserError, match=r"unknown metric\(s\) bogus;"):
        parse_metrics("bogus")


def test_sharpness_api_metrics_and_result_mapping(small_mlp):
    model, states, data = small_mlp
    with pytest.raises(ValueError, match=r"no metric given"):
        landscape.sharpness(model, [states[0]], data, metrics=[], settings=landscape.Settings(**EVAL))
    res = landscape.sharpness(model, [states[0], states[1]], data, metrics="hessian_trace", trace_matvecs=3,
                              settings=landscape.Settings(**EVAL))
    assert "point 0" in res and "point 1" in res and "nothing" not in res and 0 not in res
    assert list(res) == ["point 0", "point 1"] == list(res.keys()) and len(res) == 2
    assert set(res["point 0"]["metrics"]) == {"hessian_trace"}
    assert dict(res.items())["point 1"] is res["point 1"]
    with pytest.raises(KeyError, match=r"no point 'nothing'; points are point 0, point 1"):
        res["nothing"]
