"""Plane geometry: anchors, projections, degenerate inputs and grid specs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape.geometry.grid import Axis, GeometryError, Plane, default_plane_axes, parse_axis


def _points(dim=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(dim, generator=g, dtype=torch.float64).float() for _ in range(3)]


def test_anchors_project_to_their_documented_coordinates():
    """Acceptance 2: (0,0), (‖p1−p0‖, 0), (⟨p2−p0, û⟩, ‖v‖)."""
    p0, p1, p2 = _points()
    plane = Plane.through(p0, p1, p2)
    d1, d2 = (p1 - p0).double(), (p2 - p0).double()
    u = d1 / d1.norm()
    v = d2 - torch.dot(d2, u) * u
    expected = [(0.0, 0.0), (float(d1.norm()), 0.0), (float(torch.dot(d2, u)), float(v.norm()))]
    np.testing.assert_allclose(plane.anchors, expected, rtol=1e-6, atol=1e-6)
    for p, (x, y) in zip((p0, p1, p2), expected):
        px, py, dist = plane.project(p)
        assert px == pytest.approx(x, abs=1e-5) and py == pytest.approx(y, abs=1e-5)
        assert dist == pytest.approx(0.0, abs=1e-5)
    # û and v̂ are orthonormal.
    basis = plane.directions.double()
    torch.testing.assert_close(basis @ basis.T, torch.eye(2, dtype=torch.float64), atol=1e-6, rtol=0)


def test_constructed_point_projects_back():
    p0, p1, p2 = _points(seed=1)
    plane = Plane.through(p0, p1, p2)
    for x, y in [(0.3, -1.2), (2.5, 0.7), (-4.0, 3.0)]:
        px, py, dist = plane.project(p0 + x * plane.u + y * plane.v)
        assert (px, py) == pytest.approx((x, y), abs=1e-5)
        assert dist == pytest.approx(0.0, abs=1e-5)
    # A point off the plane: its distance is the norm of the orthogonal part.
    normal = torch.randn(50)
    normal -= torch.dot(normal, plane.u) * plane.u + torch.dot(normal, plane.v) * plane.v
    px, py, dist = plane.project(plane.point(1.0, 2.0) + 3 * normal / normal.norm())
    assert (px, py, dist) == pytest.approx((1.0, 2.0, 3.0), abs=1e-5)


def test_anchor_weights_express_plane_points_as_affine_combinations():
    p0, p1, p2 = _points(seed=2)
    plane = Plane.through(p0, p1, p2)
    alpha, beta = plane.anchor_weights(0.8, -0.4)
    torch.testing.assert_close(plane.point(0.8, -0.4), p0 + alpha * (p1 - p0) + beta * (p2 - p0), atol=1e-5, rtol=0)


def test_collinear_and_coincident_points_are_refused():
    p0, p1, _ = _points(seed=3)
    with pytest.raises(GeometryError, match="collinear"):
        Plane.through(p0, p1, p0 + 2.5 * (p1 - p0))
    with pytest.raises(GeometryError, match="coincide"):
        Plane.through(p0, p0.clone(), p1)


@pytest.mark.parametrize("text,message", [("1:2", "not MIN:MAX:N"), ("a:b:3", "not MIN:MAX:N"),
                                          ("2:1:5", "min must be below max"), ("1:1:5", "min must be below max"),
                                          ("0:1:1", "needs at least 2 points"), ("0:1e999:5", "finite"),
                                          ("nan:1:5", "finite"), ("-inf:1:5", "finite")])
def test_malformed_axes(text, message):
    with pytest.raises(GeometryError, match=message):
        parse_axis(text, "--x")


def test_axis_values_and_default_box():
    assert parse_axis("-0.5:1.5:5", "--t") == Axis(-0.5, 1.5, 5)
    np.testing.assert_allclose(Axis(-1, 1, 5).values(), [-1, -0.5, 0, 0.5, 1])
    ax, ay = default_plane_axes([(0, 0), (10, 0), (4, 5), (12, -1)], grid=7, margin=0.25)
    assert (ax.lo, ax.hi, ax.n) == (-3.0, 15.0, 7)
    assert (ay.lo, ay.hi, ay.n) == pytest.approx((-2.5, 6.5, 7))
