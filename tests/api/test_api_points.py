"""Issue 22: points named by a ``{label: point}`` mapping (the former ``labels=``), and the rays' options as one
``landscape.Rays`` (or just the number of directions)."""

from __future__ import annotations

import numpy as np
import pytest

import landscape
from landscape.engine.inputs import as_checkpoints


SETTINGS = landscape.Settings(progress=False, device="cpu", self_check=False, log=lambda _: None)
SHARPNESS = landscape.Settings(progress=False, device="cpu", log=lambda _: None)  # self_check is not for sharpness


def _as_labels_did(model, states, labels):
    """The sidecar entries of ``states`` as the former ``labels=`` named them (``as_checkpoints(points, labels)``,
    what the API called with it)."""
    return [c.to_json() for c in as_checkpoints(states, labels, model)]


def _same_values(a, b):
    assert a.keys() == b.keys()
    for m in a.keys():
        np.testing.assert_array_equal(a[m], b[m], err_msg=m)


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_plane_through_a_mapping_names_its_anchors(small_mlp):
    model, states, data = small_mlp
    named = landscape.plane(model, {"SGD": states[0], "SWA": states[1], "PSWA": states[2]}, data, grid=3,
                            settings=SETTINGS)
    plain = landscape.plane(model, states, data, grid=3, settings=SETTINGS)
    assert named.sidecar["anchors"] == _as_labels_did(model, states, ["SGD", "SWA", "PSWA"])
    assert [a["label"] for a in plain.sidecar["anchors"]] == ["p0", "p1", "p2"]  # a sequence: the default names
    _same_values(named, plain)  # a name, not another computation


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_plane_around_a_named_center_and_named_marked_points(small_mlp):
    model, states, data = small_mlp
    named = landscape.plane(model, data=data, center={"SWA": states[0]}, marked={"SGD": states[1]}, grid=3,
                            settings=SETTINGS)
    plain = landscape.plane(model, data=data, center=states[0], marked=[states[1]], grid=3, settings=SETTINGS)
    assert named.sidecar["anchors"] == _as_labels_did(model, states[:1], ["SWA"])
    assert [p["label"] for p in named.projections] == ["SGD"]
    assert [p["label"] for p in plain.projections] == ["point 0"]
    _same_values(named, plain)
    with pytest.raises(ValueError, match=r"one \{label: point\} item, got 2 items"):
        landscape.plane(model, data=data, center={"a": states[0], "b": states[1]}, grid=3, settings=SETTINGS)


def test_interpolate_names_start_and_end_by_one_item_mappings(small_mlp):
    model, states, data = small_mlp
    named = landscape.interpolate(model, {"SGD": states[0]}, {"SWA": states[1]}, data, t=[0, 1], settings=SETTINGS)
    plain = landscape.interpolate(model, states[0], states[1], data, t=[0, 1], settings=SETTINGS)
    assert [named.sidecar["from"], named.sidecar["to"]] == _as_labels_did(model, states[:2], ["SGD", "SWA"])
    assert (plain.sidecar["from"]["label"], plain.sidecar["to"]["label"]) == ("start", "end")
    _same_values(named, plain)


def test_a_wrapped_checkpoint_is_a_point_not_a_label(small_mlp):
    """``{"state_dict": sd}`` and ``{"state_dict": sd, "epoch": 3}`` are checkpoints as saved by training loops
    (unwrapped by the loader), never ``{label: point}``."""
    model, states, data = small_mlp
    plain = landscape.interpolate(model, states[0], states[1], data, t=[0, 1], settings=SETTINGS)
    for wrapped in ({"state_dict": states[0]}, {"state_dict": states[0], "epoch": 3}, {"model": states[0]}):
        res = landscape.interpolate(model, wrapped, states[1], data, t=[0, 1], settings=SETTINGS)
        assert res.sidecar["from"]["label"] == "start"
        _same_values(res, plain)
    with pytest.raises(TypeError, match=r"pass start=\{label: point\}, end=\{label: point\}$"):
        landscape.interpolate(model, states[0], states[1], data, labels=["a", "b"], settings=SETTINGS)


def test_rays_and_sharpness_name_their_points(small_mlp):
    model, states, data = small_mlp
    points = {"SGD": states[0], "SWA": states[1]}
    rays = landscape.rays(model, points, data, rays=landscape.Rays(directions=2, steps=3), settings=SETTINGS)
    assert rays.labels == ["SGD", "SWA"]
    assert rays.sidecar["points"] == _as_labels_did(model, states[:2], ["SGD", "SWA"])
    assert set(rays.sidecar["width"]) == {"SGD", "SWA"}
    sharp = landscape.sharpness(model, points, data, metrics="hessian_trace", trace_matvecs=3, settings=SHARPNESS)
    assert list(sharp) == ["SGD", "SWA"]
    unnamed = landscape.sharpness(model, states[:2], data, metrics="hessian_trace", trace_matvecs=3,
                                  settings=SHARPNESS)
    assert list(unnamed) == ["point 0", "point 1"]
    for label, default in (("SGD", "point 0"), ("SWA", "point 1")):
        assert sharp[label]["metrics"] == unnamed[default]["metrics"]


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_rays_as_a_number_is_the_number_of_directions(small_mlp):
    model, states, data = small_mlp
    assert landscape.Rays.of(3) == landscape.Rays(directions=3) and landscape.Rays.of(None) == landscape.Rays()
    by_number = landscape.rays(model, states[:2], data, rays=3, settings=SETTINGS)
    by_options = landscape.rays(model, states[:2], data, rays=landscape.Rays(directions=3), settings=SETTINGS)
    assert by_number["train_loss"].shape == (2, 3, landscape.Rays().steps)
    _same_values(by_number, by_options)
    np.testing.assert_array_equal(by_number.store.extra["width"], by_options.store.extra["width"])
    assert by_number.sidecar["inputs"] == by_options.sidecar["inputs"]
